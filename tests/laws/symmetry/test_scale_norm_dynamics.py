"""symmetry.scale_norm_dynamics: a wrong source refuted, the measured charge of the stacked
BatchNorm CNN against the module trained alone by torch.optim.SGD."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _oracle import torch_sgd_trajectory

from lmech.ensemble import init_ensemble
from lmech.errors import LmechError
from lmech.laws import Curve, Series, get_law
from lmech.laws.symmetry._charges import Regime, digits_set, quadratic_charge, train_geometry
from lmech.laws.symmetry.scale_norm_dynamics import GROUPS
from lmech.models import BatchNormCNN, BatchNormCNNConfig
from lmech.run import Outcome, judge

LAW = get_law("symmetry.scale_norm_dynamics")


def test_half_the_source_is_refuted(law_run) -> None:
    """A wrong factor: a source of η²‖g‖²/2 predicts that half of our source shows up."""
    _, prediction, measurement, foil, tol = law_run(LAW, 3)
    assert judge(prediction, measurement, foil, tol, kind="identity").outcome is Outcome.HOLDS
    half = Series.from_curves(Curve(c.panel, c.name, c.x, 0.5 * np.asarray(c.y))
                              for c in prediction.curves())
    assert judge(half, measurement, foil, tol, kind="identity").outcome is Outcome.BROKEN


@pytest.mark.parametrize("momentum", [False, True])
def test_charge_is_torch_sgd_and_its_prediction(momentum) -> None:
    """Oracle: each member's conv norms (BatchNorm on its own batch) equal the module's."""
    steps = 5
    regime = Regime("full batch", minibatch=False, decay=True, momentum=momentum)
    hyper = regime.hyper(0.2, 0.01, 0.9)
    data = digits_set(32, flatten=False, device="cpu")
    ens = init_ensemble(BatchNormCNN(BatchNormCNNConfig()), members=2, seed=2, init="torch",
                        dtype=torch.float64)
    alone = [ens.member(i) for i in range(2)]
    rec = train_geometry(ens, regime, data, GROUPS, lr=0.2, weight_decay=0.01, momentum=0.9,
                         steps=steps, batch=1, seed=2, progress=lambda f: None)
    wants = [torch_sgd_trajectory(net, *data, hyper, steps, lambda p: np.array(
        [float(sum(p[k].square().sum() for k in names)) for names in GROUPS.values()]))
        for net in alone]  # (steps + 1, groups) per member
    for g, group in enumerate(GROUPS):
        charge, pred, _ = quadratic_charge(rec, {group: 1.0}, hyper)
        for i, want in enumerate(wants):
            np.testing.assert_allclose(charge[i], want[:, g], rtol=1e-11)
            np.testing.assert_allclose(pred[i], want[:, g], rtol=1e-10)


def test_parameters_are_checked() -> None:
    with pytest.raises(LmechError, match="momentum"):
        LAW.parameters("smoke", {"momentum": 1.0})
