"""init.universality: the premature asymptote and the other class's curve are refuted; the
members' own recursions lie well inside the margin; the measurement matches brute force."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmech.ensemble import sample_preactivations
from lmech.errors import LmechError
from lmech.laws import Curve, Series, get_law
from lmech.laws.init.universality import (
    K_STAR_ZERO,
    MARGIN,
    MEMBERS,
    _setup,
    universal_curve,
)
from lmech.measure.stats import excess_kurtosis_estimate
from lmech.run import Outcome, judge
from lmech.testing import SEED
from lmech.theory import excess_kurtosis, scale_invariant_excess_kurtosis

LAW = get_law("init.universality")


@pytest.fixture(scope="module")
def smoke(law_run):
    return law_run(LAW, SEED)


def test_the_large_depth_asymptote_at_moderate_depth_is_refuted(smoke) -> None:
    """A plausible mistake: V/K² = (2/3)l (the l → ∞ form) instead of the universal curve."""
    _, prediction, measurement, foil, tol = smoke
    curves = [Curve(c.panel, c.name, c.x, np.asarray(c.x) / 3 if c.panel == K_STAR_ZERO
                    else c.y) for c in prediction.curves()]
    wrong = Series.from_curves(curves)
    assert judge(wrong, measurement, foil, tol).outcome is Outcome.REFUTED


def test_members_share_one_prediction(smoke) -> None:
    _, prediction, *_ = smoke
    for panel in set(prediction.panel):
        curves = [c for c in prediction.curves() if c.panel == panel]
        assert len(curves) == 3
        for c in curves[1:]:
            np.testing.assert_array_equal(c.y, curves[0].y)


@pytest.mark.parametrize(("panel", "name", "kw"),
                         [(p, name, kw) for p, m in MEMBERS.items() for name, kw in m])
def test_each_members_own_theory_lies_inside_half_the_margin(panel, name, kw) -> None:
    """Independent route: each member's own curve (its full leading-order vertex recursion
    for K* = 0, its exact product law for the scale-invariant class, at the law's width)
    departs from the universal curve by less than half the declared margin."""
    params = LAW.parameters("quick")
    act, c_w, k1, width, _, c = _setup(panel, name, kw, params)
    if panel == K_STAR_ZERO:
        kappa = excess_kurtosis(act, params.depth, width, c_w, 0.0, k1)
    else:
        kappa = scale_invariant_excess_kurtosis(act, params.depth, width)
    at = np.asarray(params.layers) - 1
    own = width * kappa[at] / (3 * c)
    universal = universal_curve(panel, params)[at]
    assert np.all(np.abs(own / universal - 1) < MARGIN / 2)


def test_measurement_matches_weight_sampler_brute_force() -> None:
    """Oracle: a ReLU member's V/(cK²) from networks built weight by weight agrees."""
    params = LAW.parameters("smoke", {"scale_invariant_width": 32, "members": (400, 6000)})
    law = LAW.measure(params, 2)
    layer = params.layers[-1]
    z = sample_preactivations(torch.ones(1, 4), depth=layer, width=32, activation="relu",
                              C_W=2.0, C_b=0.0, members=3000, method="weights",
                              generator=torch.Generator().manual_seed(6),
                              layers=[layer])[0].double()[:, 0]
    e = excess_kurtosis_estimate((z**4).mean(-1).numpy(), (z**2).mean(-1).numpy())
    scale = 32 / (3 * 5.0)
    i = (law.curve == "relu") & (law.x == layer)
    assert abs(law.y[i][0] - scale * float(e.value)) < 4.5 * np.hypot(
        law.stderr[i][0], scale * float(e.stderr))


def test_parameters_are_checked() -> None:
    with pytest.raises(LmechError, match="layers must be distinct"):
        LAW.parameters("smoke", {"layers": (6, 40)})
