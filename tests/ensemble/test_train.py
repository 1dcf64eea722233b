"""Training: member alone equals member in ensemble, divergence freezing, observables,
losses against torch's."""

from __future__ import annotations

import pytest
import torch

from lmech.ensemble import SGD, Adam, init_ensemble, train
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


def test_observables_on_a_schedule(generator) -> None:
    x, y = _data(generator)
    ens = init_ensemble(CONFIG, members=3, seed=0)
    traj = train(ens, x.float(), y.float(), optimizer=SGD(lr=0.1), steps=10, every=4,
                 observables={"out0": lambda p, batch: ens.forward(batch[0], p)[:, 0, :]})
    assert traj.steps.tolist() == [0, 4, 8, 10]
    assert traj.loss.shape == (3, 4)
    assert traj.norms["layers.1.weight"].shape == (3, 4)
    assert traj.observables["out0"].shape == (3, 4, 2)
    torch.testing.assert_close(traj.observables["out0"][:, -1], ens(x.float())[:, 0])
    torch.testing.assert_close(traj.loss[:, -1].float(), mse(ens(x.float()), y.float()))
    torch.testing.assert_close(traj.norms["layers.1.weight"][:, -1].float(),
                               ens.params["layers.1.weight"].flatten(1).norm(dim=-1))


def test_losses_match_torch(generator) -> None:
    pred = torch.randn(3, 6, 4, generator=generator)
    target = torch.randn(3, 6, 4, generator=generator)
    labels = torch.randint(0, 4, (3, 6), generator=generator)
    for i in range(3):
        torch.testing.assert_close(mse(pred, target)[i],
                                   torch.nn.functional.mse_loss(pred[i], target[i]))
        torch.testing.assert_close(cross_entropy(pred, labels)[i],
                                   torch.nn.functional.cross_entropy(pred[i], labels[i]))


@pytest.mark.parametrize("kw,name", [
    (dict(loss="hinge"), "loss"),
    (dict(optimizer="sgd"), "optimizer"),
    (dict(batch_size=100), "batch_size"),
    (dict(steps=-1), "steps"),
    (dict(every=0), "every"),
    (dict(targets=torch.zeros(5, 2)), "targets"),
    (dict(inputs=torch.zeros(24, 3)), "inputs"),
])
def test_bad_input_names_the_argument(kw, name, generator) -> None:
    x, y = _data(generator)
    args = dict(inputs=x.float(), targets=y.float(), optimizer=SGD(lr=0.1), steps=2)
    args.update(kw)
    ens = init_ensemble(CONFIG, members=2, seed=0)
    with pytest.raises(LmechError, match=name):
        train(ens, args.pop("inputs"), args.pop("targets"), **args)
