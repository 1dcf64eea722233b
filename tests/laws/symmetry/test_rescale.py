"""symmetry.rescale: a wrong source refuted, the measured charge against torch.optim.SGD."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _oracle import torch_sgd_trajectory

from lmech.ensemble import init_ensemble
from lmech.errors import LmechError
from lmech.laws import Curve, Series, get_law
from lmech.laws.symmetry._charges import Regime, digits_set, quadratic_charge, train_geometry
from lmech.laws.symmetry.rescale import GROUPS
from lmech.models import MLPConfig
from lmech.run import Outcome, judge

LAW = get_law("symmetry.rescale")


def _scaled(series: Series, factor: float) -> Series:
    return Series.from_curves(Curve(c.panel, c.name, c.x, factor * np.asarray(c.y))
                              for c in series.curves())


def test_half_the_source_is_refuted(law_run) -> None:
    """A wrong factor: a source of η²‖g‖²/2 predicts that half of our source shows up."""
    _, prediction, measurement, foil, tol = law_run(LAW, 3)
    assert judge(prediction, measurement, foil, tol, kind="identity").outcome is Outcome.HOLDS
    half = _scaled(prediction, 0.5)
    assert judge(half, measurement, foil, tol, kind="identity").outcome is Outcome.BROKEN


def test_charge_is_torch_sgd_and_its_prediction() -> None:
    """Oracle: heavy ball with weight decay, full batch, member by member."""
    config, steps = MLPConfig(64, 8, 1, 10, activation="relu"), 6
    regime = Regime("full-batch heavy ball", minibatch=False, decay=True, momentum=True)
    hyper = regime.hyper(0.5, 0.05, 0.9)
    data = digits_set(64, flatten=True, device="cpu")
    ens = init_ensemble(config, members=2, seed=1, init="torch", dtype=torch.float64)
    alone = [ens.member(i) for i in range(2)]
    rec = train_geometry(ens, regime, data, GROUPS, lr=0.5, weight_decay=0.05, momentum=0.9,
                         steps=steps, batch=1, seed=1, progress=lambda f: None)
    charge, pred, free = quadratic_charge(rec, {"in": 1.0, "out": -1.0}, hyper)

    def q(p) -> float:
        return float(p["layers.0.weight"].square().sum() + p["layers.0.bias"].square().sum()
                     - p["layers.1.weight"].square().sum())

    for i, net in enumerate(alone):
        want = torch_sgd_trajectory(net, *data, hyper, steps, q)
        np.testing.assert_allclose(charge[i], want, rtol=1e-11)
        np.testing.assert_allclose(pred[i], want, rtol=1e-11)
        assert np.abs(free[i] - want).max() > 1e-6 * np.abs(want).max()


def test_parameters_are_checked() -> None:
    with pytest.raises(LmechError, match="imbalance"):
        LAW.parameters("smoke", {"imbalance": 0.0})
