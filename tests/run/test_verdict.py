"""The verdict: the equivalence test, its statistics, and its error rates by simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from lmech.errors import LmechError
from lmech.laws import Curve, Series
from lmech.run import ALPHA, Outcome, judge, t_critical


def _series(y, se=None, x=None, units=None, panel="p") -> Series:
    y = np.asarray(y, dtype=float)
    x = np.arange(y.size) if x is None else x
    return Series.from_curves([Curve(panel, "c", x, y, se, units)])


def _one(y, se=None, units=None) -> Series:
    return _series([y], None if se is None else [se], units=units)


def test_t_critical_is_bonferroni_student() -> None:
    assert t_critical(31, 1) == pytest.approx(stats.t.isf(ALPHA / 2, 30))
    assert t_critical(4, 10) == pytest.approx(stats.t.isf(ALPHA / 20, 3))
    # few units need a much larger critical value than the Gaussian 2.58
    assert t_critical(3, 1) > 9.9


def test_confirmed_refuted_inconclusive() -> None:
    pred, foil = _series([1.0, 2.0, 3.0]), _series([0.0, 0.0, 0.0])
    tol = np.full(3, 0.1)
    near = _series([1.01, 1.99, 3.0], se=[0.01] * 3, units=30)
    v = judge(pred, near, foil, tol)
    assert v.outcome is Outcome.CONFIRMED and v.agreement <= 1 and v.agreement_p <= ALPHA
    far = _series([1.0, 2.5, 3.0], se=[0.01] * 3, units=30)
    v = judge(pred, far, foil, tol)
    assert v.outcome is Outcome.REFUTED and v.refutation_p <= ALPHA and "@1" in v.reason
    vague = _series([1.0, 2.0, 3.0], se=[10.0] * 3, units=30)
    v = judge(pred, vague, foil, tol)
    assert v.outcome is Outcome.INCONCLUSIVE and "too noisy" in v.reason


def test_absence_of_disagreement_is_not_agreement() -> None:
    """A measurement that does not reject the prediction but whose interval reaches past the
    band is not evidence of equivalence: INCONCLUSIVE, not CONFIRMED."""
    pred, foil = _one(1.0), _one(3.0)
    meas = _one(1.05, se=0.05, units=30)  # |d| = 0.05 < tol, but the CI reaches 1.19
    assert judge(pred, meas, foil, np.array([0.1])).outcome is Outcome.INCONCLUSIVE


def test_a_wide_band_buys_no_confirmation() -> None:
    pred, foil = _one(1.0), _one(1.2)
    meas = _one(1.05, se=0.001, units=30)
    assert judge(pred, meas, foil, np.zeros(1)).outcome is Outcome.REFUTED
    assert judge(pred, meas, foil, np.array([0.06])).outcome is Outcome.CONFIRMED
    v = judge(pred, meas, foil, np.array([0.3]))  # the band hides the foil
    assert v.outcome is Outcome.INCONCLUSIVE and "foil not rejected" in v.reason


def test_foil_must_be_rejected_on_every_panel() -> None:
    """One panel rejecting its foil does not carry another that sits nearer its foil."""
    pred = Series.from_curves([Curve("a", "c", [0], [1.0]), Curve("b", "c", [0], [0.41])])
    foil = Series.from_curves([Curve("a", "c", [0], [0.0]), Curve("b", "c", [0], [0.62])])
    meas = Series.from_curves([Curve("a", "c", [0], [1.0], [0.01], 30),
                               Curve("b", "c", [0], [0.55], [0.01], 30)])
    tol = np.array([0.1, 0.2])
    v = judge(pred, meas, foil, tol)
    assert v.outcome is Outcome.INCONCLUSIVE and "panel b" in v.reason
    # declared foil-less, panel b no longer needs to reject its foil (NaN allowed there)
    foil_nan = Series.from_curves([Curve("a", "c", [0], [0.0]),
                                   Curve("b", "c", [0], [np.nan])])
    v = judge(pred, meas, foil_nan, tol, foilless_panels=("b",))
    assert v.outcome is Outcome.CONFIRMED


def test_statistics_and_power() -> None:
    pred, foil = _series([0.0, 0.0]), _series([1.0, 1.0])
    meas = _series([0.03, -0.01], se=[0.01, 0.01], units=[10, 20])
    tol = np.array([0.1, 0.05])
    v = judge(pred, meas, foil, tol)
    t = t_critical(np.array([10, 20]), 2)
    reach = (np.abs([0.03, -0.01]) + t * 0.01) / tol
    assert v.agreement == pytest.approx(reach.max())
    assert v.worst_point == f"p/c@{int(np.argmax(reach))}"
    detectable = tol + t * 0.01
    best = int(np.argmin(detectable / 1.0))
    assert v.detectable == pytest.approx(detectable[best]) and v.gap == pytest.approx(1.0)
    assert v.power_ratio == pytest.approx(detectable[best]) and not v.weak
    assert v.min_units == 10 and v.kind == "empirical"
    assert v.statistics()["outcome"] == v.outcome.value


def test_weak_when_detectable_deviation_exceeds_half_the_gap() -> None:
    pred, foil = _one(1.0), _one(1.3)
    meas = _one(1.0, se=0.001, units=30)
    v = judge(pred, meas, foil, np.array([0.2]))
    assert v.outcome is Outcome.CONFIRMED and v.weak and v.power_ratio > 0.5


def test_too_few_units() -> None:
    pred, foil = _one(1.0), _one(2.0)
    meas = _one(1.0, se=0.001, units=4)
    assert judge(pred, meas, foil, np.array([0.1])).outcome is Outcome.CONFIRMED
    v = judge(pred, meas, foil, np.array([0.1]), min_units=8)
    assert v.outcome is Outcome.INCONCLUSIVE and "too few units" in v.reason
    with pytest.raises(LmechError, match="needs >= 2 independent units"):
        judge(pred, _one(1.0, se=0.001, units=1), foil, np.array([0.1]))
    with pytest.raises(LmechError, match="needs >= 2 independent units"):
        judge(pred, _one(1.0, se=0.001), foil, np.array([0.1]))  # no unit count at all


def test_identity_holds_or_breaks_on_rounding() -> None:
    pred, foil = _one(1.0), _one(0.0)
    v = judge(pred, _one(1.0 + 1e-12, se=0.0), foil, np.array([1e-9]), kind="identity")
    assert v.outcome is Outcome.HOLDS and v.deviation == pytest.approx(1e-3, rel=1e-3)
    assert v.relative_deviation == pytest.approx(1e-12, rel=1e-3)
    v = judge(pred, _one(1.0 + 1e-6, se=0.0), foil, np.array([1e-9]), kind="identity")
    assert v.outcome is Outcome.BROKEN and v.deviation > 1
    # the foil in the prediction's place breaks the identity
    v = judge(foil, _one(1.0, se=0.0), pred, np.array([1e-9]), kind="identity")
    assert v.outcome is Outcome.BROKEN


def test_bad_input() -> None:
    pred, foil = _series([1.0, 2.0]), _series([0.0, 0.0])
    meas = _series([1.0, 2.0], se=[0.1, 0.1], units=10)
    with pytest.raises(LmechError, match="tolerance must be 2 finite"):
        judge(pred, meas, foil, np.array([0.1]))
    with pytest.raises(LmechError, match="not on the prediction's points"):
        judge(pred, _series([1.0, 2.0], se=[0.1, 0.1], x=[0, 2], units=10), foil,
              np.zeros(2))
    with pytest.raises(LmechError, match="measurement is not finite"):
        judge(pred, _series([1.0, np.nan], se=[0.1, 0.1], units=10), foil, np.zeros(2))


# --- error rates, by simulation -----------------------------------------------------------
# A measured point is the mean of `units` Gaussian draws with its standard error s/√u.
# Monte Carlo error of a rate r over N runs is √(r(1 − r)/N); bounds below are 3.6 of it.

def _simulated_point(rng, truth: float, sd: float, units: int) -> Series:
    draws = truth + sd * rng.standard_normal(units)
    return _one(draws.mean(), se=draws.std(ddof=1) / np.sqrt(units), units=units)


def _rate(rng, outcome: Outcome, *, truth: float, units: int, tol: float, runs: int,
          sd: float = 1.0) -> float:
    pred, foil = _one(0.0), _one(50.0)
    hits = sum(judge(pred, _simulated_point(rng, truth, sd, units), foil,
                     np.array([tol])).outcome is outcome for _ in range(runs))
    return hits / runs


@pytest.mark.parametrize("units", [4, 9, 31])  # 3, 8 and 30 degrees of freedom
def test_coverage_is_nominal_at_small_dof(units: int, rng) -> None:
    """With the truth on the prediction and a zero band, REFUTED exactly when the interval
    misses the truth: its rate is α at every dof (a Gaussian critical value would give
    ≈ 0.08 at 3 dof and ≈ 0.04 at 8)."""
    runs = 2000
    rate = _rate(rng, Outcome.REFUTED, truth=0.0, units=units, tol=0.0, runs=runs)
    bound = 3.6 * np.sqrt(ALPHA * (1 - ALPHA) / runs)
    assert abs(rate - ALPHA) < bound, rate


def test_false_refutation_at_the_band_edge_stays_below_alpha(rng) -> None:
    runs = 1500
    for units in (4, 16, 64):
        rate = _rate(rng, Outcome.REFUTED, truth=1.0, units=units, tol=1.0, runs=runs)
        assert rate <= ALPHA + 3.6 * np.sqrt(ALPHA / runs), (units, rate)


def test_power_grows_with_units_inside_and_outside_the_band(rng) -> None:
    """Inside the band: CONFIRMED with rate → 1 as units grow, never REFUTED beyond α.
    Outside: REFUTED with rate → 1."""
    runs = 300
    inside = [_rate(rng, Outcome.CONFIRMED, truth=0.5, units=u, tol=1.0, runs=runs)
              for u in (8, 32, 128)]
    assert inside[0] < inside[-1] and inside[-1] > 0.97, inside
    assert all(b >= a - 0.08 for a, b in zip(inside, inside[1:], strict=False)), inside
    outside = [_rate(rng, Outcome.REFUTED, truth=1.5, units=u, tol=1.0, runs=runs)
               for u in (8, 32, 128)]
    assert outside[0] < outside[-1] and outside[-1] > 0.97, outside
    wrong = _rate(rng, Outcome.REFUTED, truth=0.5, units=128, tol=1.0, runs=runs)
    assert wrong == 0.0
