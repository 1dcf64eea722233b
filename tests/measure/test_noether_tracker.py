"""NoetherTracker against brute force: charges, predictions, angles; refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from symmetry_nets import cnn, mlp

from lmech.errors import LmechError
from lmech.measure import NoetherTracker, Symmetry, noether_charge
from lmech.tools import detect


def _train(net, opt, symmetries, generator, steps=12, cadence=1, shape=(16, 1, 8, 8),
           brute=False):
    """Train on random data; optionally record charges and θ copies by hand each step."""
    xs = torch.randn(steps, *shape, generator=generator, dtype=torch.float64)
    ys = torch.randint(0, 4, (steps, shape[0]), generator=generator)
    by_hand = {"charge": [], "theta": []}
    with NoetherTracker(net, opt, symmetries, cadence=cadence) as tracker:
        for k in range(steps):
            if brute:
                by_hand["charge"].append([noether_charge(net, s) for s in symmetries])
                by_hand["theta"].append([p.detach().clone() for p in net.parameters()])
            opt.zero_grad()
            F.cross_entropy(net(xs[k]), ys[k]).backward()
            opt.step()
    if brute:
        by_hand["charge"].append([noether_charge(net, s) for s in symmetries])
        by_hand["theta"].append([p.detach().clone() for p in net.parameters()])
    return tracker, by_hand


@pytest.mark.parametrize("opt_kw", [
    dict(lr=0.1), dict(lr=0.1, weight_decay=0.01),
    dict(lr=0.05, momentum=0.9, weight_decay=0.01, dampening=0.2)])
def test_predictions_are_exact_on_a_cnn(opt_kw, generator) -> None:
    """Oracle: charges by hand each step; every prediction matches to float64 rounding,
    and the source-free answer (the foil of the laws) does not."""
    net = cnn()
    syms = detect(net, torch.zeros(2, 1, 8, 8, dtype=torch.float64), loss="cross_entropy")
    tracker, by_hand = _train(net, torch.optim.SGD(net.parameters(), **opt_kw), list(syms),
                              generator, brute=True)
    rec = tracker.records()
    hand = np.array(by_hand["charge"])  # (steps + 1, n_sym)
    for s, sym in enumerate(syms):
        rows = rec[rec.symmetry == sym.label]
        np.testing.assert_allclose(rows.charge, hand[:, s], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(rows.prediction, rows.charge, rtol=1e-10, atol=1e-12)
        assert np.all(np.abs(rows.gradient_residual.dropna()) < 1e-12)
        if sym.kind != "translation":
            gap = np.abs(rows.source_free - rows.charge).max()
            assert gap > 1e-4 * np.abs(rows.charge).max(), sym


def test_angles_match_brute_force(generator) -> None:
    net = cnn()
    syms = detect(net, torch.zeros(2, 1, 8, 8, dtype=torch.float64)).of_kind("scale")
    opt = torch.optim.SGD(net.parameters(), lr=0.2, momentum=0.5, weight_decay=0.05)
    tracker, by_hand = _train(net, opt, syms, generator, brute=True)
    rec = tracker.records()
    names = [n for n, _ in net.named_parameters()]
    for sym in syms:
        idx = [names.index(p) for p in sym.params]
        angles = []
        for a, b in zip(by_hand["theta"][:-1], by_hand["theta"][1:], strict=True):
            va = torch.cat([a[i].reshape(-1) for i in idx])
            vb = torch.cat([b[i].reshape(-1) for i in idx])
            angles.append(float(torch.arccos(va @ vb / va.norm() / vb.norm())))
        got = rec[rec.symmetry == sym.label].angular_update.to_numpy()
        np.testing.assert_allclose(got[:-1], angles, rtol=1e-7)
        assert np.isnan(got[-1])


def test_cadence_keeps_the_predictions(generator) -> None:
    """Cadence 4 records every 4th step with the same numbers as cadence 1."""
    tables = []
    for cadence in (1, 4):
        net = mlp()
        gen = torch.Generator().manual_seed(3)  # identical initialisation in both runs
        with torch.no_grad():
            for p in net.parameters():
                p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.3)
        syms = detect(net, torch.zeros(2, 6, dtype=torch.float64), loss="cross_entropy")
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.8, weight_decay=0.02)
        tracker, _ = _train(net, opt, list(syms), torch.Generator().manual_seed(5), steps=12,
                            cadence=cadence, shape=(16, 6))
        tables.append(tracker.records())
    dense, sparse = tables
    assert sorted(set(sparse.step)) == [0, 4, 8, 12]
    merged = sparse.merge(dense, on=["symmetry", "step"], suffixes=("", "_dense"))
    for col in ("charge", "prediction", "source_free", "gradient_residual"):
        np.testing.assert_allclose(merged[col], merged[col + "_dense"], rtol=1e-12,
                                   atol=1e-15, equal_nan=True)


def test_hooks_are_removed_on_exit(generator) -> None:
    net = mlp()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    syms = detect(net, torch.zeros(2, 6, dtype=torch.float64))
    with NoetherTracker(net, opt, syms):
        assert len(opt._optimizer_step_pre_hooks) == 1
    assert len(opt._optimizer_step_pre_hooks) == 0
    assert len(opt._optimizer_step_post_hooks) == 0


def test_refusals() -> None:
    net = mlp()
    syms = detect(net, torch.zeros(2, 6, dtype=torch.float64))
    with pytest.raises(LmechError, match="torch.optim.SGD.*got Adam"):
        with NoetherTracker(net, torch.optim.Adam(net.parameters()), syms):
            pass
    nesterov = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    with pytest.raises(LmechError, match="nesterov=True"):
        with NoetherTracker(net, nesterov, syms):
            pass
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    with pytest.raises(LmechError, match="parameter '7.weight' is not in the model"):
        with NoetherTracker(net, opt, [Symmetry("scale", ("7.weight",))]):
            pass
    partial = torch.optim.SGD(net[0].parameters(), lr=0.1)
    with pytest.raises(LmechError, match="'2.weight' is not optimised"):
        with NoetherTracker(net, partial, syms):
            pass
    with pytest.raises(LmechError, match="cadence"):
        with NoetherTracker(net, opt, syms, cadence=0):
            pass
    with pytest.raises(LmechError, match="recorded nothing"):
        NoetherTracker(net, opt, syms).records()
