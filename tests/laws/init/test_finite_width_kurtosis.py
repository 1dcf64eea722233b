"""init.finite_width_kurtosis: the factor-3 mistake and the infinite-width foil are refuted;
the tolerance covers the exact ReLU law; the measurement matches brute force."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmech.ensemble import sample_preactivations
from lmech.errors import LmechError
from lmech.laws import Series, get_law
from lmech.laws.init.finite_width_kurtosis import leading_kurtosis
from lmech.measure.stats import excess_kurtosis_estimate
from lmech.run import Outcome, judge
from lmech.testing import SEED
from lmech.theory import scale_invariant_excess_kurtosis

LAW = get_law("init.finite_width_kurtosis")


@pytest.fixture(scope="module")
def smoke(law_run):
    return law_run(LAW, SEED)


def _scaled(s: Series, factor: float) -> Series:
    return Series(s.panel, s.curve, s.x, factor * s.y, s.stderr, s.units)


def test_normalised_vertex_as_kurtosis_is_refuted(smoke) -> None:
    """docs/theory/init.md, §Pitfalls: V/(nK²) is κ/3; using it as the kurtosis is 3× too small."""
    _, prediction, measurement, foil, tol = smoke
    assert judge(_scaled(prediction, 1 / 3), measurement, foil, tol).outcome is Outcome.REFUTED


def test_infinite_width_foil_is_rejected(smoke) -> None:
    _, prediction, measurement, _, tol = smoke
    zero = _scaled(prediction, 0.0)
    verdict = judge(prediction, measurement, zero, tol)
    assert verdict.outcome is not Outcome.REFUTED and verdict.foil_p < verdict.alpha


def test_widths_collapse_onto_l_over_n() -> None:
    """Leading-order predictions at two widths agree at equal l/n to O(1/n) (the collapse)."""
    params = LAW.parameters("quick")
    prediction = LAW.predict(params)
    for panel in set(prediction.panel):
        m = prediction.panel == panel
        curves = sorted(set(prediction.curve[m]))
        a, b = (prediction.y[m & (prediction.curve == c)] for c in curves[:2])
        np.testing.assert_allclose(a, b, rtol=0.25)


@pytest.mark.parametrize("width", [64, 128])
def test_tolerance_covers_the_exact_relu_law(width) -> None:
    """Independent route: the exact product law 3[(1 + 5/n)^{l−1} − 1] lies within half the
    κ₁²/3 band of the leading order at every judged ReLU point (it leaves room for noise)."""
    params = LAW.parameters("quick")
    layers = params.layers("relu", width)
    exact = scale_invariant_excess_kurtosis("relu", int(layers[-1]), width)[layers - 1]
    leading = leading_kurtosis("relu", 2.0, int(layers[-1]), width)[layers - 1]
    assert np.all(exact > leading)
    assert np.all(exact - leading < 0.6 * leading**2 / 3)


def test_measurement_matches_weight_sampler_brute_force() -> None:
    """Oracle: κ of tanh networks built weight by weight agrees with the law's estimate."""
    params = LAW.parameters("smoke", {"members": 20_000})
    law = LAW.measure(params, 3)
    n = params.tanh_widths[0]
    layer = int(params.layers("tanh", n)[-1])
    z = sample_preactivations(torch.ones(1, 4), depth=layer, width=n, activation="tanh",
                              C_W=1.0, C_b=0.0, members=4000, method="weights",
                              generator=torch.Generator().manual_seed(4),
                              layers=[layer])[0].double()[:, 0]
    brute = excess_kurtosis_estimate((z**4).mean(-1).numpy(), (z**2).mean(-1).numpy())
    i = (law.panel == "tanh at criticality") & (law.curve == f"n={n}") & \
        np.isclose(law.x, layer / n)
    assert abs(law.y[i][0] - float(brute.value)) < 4.5 * np.hypot(law.stderr[i][0],
                                                                   float(brute.stderr))


def test_parameters_are_checked() -> None:
    with pytest.raises(LmechError, match="whole layer"):
        LAW.parameters("smoke", {"tanh_ratios": (0.3,)})
