"""init.criticality: the wrong depth scale, or the wrong law at criticality, is refuted."""

from __future__ import annotations

import numpy as np
import pytest

from lmech.laws import Curve, Series, get_law
from lmech.run import Outcome, judge
from lmech.testing import SEED
from lmech.theory import chi_parallel, depth_scales

LAW = get_law("init.criticality")
OFF = "off criticality: tanh, C_W=1.5, C_b=0.2"


@pytest.fixture(scope="module")
def smoke(law_run):
    return law_run(LAW, SEED)


def _replace_off(prediction: Series, y: np.ndarray) -> Series:
    curves = [Curve(c.panel, c.name, c.x, y if c.panel == OFF else c.y)
              for c in prediction.curves()]
    return Series.from_curves(curves)


def test_late_layers_decay_with_the_predicted_depth_scale(smoke) -> None:
    """The prediction's late-layer ratio is χ⊥(K*) = e^{−1/ξ⊥} (to the linearisation error)."""
    params, prediction, *_ = smoke
    y = prediction.y[prediction.panel == OFF]
    fp = depth_scales("tanh", 1.5, 0.2)
    assert y[-1] / y[-2] == pytest.approx(np.exp(-1 / fp.xi_perp), rel=0.05)


def test_using_chi_parallel_as_the_decay_rate_is_refuted(smoke) -> None:
    """A plausible mistake: the norm susceptibility χ∥ (0.377) instead of χ⊥ (0.797)."""
    params, prediction, measurement, foil, tol = smoke
    layers = np.arange(1, params.depth + 1)
    y0 = prediction.y[prediction.panel == OFF][0]
    chi = float(chi_parallel("tanh", depth_scales("tanh", 1.5, 0.2).K_star, 1.5))
    wrong = _replace_off(prediction, y0 * chi ** (layers - 1.0))
    assert judge(wrong, measurement, foil, tol).outcome is Outcome.REFUTED


