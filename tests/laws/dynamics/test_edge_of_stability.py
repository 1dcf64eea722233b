"""dynamics.edge_of_stability: wrong momentum conventions refuted, bad input named."""

from __future__ import annotations

import numpy as np
import pytest

from lmech.errors import LmechError
from lmech.laws import Series, get_law
from lmech.run import Outcome, judge
from lmech.testing import SEED

LAW = get_law("dynamics.edge_of_stability")


@pytest.fixture(scope="module")
def smoke(law_run):
    return law_run(LAW, SEED)


def _threshold(prediction: Series, params, factor) -> Series:
    """The prediction with heavy-ball points replaced by factor(β)/η."""
    y = prediction.y.copy()
    hb = prediction.curve != "GD"
    y[hb] = factor(params.momentum) / prediction.x[hb]
    return Series(prediction.panel, prediction.curve, prediction.x, y, prediction.stderr,
                  prediction.units)


@pytest.mark.parametrize("factor", [
    lambda b: 2.0,  # momentum ignored: the GD threshold 2/η
    lambda b: (2 + 2 * b) / (1 - b),  # the EMA-momentum convention m ← βm + (1 − β)g
], ids=["plain-GD-threshold", "EMA-convention"])
def test_wrong_momentum_threshold_is_refuted(smoke, factor) -> None:
    params, prediction, measurement, foil, tol = smoke
    wrong = _threshold(prediction, params, factor)
    assert judge(wrong, measurement, foil, tol).outcome is Outcome.REFUTED


def test_sharpness_rose_far_above_its_start(smoke) -> None:
    """Progressive sharpening: the late sharpness is several times the initial one."""
    _, _, measurement, foil, _ = smoke
    assert np.all(measurement.y > 3 * foil.y)


def test_parameters_are_checked() -> None:
    with pytest.raises(LmechError, match="learning_rates"):
        LAW.parameters("smoke", {"learning_rates": (0.1, -0.2)})
    with pytest.raises(LmechError, match="learning_rates"):
        LAW.parameters("smoke", {"momentum_learning_rates": (0.0,)})
    with pytest.raises(LmechError, match="momentum"):
        LAW.parameters("smoke", {"momentum": 1.0})
    with pytest.raises(LmechError, match="warmup"):
        LAW.parameters("smoke", {"warmup": 590})
    with pytest.raises(LmechError, match="unknown activation"):
        LAW.parameters("smoke", {"activation": "nope"})
