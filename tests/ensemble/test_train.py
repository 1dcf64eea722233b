"""The step loop: member alone equals member in ensemble (fixed data and fresh batches),
custom forward and loss against a hand-written loop, divergence freezing, observables and
trackers on a schedule, losses against torch's, bad input named."""

from __future__ import annotations

import pytest
import torch

from lmech.ensemble import SGD, Adam, Ensemble, MemberStreams, init_ensemble, train
from lmech.ensemble.train import cross_entropy, mse
from lmech.errors import LmechError
from lmech.models import MLPConfig

CONFIG = MLPConfig(4, 8, 2, 2, activation="tanh")


def _data(generator, n=24):
    x = torch.randn(n, 4, generator=generator, dtype=torch.float64)
    return x, torch.sin(x[:, :2] * 2)


@pytest.mark.parametrize("batch_size", [None, 5])
def test_member_alone_equals_member_in_ensemble(batch_size, generator) -> None:
    """Member i's initialisation and data order depend only on (seed, i)."""
    x, y = _data(generator)
    opt = Adam(lr=0.02)
    big = init_ensemble(CONFIG, members=7, seed=11, dtype=torch.float64)
    t_big = train(big, x, y, optimizer=opt, steps=30, seed=5, batch_size=batch_size, every=3)
    for i in (0, 4, 6):
        alone = init_ensemble(CONFIG, member_ids=[i], seed=11, dtype=torch.float64)
        pair = init_ensemble(CONFIG, member_ids=[i, 2], seed=11, dtype=torch.float64)
        t_alone = train(alone, x, y, optimizer=opt, steps=30, seed=5, batch_size=batch_size,
                        every=3)
        t_pair = train(pair, x, y, optimizer=opt, steps=30, seed=5, batch_size=batch_size,
                       every=3)
        torch.testing.assert_close(t_alone.loss[0], t_big.loss[i], rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(t_pair.loss[0], t_big.loss[i], rtol=1e-9, atol=1e-12)
        for k, v in big.params.items():
            torch.testing.assert_close(alone.params[k][0], v[i], rtol=1e-9, atol=1e-12)


def _dropout_problem():
    """Fresh inputs, dropout masks and label noise every step, drawn per member; a forward
    that reads the mask; a custom (weighted) loss."""
    keep = 0.8

    def batch(step: int, streams: MemberStreams):
        x = streams.randn("batch", 6, 4, dtype=torch.float64)  # (M, 6, 4)
        mask = (streams.rand("dropout", 6, 8, dtype=torch.float64) < keep) / keep
        y = torch.sin(2 * x[..., :2]) + 0.1 * streams.randn("noise", 6, 2,
                                                             dtype=torch.float64)
        return x, y, mask

    def forward(p, b):
        x, _, mask = b
        h = torch.tanh(x @ p["layers.0.weight"].transpose(1, 2) + p["layers.0.bias"][:, None])
        h = torch.tanh(h @ p["layers.1.weight"].transpose(1, 2) + p["layers.1.bias"][:, None])
        return (h * mask) @ p["layers.2.weight"].transpose(1, 2) + p["layers.2.bias"][:, None]

    def loss(out, b):
        w = torch.tensor([1.0, 3.0], dtype=out.dtype)
        return ((out - b[1]).square() * w).mean((1, 2))

    return batch, forward, loss


def test_fresh_batches_member_alone_equals_member_in_ensemble() -> None:
    batch, forward, loss = _dropout_problem()
    kw = dict(optimizer=SGD(lr=0.05, momentum=0.9), steps=25, seed=3, batch=batch,
              forward=forward, loss=loss, every=5)
    big = init_ensemble(CONFIG, members=5, seed=2, dtype=torch.float64)
    t_big = train(big, **kw)
    for ids in ([3], [3, 0]):
        small = init_ensemble(CONFIG, member_ids=ids, seed=2, dtype=torch.float64)
        t_small = train(small, **kw)
        torch.testing.assert_close(t_small.loss[0], t_big.loss[3], rtol=1e-12, atol=1e-14)
        for k, v in big.params.items():
            torch.testing.assert_close(small.params[k][0], v[3], rtol=1e-12, atol=1e-14)
    assert t_big.loss[:, -1].mean() < t_big.loss[:, 0].mean()  # it learned


def test_custom_forward_and_loss_follow_a_hand_written_loop() -> None:
    """The engine's step = forward, loss, autograd, optimiser update: written out by hand."""
    batch, forward, loss = _dropout_problem()
    ens = init_ensemble(CONFIG, members=3, seed=0, dtype=torch.float64)
    p = {k: v.clone() for k, v in ens.params.items()}
    streams = MemberStreams(7, ens.member_ids)
    for step in range(6):
        b = batch(step, streams)
        q = {k: v.requires_grad_() for k, v in p.items()}
        grads = torch.autograd.grad(loss(forward(q, b), b).sum(), list(q.values()))
        with torch.no_grad():
            p = {k: v - 0.1 * g for (k, v), g in zip(q.items(), grads, strict=True)}
    traj = train(ens, optimizer=SGD(lr=0.1), steps=6, seed=7, batch=batch, forward=forward,
                 loss=loss, every=6)
    for k, v in p.items():
        torch.testing.assert_close(ens.params[k], v, rtol=1e-13, atol=1e-15)
    assert traj.steps.tolist() == [0, 6]


def _denoiser(member_ids):
    """A DDPM-style ε-prediction problem on stacked custom parameters (no MLP template)."""
    gens = [torch.Generator().manual_seed(100 + i) for i in member_ids]
    params = {"w": torch.stack([torch.randn(3, 2, generator=g, dtype=torch.float64) * 0.5
                                for g in gens]),  # (M, 2 + time, 2)
              "b": torch.zeros(len(member_ids), 1, 2, dtype=torch.float64)}
    alpha_bar = torch.linspace(0.99, 0.1, 10, dtype=torch.float64)

    def batch(step, streams):
        x0 = torch.tensor([1.0, -1.0], dtype=torch.float64).expand(len(member_ids), 8, 2)
        t = streams.randint("batch", 10, 8)  # (M, B) diffusion times
        eps = streams.randn("noise", 8, 2, dtype=torch.float64)
        ab = alpha_bar[t][..., None]
        return ab.sqrt() * x0 + (1 - ab).sqrt() * eps, eps, t

    def forward(p, b):
        x_t, _, t = b
        inputs = torch.cat([x_t, t[..., None].double() / 10], -1)  # (M, B, 3)
        return torch.baddbmm(p["b"], inputs, p["w"])

    def loss(out, b):
        return (out - b[1]).square().mean((1, 2))

    return Ensemble(torch.nn.Identity(), params, member_ids), batch, forward, loss


def test_a_forward_with_a_time_input_on_custom_parameters() -> None:
    """Noise and diffusion times drawn per member: member 2 alone trains as in the ensemble."""
    big, batch, forward, loss = _denoiser([0, 1, 2])
    t_big = train(big, optimizer=Adam(lr=0.05), steps=30, seed=4, batch=batch,
                  forward=forward, loss=loss, every=10)
    alone, batch, forward, loss = _denoiser([2])
    t_alone = train(alone, optimizer=Adam(lr=0.05), steps=30, seed=4, batch=batch,
                    forward=forward, loss=loss, every=10)
    torch.testing.assert_close(t_alone.loss[0], t_big.loss[2], rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(alone.params["w"][0], big.params["w"][2], rtol=1e-12,
                               atol=1e-14)
    assert t_big.norms["w"].shape == (3, 4)


def test_divergent_member_is_frozen_and_the_rest_are_unaffected(generator) -> None:
    x, y = _data(generator)
    lr = torch.full((5,), 0.05, dtype=torch.float64)
    lr[2] = 1e6
    ens = init_ensemble(CONFIG, members=5, seed=0, dtype=torch.float64)
    traj = train(ens, x, y, optimizer=SGD(lr=lr), steps=40, every=1)
    assert traj.diverged_at[2] >= 0
    assert torch.all(traj.diverged_at[[0, 1, 3, 4]] == -1)
    assert all(torch.isfinite(p).all() for p in ens.params.values())
    # The frozen member's parameters stop changing after it diverged.
    d = int(traj.diverged_at[2])
    assert torch.all(traj.norms["layers.0.weight"][2, d + 1:] ==
                     traj.norms["layers.0.weight"][2, -1])
    ref = init_ensemble(CONFIG, member_ids=[0, 1, 3, 4], seed=0, dtype=torch.float64)
    t_ref = train(ref, x, y, optimizer=SGD(lr=0.05), steps=40, every=1)
    torch.testing.assert_close(t_ref.loss, traj.loss[[0, 1, 3, 4]], rtol=1e-10, atol=0)


def test_divergence_with_fresh_batches_and_adam() -> None:
    """A member whose loss overflows is frozen at its last finite parameters."""
    batch, forward, loss = _dropout_problem()

    def exploding(out, b):  # member 1's loss overflows from step 4 on
        scale = torch.ones(out.shape[0], dtype=out.dtype)
        scale[1] = 1e300 if exploding.calls >= 4 else 1.0
        exploding.calls += 1
        return loss(out, b) * scale * 1e10
    exploding.calls = 0
    ens = init_ensemble(CONFIG, members=3, seed=0, dtype=torch.float64)
    traj = train(ens, optimizer=Adam(lr=0.01), steps=8, batch=batch, forward=forward,
                 loss=exploding)
    assert traj.diverged_at.tolist() == [-1, 4, -1]
    frozen = traj.norms["layers.0.weight"][1]
    assert torch.all(frozen[4:] == frozen[4]) and frozen[3] != frozen[4]


def test_observables_and_trackers_on_a_schedule(generator) -> None:
    x, y = _data(generator)
    ens = init_ensemble(CONFIG, members=3, seed=0)
    seen = []

    class Steps:
        def observe(self, s):
            seen.append((s.step, s.final, s.grads is None))

        def records(self):
            return len(seen)

    traj = train(ens, x.float(), y.float(), optimizer=SGD(lr=0.1), steps=10, every=4,
                 observables={"out0": lambda p, batch: ens.forward(batch[0], p)[:, 0, :]},
                 trackers={"steps": Steps()})
    assert traj.steps.tolist() == [0, 4, 8, 10]
    assert traj.loss.shape == (3, 4)
    assert traj.norms["layers.1.weight"].shape == (3, 4)
    assert traj.observables["out0"].shape == (3, 4, 2)
    torch.testing.assert_close(traj.observables["out0"][:, -1], ens(x.float())[:, 0])
    torch.testing.assert_close(traj.loss[:, -1].float(), mse(ens(x.float()), y.float()))
    torch.testing.assert_close(traj.norms["layers.1.weight"][:, -1].float(),
                               ens.params["layers.1.weight"].flatten(1).norm(dim=-1))
    assert traj.tracked["steps"] == 11
    assert seen[0] == (0, False, False) and seen[-1] == (10, True, True)


def test_recording_at_listed_steps(generator) -> None:
    """`every` may list the steps to record (e.g. log-spaced); the last is always kept."""
    x, y = _data(generator)
    ens = init_ensemble(CONFIG, members=2, seed=0, dtype=torch.float64)
    every = init_ensemble(CONFIG, members=2, seed=0, dtype=torch.float64)
    listed = train(ens, x, y, optimizer=SGD(lr=0.1), steps=10, every=[0, 3, 7])
    full = train(every, x, y, optimizer=SGD(lr=0.1), steps=10, every=1)
    assert listed.steps.tolist() == [0, 3, 7, 10]
    torch.testing.assert_close(listed.loss, full.loss[:, [0, 3, 7, 10]], rtol=0, atol=0)


def test_minibatch_loss_is_recorded_on_the_whole_set(generator) -> None:
    x, y = _data(generator)
    ens = init_ensemble(CONFIG, members=2, seed=0, dtype=torch.float64)
    traj = train(ens, x, y, optimizer=SGD(lr=0.1), steps=7, batch_size=4, every=7)
    torch.testing.assert_close(traj.loss[:, -1], mse(ens(x), y.expand(2, *y.shape)))


def test_losses_match_torch(generator) -> None:
    pred = torch.randn(3, 6, 4, generator=generator)
    target = torch.randn(3, 6, 4, generator=generator)
    labels = torch.randint(0, 4, (3, 6), generator=generator)
    for i in range(3):
        torch.testing.assert_close(mse(pred, target)[i],
                                   torch.nn.functional.mse_loss(pred[i], target[i]))
        torch.testing.assert_close(cross_entropy(pred, labels)[i],
                                   torch.nn.functional.cross_entropy(pred[i], labels[i]))


def _fresh(step, streams):
    return streams.randn("batch", 3, 4), streams.randn("batch", 3, 2)


@pytest.mark.parametrize("kw,name", [
    (dict(loss="hinge"), "loss"),
    (dict(loss=3), "loss"),
    (dict(loss=lambda out, b: out.sum()), "one value per member"),
    (dict(optimizer="sgd"), "optimizer"),
    (dict(batch_size=100), "batch_size"),
    (dict(steps=-1), "steps"),
    (dict(every=0), "every"),
    (dict(every=[2.5]), "every"),
    (dict(targets=torch.zeros(5, 2)), "targets"),
    (dict(inputs=torch.zeros(24, 3)), "inputs"),
    (dict(batch=_fresh), "not both"),
    (dict(inputs=None, targets=None), "inputs and targets"),
    (dict(inputs=None, targets=None, batch=3), "batch"),
    (dict(trackers={"t": object()}), "trackers"),
    (dict(engine="jit"), "engine"),
    (dict(seed=-1), "seed"),
])
def test_bad_input_names_the_argument(kw, name, generator) -> None:
    x, y = _data(generator)
    args = dict(inputs=x.float(), targets=y.float(), optimizer=SGD(lr=0.1), steps=2)
    args.update(kw)
    ens = init_ensemble(CONFIG, members=2, seed=0)
    with pytest.raises(LmechError, match=name):
        train(ens, args.pop("inputs"), args.pop("targets"), **args)


def test_small_steps_run_on_one_thread_and_the_setting_is_restored() -> None:
    """threads="auto": a tiny step runs single-threaded (a second thread only stalls beside
    a busy process); the caller's thread count is back afterwards, also after an error."""
    from lmech.ensemble import SGD, init_ensemble
    from lmech.errors import LmechError
    from lmech.models import MLPConfig

    seen = []
    ens = init_ensemble(MLPConfig(n_in=2, width=4, depth=1), members=2, seed=0)
    x = torch.zeros(8, 2)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        auto = train(ens, x, x[:, :1], optimizer=SGD(lr=0.1), steps=2,
                     observables={"threads": lambda p, d: torch.full(
                         (2,), float(torch.get_num_threads()))})
        assert torch.all(auto.observables["threads"][:, 1:] == 1)
        traj = train(ens, x, x[:, :1], optimizer=SGD(lr=0.1), steps=2, threads=2,
                     observables={"threads": lambda p, d: torch.full(
                         (2,), float(torch.get_num_threads()))})
        seen = traj.observables["threads"]
        assert torch.get_num_threads() == 2
        with pytest.raises(LmechError, match="threads must be"):
            train(ens, x, x[:, :1], optimizer=SGD(lr=0.1), steps=2, threads=0)
    finally:
        torch.set_num_threads(before)
    assert torch.all(seen[:, 1:] == 2)
