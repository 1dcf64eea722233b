"""init.criticality: the wrong depth scale, or the wrong law at criticality, is refuted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmech.ensemble import sample_preactivations
from lmech.errors import LmechError
from lmech.laws import Curve, Series, get_law
from lmech.laws.init._moments import one_minus_correlation, pair_inputs
from lmech.laws.init.criticality import _input_norm
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
    """The prediction's late-layer ratio is χ⊥(K*)^Δl = e^{−Δl/ξ⊥} (to the linearisation
    error)."""
    params, prediction, *_ = smoke
    y = prediction.y[prediction.panel == OFF]
    steps = params.layers[-1] - params.layers[-2]
    fp = depth_scales("tanh", 1.5, 0.2)
    assert y[-1] / y[-2] == pytest.approx(np.exp(-steps / fp.xi_perp), rel=0.05)


def test_using_chi_parallel_as_the_decay_rate_is_refuted(smoke) -> None:
    """A plausible mistake: the norm susceptibility χ∥ (0.377) instead of χ⊥ (0.797)."""
    params, prediction, measurement, foil, tol = smoke
    layers = np.asarray(params.layers, dtype=float)
    y0 = prediction.y[prediction.panel == OFF][0]
    chi = float(chi_parallel("tanh", depth_scales("tanh", 1.5, 0.2).K_star, 1.5))
    wrong = _replace_off(prediction, y0 * chi ** (layers - layers[0]))
    assert judge(wrong, measurement, foil, tol).outcome is Outcome.REFUTED




def test_parameters_are_checked() -> None:
    with pytest.raises(LmechError, match="layers must be distinct"):
        LAW.parameters("smoke", {"layers": (8, 12)})
    with pytest.raises(LmechError, match="members must be >= 40"):
        LAW.parameters("smoke", {"members": (10, 800)})


def test_measurement_matches_brute_force_correlation() -> None:
    """Oracle: 1 − ρ of 300 networks built weight by weight (the `weights` sampler), from
    the pooled moments, agrees with the law's (direct-sampler) value within 4.5 s.e."""
    params = LAW.parameters("smoke", {"members": (4000, 800), "widths": (16, 16)})
    law = LAW.measure(params, 5)
    x = pair_inputs(_input_norm("tanh", 1.5, 0.2), params.rho)
    z = sample_preactivations(x, depth=params.depth, width=16, activation="tanh", C_W=1.5,
                              C_b=0.2, members=2000, method="weights",
                              generator=torch.Generator().manual_seed(2),
                              layers=[params.depth])[0].double()
    brute = one_minus_correlation((z[:, 0] ** 2).mean().item(), (z[:, 1] ** 2).mean().item(),
                                  ((z[:, 0] - z[:, 1]) ** 2).mean().item())
    i = (law.panel == OFF) & (law.x == params.depth)
    d = (z[:, 0] - z[:, 1]) ** 2
    brute_se = d.mean(-1).std().item() / np.sqrt(len(d)) / (2 * (z[:, 0] ** 2).mean().item())
    assert abs(law.y[i][0] - brute) < 4.5 * np.hypot(law.stderr[i][0], brute_se)
