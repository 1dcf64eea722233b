"""The fused kernels against autograd: same losses, norms, parameters, divergence, tracker
records — for MSE and cross-entropy, full batch and minibatches, SGD and Adam."""

from __future__ import annotations

import importlib

import pytest
import torch

from lmech.ensemble import SGD, Adam, Ensemble, init_ensemble, train
from lmech.ensemble.fused import FusedGradient, fused_unsupported
from lmech.errors import LmechError
from lmech.measure import StepGeometry
from lmech.models import MLPConfig

M = 5


def _data(generator, per_member, n_in=3, n_out=2, n=13, dtype=torch.float64):
    lead = (M, n) if per_member else (n,)
    x = torch.randn(*lead, n_in, generator=generator, dtype=dtype)
    return x, torch.sin(2 * x[..., :n_out]) + 0.1 * torch.randn(*lead, n_out,
                                                                 generator=generator,
                                                                 dtype=dtype)


def _labels(generator, per_member, n_in=3, classes=4, n=13):
    lead = (M, n) if per_member else (n,)
    x = torch.randn(*lead, n_in, generator=generator, dtype=torch.float64)
    return x, (x[..., 0] > 0).long() + 2 * (x[..., 1] > 0).long()  # 4 classes


OPTIMIZERS = {
    "sgd": lambda: SGD(lr=0.05),
    "momentum": lambda: SGD(lr=torch.linspace(0.01, 0.08, M), momentum=0.9,
                            weight_decay=0.01),
    "nesterov": lambda: SGD(lr=0.03, momentum=0.8, nesterov=True,
                            weight_decay=torch.linspace(0.0, 0.1, M)),
    "adam": lambda: Adam(lr=torch.linspace(0.005, 0.02, M), weight_decay=0.01),
}


def _both(config, x, y, opt, steps=25, every=4, dtype=torch.float64, **kw):
    out = []
    for engine in ("autograd", "fused"):
        ens = init_ensemble(config, members=M, seed=3, C_b=0.1, dtype=dtype)
        out.append((train(ens, x, y, optimizer=opt, steps=steps, every=every, engine=engine,
                          **kw), ens))
    return out


def _assert_same(a, b, rtol, atol) -> None:
    (ta, ea), (tb, eb) = a, b
    assert ta.steps.tolist() == tb.steps.tolist()
    torch.testing.assert_close(ta.loss, tb.loss, rtol=rtol, atol=atol)
    torch.testing.assert_close(ta.diverged_at, tb.diverged_at)
    for k in ea.params:
        torch.testing.assert_close(ta.norms[k], tb.norms[k], rtol=rtol, atol=atol)
        torch.testing.assert_close(ea.params[k], eb.params[k], rtol=rtol, atol=atol)


@pytest.mark.parametrize("activation", ["tanh", "relu", "linear"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("per_member", [False, True])
def test_fused_equals_autograd(activation, bias, per_member, generator) -> None:
    """float64: the two code paths agree to rounding at every recorded step."""
    x, y = _data(generator, per_member)
    config = MLPConfig(3, 7, 2, 2, activation=activation, bias=bias)
    a, b = _both(config, x, y, OPTIMIZERS["momentum"]())
    assert a[0].loss[:, -1].max() < a[0].loss[:, 0].max()  # it trained, and did not blow up
    _assert_same(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
@pytest.mark.parametrize("batch_size", [None, 4])
def test_fused_equals_autograd_for_each_optimizer(opt, batch_size, generator) -> None:
    x, y = _data(generator, True)
    a, b = _both(MLPConfig(3, 7, 2, 2), x, y, OPTIMIZERS[opt](), batch_size=batch_size)
    assert a[0].loss[:, -1].max() < a[0].loss[:, 0].max()
    _assert_same(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("per_member", [False, True])
@pytest.mark.parametrize("batch_size", [None, 5])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_cross_entropy_fused_equals_autograd(per_member, batch_size, activation,
                                             generator) -> None:
    x, y = _labels(generator, per_member)
    config = MLPConfig(3, 8, 2, 4, activation=activation)
    a, b = _both(config, x, y, OPTIMIZERS["adam"](), steps=30, loss="cross_entropy",
                 batch_size=batch_size)
    assert torch.all(a[0].loss[:, -1] < a[0].loss[:, 0])  # every member learned
    _assert_same(a, b, rtol=1e-10, atol=1e-12)


def test_fresh_batches_run_fused_as_in_autograd(generator) -> None:
    """(inputs, targets) drawn every step from the member streams: fused when they fit."""
    def batch(step, streams):
        x = streams.randn("batch", 9, 3, dtype=torch.float64)
        return x, torch.sin(2 * x[..., :2])

    a, b = _both(MLPConfig(3, 7, 2, 2), None, None, SGD(lr=0.1, momentum=0.5), batch=batch)
    _assert_same(a, b, rtol=1e-10, atol=1e-12)


def test_tracker_records_agree_between_engines(generator) -> None:
    x, y = _data(generator, False)
    records = []
    for engine in ("autograd", "fused"):
        ens = init_ensemble(MLPConfig(3, 7, 2, 2), members=M, seed=0, dtype=torch.float64)
        geometry = StepGeometry(every=3, windows={"late": (10, 20)})
        train(ens, x, y, optimizer=SGD(lr=0.1, momentum=0.9, weight_decay=0.01), steps=20,
              engine=engine, trackers={"geometry": geometry})
        records.append(geometry.records())
    a, b = records
    for name in ("theta_sq", "dot", "grad_sq", "buffer_sq", "grad_dot"):
        torch.testing.assert_close(a[name], b[name], rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(a["windows"]["late"][name], b["windows"]["late"][name],
                                   rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_fused_equals_autograd_in_float32(activation, generator) -> None:
    """float32 (tanh as 2·sigmoid(2z) − 1 is within 2⁻²² of torch.tanh)."""
    x, y = _data(generator, False, dtype=torch.float32)
    config = MLPConfig(3, 16, 3, 2, activation=activation)
    a, b = _both(config, x, y, SGD(lr=0.05, momentum=0.5), steps=40, dtype=torch.float32)
    _assert_same(a, b, rtol=1e-4, atol=1e-6)


def test_single_layer_and_uneven_widths(generator) -> None:
    x, y = _data(generator, True)
    for config in (MLPConfig(3, 5, 0, 2), MLPConfig(3, (6, 4, 9), 3, 2)):
        a, b = _both(config, x, y, SGD(lr=0.1))
        _assert_same(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_chunks_do_not_change_the_result(loss, generator) -> None:
    """Members are processed in chunks; the chunk size is invisible."""
    x, y = _data(generator, False) if loss == "mse" else _labels(generator, False)
    ens = init_ensemble(MLPConfig(3, 7, 2, 2 if loss == "mse" else 4), members=M, seed=0,
                        dtype=torch.float64)
    results = []
    for chunk in (1, 2, M):
        value, grads = FusedGradient(ens, loss, chunk=chunk)(ens.params, (x, y))
        results.append((value.clone(), {k: g.clone() for k, g in grads.items()}))
    for value, grads in results[1:]:
        torch.testing.assert_close(value, results[0][0], rtol=1e-12, atol=1e-14)
        for k, g in grads.items():
            torch.testing.assert_close(g, results[0][1][k], rtol=1e-12, atol=1e-14)


def test_member_alone_equals_member_in_ensemble(generator) -> None:
    x, y = _data(generator, False)
    config = MLPConfig(3, 7, 2, 2)
    big = init_ensemble(config, members=7, seed=11, dtype=torch.float64)
    t_big = train(big, x, y, optimizer=Adam(lr=0.05), steps=20, batch_size=4, engine="fused")
    for i in (0, 6):
        alone = init_ensemble(config, member_ids=[i], seed=11, dtype=torch.float64)
        t_alone = train(alone, x, y, optimizer=Adam(lr=0.05), steps=20, batch_size=4,
                        engine="fused")
        torch.testing.assert_close(t_alone.loss[0], t_big.loss[i], rtol=1e-9, atol=1e-12)
        for k, v in big.params.items():
            torch.testing.assert_close(alone.params[k][0], v[i], rtol=1e-9, atol=1e-12)


def test_divergent_member_is_frozen_as_in_autograd(generator) -> None:
    x, y = _data(generator, False)
    lr = torch.full((M,), 0.05, dtype=torch.float64)
    lr[2] = 1e6
    a, b = _both(MLPConfig(3, 7, 2, 2), x, y, SGD(lr=lr, momentum=0.5), steps=30, every=1)
    assert b[0].diverged_at[2] >= 0
    assert torch.all(b[0].diverged_at[[0, 1, 3, 4]] == -1)
    assert all(torch.isfinite(p).all() for p in b[1].params.values())
    keep = [0, 1, 3, 4]
    torch.testing.assert_close(a[0].diverged_at, b[0].diverged_at)
    torch.testing.assert_close(a[0].loss[keep], b[0].loss[keep], rtol=1e-10, atol=1e-12)
    for k in a[1].params:
        torch.testing.assert_close(a[1].params[k], b[1].params[k], rtol=1e-10, atol=1e-12)


def test_observables_see_each_steps_parameters(generator) -> None:
    """An observable may return a parameter tensor itself: it must not change later."""
    x, y = _data(generator, False)
    obs = {"w0": lambda p, batch: p["layers.0.weight"],
           "out": lambda p, batch: torch.einsum("mij,bj->mbi", p["layers.0.weight"],
                                                batch[0])}
    a, b = _both(MLPConfig(3, 7, 2, 2), x, y, SGD(lr=0.1), steps=9, every=2,
                 observables=obs)
    assert b[0].steps.tolist() == [0, 2, 4, 6, 8, 9]
    for k in obs:
        torch.testing.assert_close(a[0].observables[k], b[0].observables[k], rtol=1e-10,
                                   atol=1e-12)
    assert not torch.equal(b[0].observables["w0"][:, 0], b[0].observables["w0"][:, -1])


def test_auto_takes_the_fused_path_when_it_applies(generator, monkeypatch) -> None:
    calls = []
    real = FusedGradient

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(importlib.import_module("lmech.ensemble.train"), "FusedGradient", spy)
    x, y = _data(generator, False)
    ens = init_ensemble(MLPConfig(3, 7, 2, 2), members=M, seed=0, dtype=torch.float64)
    train(ens, x, y, optimizer=SGD(lr=0.1), steps=2)
    assert len(calls) == 1
    train(ens, x, y, optimizer=Adam(lr=0.1), steps=2, batch_size=4)
    assert len(calls) == 3  # the minibatches', and the whole-set loss's (its own buffers)
    train(ens, x, y, optimizer=SGD(lr=0.1), steps=2, loss=lambda out, b: mse_of(out, b))
    train(ens, x, y, optimizer=SGD(lr=0.1), steps=2, engine="autograd")
    train(ens, x, y, optimizer=SGD(lr=0.1), steps=2,
          forward=lambda p, b: ens.forward(b[0], p))
    assert len(calls) == 3


def mse_of(out, b):
    return (out - b[1]).square().mean((1, 2))


@pytest.mark.parametrize("kw,reason", [
    (dict(loss=mse_of), "loss"),
    (dict(forward=lambda p, b: b[0]), "forward"),
    (dict(loss="cross_entropy"), "int64 class ids"),
    (dict(config=MLPConfig(3, 7, 2, 2, activation="sin")), "activation"),
    (dict(dtype=torch.float32), "inputs are not torch.float32"),
    (dict(inputs=torch.zeros(13, 4, dtype=torch.float64)), "inputs"),
])
def test_fused_names_what_it_cannot_run(kw, reason, generator) -> None:
    x, y = _data(generator, False)
    config = kw.pop("config", MLPConfig(3, 7, 2, 2))
    ens = init_ensemble(config, members=M, seed=0, dtype=kw.pop("dtype", torch.float64))
    args = dict(inputs=x, targets=y, optimizer=SGD(lr=0.1), steps=2)
    args.update(kw)
    with pytest.raises(LmechError, match=reason):
        train(ens, args.pop("inputs"), args.pop("targets"), engine="fused", **args)
    ens64 = init_ensemble(MLPConfig(3, 7, 2, 2), members=M, seed=0, dtype=torch.float64)
    assert fused_unsupported(ens64, (x, y), "mse") is None
    assert "loss" in fused_unsupported(ens64, (x, y), "huber")


def test_non_contiguous_parameters(generator) -> None:
    """Parameters stored transposed (as a law might build them) train the same."""
    x, y = _data(generator, False)
    ens = init_ensemble(MLPConfig(3, 7, 2, 2), members=M, seed=0, dtype=torch.float64)
    strided = {k: v.transpose(1, 2).contiguous().transpose(1, 2) if v.dim() == 3 else v
               for k, v in ens.params.items()}
    assert not strided["layers.1.weight"].is_contiguous()
    other = Ensemble(ens.template, strided)
    a = train(ens, x, y, optimizer=SGD(lr=0.1), steps=6, engine="autograd")
    b = train(other, x, y, optimizer=SGD(lr=0.1), steps=6, engine="fused")
    torch.testing.assert_close(a.loss, b.loss, rtol=1e-10, atol=1e-12)
