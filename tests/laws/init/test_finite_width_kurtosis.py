"""init.finite_width_kurtosis: the factor-3 mistake and the infinite-width foil are refuted."""

from __future__ import annotations

import numpy as np
import pytest

from lmech.laws import Series, get_law
from lmech.run import Outcome, judge
from lmech.testing import SEED

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


def test_widths_collapse_onto_l_over_n(smoke) -> None:
    """ReLU predictions at two widths agree at equal l/n to O(1/n) (the collapse)."""
    params, prediction, *_ = smoke
    m = prediction.panel == "relu at criticality"
    x, y, curve = prediction.x[m], prediction.y[m], prediction.curve[m]
    small, large = (curve == "n=32"), (curve == "n=64")
    common = np.intersect1d(x[small], x[large])
    for ratio in common:
        a, b = y[small & (x == ratio)][0], y[large & (x == ratio)][0]
        assert a == pytest.approx(b, rel=15 * ratio)
