"""The verdict: one test, outcomes as DESIGN.md defines them."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from lmech.errors import LmechError
from lmech.laws import Curve, Series
from lmech.run import ALPHA, Outcome, judge, z_critical


def _series(y, se=None, x=None) -> Series:
    y = np.asarray(y, dtype=float)
    x = np.arange(y.size) if x is None else x
    return Series.from_curves([Curve("p", "c", x, y, se)])


def test_z_critical_is_bonferroni() -> None:
    assert z_critical(1) == pytest.approx(stats.norm.isf(ALPHA / 2))
    assert z_critical(100) == pytest.approx(3.8906, abs=1e-4)


def test_confirmed_refuted_inconclusive() -> None:
    pred, foil = _series([1.0, 2.0, 3.0]), _series([0.0, 0.0, 0.0])
    tol = np.zeros(3)
    near = _series([1.01, 1.99, 3.0], se=[0.01, 0.01, 0.01])
    assert judge(pred, near, foil, tol).outcome is Outcome.CONFIRMED
    far = _series([1.0, 2.5, 3.0], se=[0.01, 0.01, 0.01])
    assert judge(pred, far, foil, tol).outcome is Outcome.REFUTED
    vague = _series([1.0, 2.0, 3.0], se=[10.0, 10.0, 10.0])
    assert judge(pred, vague, foil, tol).outcome is Outcome.INCONCLUSIVE


def test_tolerance_widens_the_band_for_both_hypotheses() -> None:
    pred, foil = _series([1.0]), _series([1.2])
    meas = _series([1.05], se=[0.001])
    assert judge(pred, meas, foil, np.zeros(1)).outcome is Outcome.REFUTED
    assert judge(pred, meas, foil, np.array([0.06])).outcome is Outcome.CONFIRMED
    # a band wide enough to hide the foil buys no confirmation
    assert judge(pred, meas, foil, np.array([0.3])).outcome is Outcome.INCONCLUSIVE


def test_statistics() -> None:
    pred, foil = _series([0.0, 0.0]), _series([1.0, 1.0])
    meas = _series([0.3, -0.1], se=[0.1, 0.1])
    v = judge(pred, meas, foil, np.array([0.1, 0.0]))
    assert v.agreement_z == pytest.approx(2.0)  # (0.3 − 0.1)/0.1 at the first point
    assert v.foil_z == pytest.approx(11.0)  # (1 − (−0.1))/0.1 at the second
    assert v.agreement_p == pytest.approx(2 * 2 * stats.norm.sf(2.0))
    assert v.worst_point == "p/c@0" and v.foil_point == "p/c@1"
    assert v.statistics()["outcome"] == v.outcome.value


def test_zero_stderr_is_exact() -> None:
    pred, foil = _series([1.0]), _series([2.0])
    assert judge(pred, _series([1.0]), foil, np.zeros(1)).outcome is Outcome.CONFIRMED
    v = judge(pred, _series([1.0 + 1e-9]), foil, np.zeros(1))
    assert v.outcome is Outcome.REFUTED and v.agreement_z == np.inf


def test_false_refutation_rate_is_at_most_alpha(rng: np.random.Generator) -> None:
    """Under a true prediction with Gaussian errors, REFUTED happens ≤ α of the time.

    2000 trials at α = 0.01: the Bonferroni test is conservative, so the rate is below α;
    the bound used is α + 3·sqrt(α(1−α)/2000) ≈ 0.0167.
    """
    n, trials = 50, 2000
    pred, foil = _series(np.zeros(n)), _series(np.full(n, 100.0))
    refuted = 0
    for _ in range(trials):
        meas = _series(rng.standard_normal(n), se=np.ones(n))
        refuted += judge(pred, meas, foil, np.zeros(n)).outcome is Outcome.REFUTED
    assert refuted / trials <= ALPHA + 3 * np.sqrt(ALPHA * (1 - ALPHA) / trials)


def test_mismatched_points_and_bad_values() -> None:
    pred = _series([1.0, 2.0])
    with pytest.raises(LmechError, match="not on the prediction's points"):
        judge(pred, _series([1.0, 2.0], x=[0.0, 5.0]), pred, np.zeros(2))
    with pytest.raises(LmechError, match="tolerance"):
        judge(pred, pred, pred, np.zeros(3))
    with pytest.raises(LmechError, match="tolerance"):
        judge(pred, pred, pred, np.array([0.1, -0.1]))
    with pytest.raises(LmechError, match="not finite"):
        judge(pred, _series([1.0, np.nan], se=[1.0, 1.0]), pred, np.zeros(2))


def test_series_checks_its_curves() -> None:
    with pytest.raises(LmechError, match="same length"):
        Series.from_curves([Curve("p", "c", [1, 2], [1, 2, 3])])
    with pytest.raises(LmechError, match="stderr"):
        Series.from_curves([Curve("p", "c", [1], [1], [-1])])
    s = Series.from_curves([Curve("a", "x", [0, 1], [1, 2]), Curve("b", "y", [3], [4], [0.5])])
    assert [(c.panel, c.name) for c in s.curves()] == [("a", "x"), ("b", "y")]
    assert s.keys()[2] == ("b", "y", 3.0)
