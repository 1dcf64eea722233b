"""The one statistical test behind every verdict: equivalence to a band, against a foil.

An empirical law's theory tolerance tol_i (the size of what the theory neglects) widens its
prediction h_i into a band [h_i − tol_i, h_i + tol_i]. Each measured point m_i carries a
standard error se_i from u_i independent units, and gets a simultaneous (1 − α) confidence
interval by Bonferroni over the law's n points, with Student-t critical values:

    CI_i = m_i ± t_i·se_i,    t_i = t⁻¹(1 − α/(2n); ν = u_i − 1)

- CONFIRMED: every CI_i lies inside its band (two one-sided tests per point: positive
  evidence of equivalence, not absence of disagreement) and, on every panel that has a
  foil, some point's CI lies wholly outside the foil's band [f_i − tol_i, f_i + tol_i];
- REFUTED: some CI_i lies wholly outside its band;
- INCONCLUSIVE: neither, with its reason: too noisy to decide, the foil not rejected on a
  panel, or fewer units than the law book asks for;
- ERROR: the law raised (decided by the runner, never here).

The intervals cover all true values at once with probability ≥ 1 − α whatever the
correlation between points, so a law that holds within its tolerance is falsely REFUTED
with probability ≤ α, and as data grow its CIs shrink inside the band: more data never
turns it from CONFIRMED to REFUTED.

Power is stated: a point's *detectable deviation* is tol_i + t_i·se_i, the smallest
deviation from the prediction its CI could show. On each foil panel the point that best
separates prediction and foil is taken; a law whose detectable deviation there exceeds
half the prediction–foil gap |h_i − f_i| on some panel is *weak*.

Points on a panel that only illustrates (``Panel.illustrates``: a phase diagram, a whole
training curve) are dropped before anything is judged: they count nowhere, and n is the
number of judged points.

An identity law (an exact identity checked to rounding) is judged apart: IDENTITY HOLDS
when every |m_i − h_i| ≤ tol_i (its rounding tolerance), IDENTITY BROKEN otherwise, with
the largest deviation reported instead of test statistics. See ``docs/verdicts.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import Enum

import numpy as np
from scipy import special

from lmech.errors import LmechError
from lmech.laws import Kind, Series

__all__ = ["ALPHA", "MIN_UNITS", "Outcome", "Verdict", "judge", "judged_points", "t_critical"]

ALPHA = 0.01
"""Family-wise significance of every test."""

MIN_UNITS = 8
"""Independent units an empirical law needs at every point for a verdict at `quick` or
`full` (the runner asks for it; `smoke` runs for tests need only 2)."""

WEAK_FRACTION = 0.5
"""A law is weak when its detectable deviation exceeds this fraction of the gap to the foil."""


class Outcome(str, Enum):
    CONFIRMED = "CONFIRMED"
    REFUTED = "REFUTED"
    INCONCLUSIVE = "INCONCLUSIVE"
    ERROR = "ERROR"
    HOLDS = "IDENTITY HOLDS"
    BROKEN = "IDENTITY BROKEN"


@dataclass(frozen=True)
class Verdict:
    """A verdict and the statistics behind it (NaN where a statistic does not apply).

    Attributes:
        outcome: the `Outcome`.
        kind: "empirical" or "identity".
        reason: why the outcome is what it is, in a few words.
        alpha: the family-wise significance.
        n_points: number of points judged.
        min_units: fewest independent units behind any measured point.
        t_critical: the critical value at `worst_point`.
        agreement: the largest *band reach* (|m − h| + t·se)/tol: ≤ 1 means every
            interval lies inside its band; > 1 at some point means not shown inside.
        agreement_p: Bonferroni p-value of equivalence (small: shown inside the bands).
        refutation_p: Bonferroni p-value that the prediction holds (small: refuted).
        worst_point: "panel/curve@x" with the largest band reach.
        foil_p: the largest over foil panels of the panel's Bonferroni p-value that the
            foil holds (small: rejected on every panel).
        foil_point: the point that rejects the foil least convincingly among each panel's
            best ("panel/curve@x").
        detectable: detectable deviation tol + t·se at `power_point`.
        gap: |prediction − foil| at `power_point`.
        power_ratio: detectable / gap at `power_point` (the weakest panel's best point).
        weak: power_ratio > WEAK_FRACTION.
        power_point: where the power is read.
        deviation: identities: the largest |m − h| / tol (≤ 1 holds).
        relative_deviation: identities: the largest |m − h| / |h|.
    """

    outcome: Outcome
    kind: str
    reason: str
    alpha: float
    n_points: int
    min_units: int
    t_critical: float = float("nan")
    agreement: float = float("nan")
    agreement_p: float = float("nan")
    refutation_p: float = float("nan")
    worst_point: str = ""
    foil_p: float = float("nan")
    foil_point: str = ""
    detectable: float = float("nan")
    gap: float = float("nan")
    power_ratio: float = float("nan")
    weak: bool = False
    power_point: str = ""
    deviation: float = float("nan")
    relative_deviation: float = float("nan")

    def statistics(self) -> dict:
        """Plain-JSON statistics (for the store and the report)."""
        d = asdict(self)
        d["outcome"] = self.outcome.value
        return d


def t_critical(units: int | np.ndarray, n_points: int, alpha: float = ALPHA) -> np.ndarray:
    """Bonferroni Student-t critical value t⁻¹(1 − α/(2n); units − 1), elementwise."""
    dof = np.asarray(units, dtype=np.float64) - 1
    return -special.stdtrit(dof, alpha / (2 * n_points))  # upper quantile, by symmetry


def _label(series: Series, i: int) -> str:
    return f"{series.panel[i]}/{series.curve[i]}@{series.x[i]:.6g}"


def _one_sided_p(statistic: np.ndarray, se: np.ndarray, dof: np.ndarray) -> np.ndarray:
    """P(T_ν > statistic/se); an exact point (se = 0) gives 0 or 1."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p = special.stdtr(np.maximum(dof, 1), -statistic / se)  # P(T > statistic/se)
    return np.where(se > 0, p, np.where(statistic >= 0, 0.0, 1.0))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        r = num / den
    return np.where(den > 0, r, np.where(num > 0, np.inf, 0.0))


def judge(
    prediction: Series,
    measurement: Series,
    foil: Series,
    tolerance: np.ndarray,
    *,
    kind: Kind | str = Kind.EMPIRICAL,
    alpha: float = ALPHA,
    min_units: int = 2,
    foilless_panels: Sequence[str] = (),
    unjudged_panels: Sequence[str] = (),
) -> Verdict:
    """Decide whether `measurement` is equivalent to `prediction` and rejects `foil`.

    Args:
        prediction, measurement, foil: series over the same (panel, curve, x) points
            (outside `unjudged_panels`); the measurement's ``units`` count the independent
            units behind each error.
        tolerance: shape ``(n,)``, one per prediction point: the declared theory
            tolerance of each point (>= 0; any value on an unjudged panel).
        kind: "empirical" (the equivalence test) or "identity" (checked to rounding).
        alpha: family-wise significance.
        min_units: an empirical point with fewer units makes the verdict INCONCLUSIVE.
        foilless_panels: panels that declare no foil (their foil points are not judged
            and may be NaN).
        unjudged_panels: panels that only illustrate (``Panel.illustrates``): their points
            are dropped from all three series before anything is judged, so they count
            nowhere (points, units, foil, agreement, power).

    Raises:
        LmechError: the series do not share their points; the tolerance has the wrong
            shape or is negative; a value is not finite; an empirical measurement has
            fewer than 2 units at a point; no point is left to judge.

    Example:
        >>> from lmech.laws import Curve
        >>> s = lambda y, se=None, u=None: Series.from_curves([Curve("p", "c", [0], [y], se, u)])
        >>> judge(s(1.0), s(1.01, [0.01], 30), s(2.0), np.array([0.1])).outcome.value
        'CONFIRMED'
    """
    kind = Kind(getattr(kind, "value", kind))
    if len(unjudged_panels):
        tolerance = np.asarray(tolerance, dtype=np.float64)
        if tolerance.shape != (len(prediction),):
            raise LmechError(f"tolerance must be {len(prediction)} values, one per "
                             f"prediction point, got shape {tolerance.shape}")
        keep = ~np.isin(prediction.panel, list(unjudged_panels))
        prediction, tolerance = judged_points(prediction, unjudged_panels), tolerance[keep]
        measurement = judged_points(measurement, unjudged_panels)
        foil = judged_points(foil, unjudged_panels)
        if not len(prediction):
            raise LmechError(f"no point to judge: every point lies on a panel that only "
                             f"illustrates ({', '.join(unjudged_panels)}); a law needs at "
                             f"least one judged panel")
    for name, s in (("measurement", measurement), ("foil", foil)):
        if not prediction.same_points_as(s):
            raise LmechError(f"the {name} is not on the prediction's points (panel, curve, x)")
    n = len(prediction)
    tol = np.asarray(tolerance, dtype=np.float64)
    if tol.shape != (n,) or np.any(~np.isfinite(tol)) or np.any(tol < 0):
        raise LmechError(f"tolerance must be {n} finite values >= 0, got shape {tol.shape}")
    judged_foil = ~np.isin(prediction.panel, list(foilless_panels))
    for name, s, where in (("prediction", prediction, True), ("measurement", measurement, True),
                           ("foil", foil, judged_foil)):
        bad = (~np.isfinite(s.y) | ~np.isfinite(s.stderr)) & where
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            raise LmechError(f"the {name} is not finite at {int(bad.sum())} points, e.g. "
                             f"{_label(s, i)}")
    if kind is Kind.IDENTITY:
        return _judge_identity(prediction, measurement, foil, tol, alpha, judged_foil)
    units = measurement.units
    if np.any(units < 2):
        i = int(np.argmin(units))
        raise LmechError(f"an empirical measurement needs >= 2 independent units per point; "
                         f"{_label(measurement, i)} has {int(units[i])}")
    return _judge_empirical(prediction, measurement, foil, tol, alpha, min_units, judged_foil)


def judged_points(series: Series, unjudged_panels: Sequence[str]) -> Series:
    """`series` without its points on `unjudged_panels` (illustrations the verdict never
    sees)."""
    keep = ~np.isin(series.panel, list(unjudged_panels))
    if keep.all():
        return series
    return Series(series.panel[keep], series.curve[keep], series.x[keep], series.y[keep],
                  series.stderr[keep], series.units[keep])


def _judge_empirical(prediction, measurement, foil, tol, alpha, min_units, judged_foil
                     ) -> Verdict:
    n = len(prediction)
    m, se, units = measurement.y, measurement.stderr, measurement.units
    dof = units - 1
    t = t_critical(units, n, alpha)
    dev = np.abs(m - prediction.y)
    reach = _ratio(dev + t * se, tol)
    p_equiv = _one_sided_p(tol - dev, se, dof)
    p_refute = _one_sided_p(dev - tol, se, dof)
    inside = dev + t * se <= tol
    outside = dev - t * se > tol
    i_worst = int(np.argmax(reach))

    # The foil, panel by panel: rejected where some CI lies wholly outside its band.
    foil_dev = np.abs(m - foil.y)
    p_foil = _one_sided_p(foil_dev - tol, se, dof)
    gap = np.abs(prediction.y - foil.y)
    power = _ratio(tol + t * se, gap)
    panels = list(dict.fromkeys(prediction.panel[judged_foil].tolist()))
    foil_p, foil_i, power_i, unrejected = 0.0, -1, -1, []
    for panel in panels:
        idx = np.flatnonzero((prediction.panel == panel) & judged_foil)
        best = idx[int(np.argmin(p_foil[idx]))]
        p_panel = min(1.0, 2 * n * float(p_foil[best]))
        if not np.any(foil_dev[idx] - t[idx] * se[idx] > tol[idx]):
            unrejected.append(panel)
        if foil_i < 0 or p_panel >= foil_p:
            foil_p, foil_i = p_panel, int(best)
        strongest = idx[int(np.argmin(power[idx]))]
        if power_i < 0 or power[strongest] > power[power_i]:
            power_i = int(strongest)

    few = units < min_units
    if np.any(outside):
        i = int(np.argmin(np.where(outside, p_refute, np.inf)))
        outcome = Outcome.REFUTED
        reason = f"outside the band at {_label(prediction, i)}"
    elif np.any(few):
        i = int(np.argmin(units))
        outcome = Outcome.INCONCLUSIVE
        reason = (f"too few units: {int(units[i])} < {min_units} at {_label(prediction, i)}")
    elif not np.all(inside):
        outcome = Outcome.INCONCLUSIVE
        reason = f"too noisy to decide at {_label(prediction, i_worst)}"
    elif unrejected:
        outcome = Outcome.INCONCLUSIVE
        reason = f"foil not rejected on panel {', '.join(unrejected)}"
    else:
        outcome = Outcome.CONFIRMED
        reason = "inside every band; foil rejected on every panel"
    ratio = float(power[power_i]) if power_i >= 0 else float("nan")
    return Verdict(
        outcome=outcome, kind=Kind.EMPIRICAL.value, reason=reason, alpha=alpha, n_points=n,
        min_units=int(units.min()), t_critical=float(t[i_worst]),
        agreement=float(reach[i_worst]),
        agreement_p=min(1.0, 2 * n * float(p_equiv.max())),
        refutation_p=min(1.0, 2 * n * float(p_refute.min())),
        worst_point=_label(prediction, i_worst),
        foil_p=foil_p if panels else float("nan"),
        foil_point=_label(prediction, foil_i) if foil_i >= 0 else "",
        detectable=float(tol[power_i] + t[power_i] * se[power_i]) if power_i >= 0 else np.nan,
        gap=float(gap[power_i]) if power_i >= 0 else float("nan"),
        power_ratio=ratio, weak=bool(ratio > WEAK_FRACTION),
        power_point=_label(prediction, power_i) if power_i >= 0 else "",
    )


def _judge_identity(prediction, measurement, foil, tol, alpha, judged_foil) -> Verdict:
    dev = np.abs(measurement.y - prediction.y)
    ratio = _ratio(dev, tol)
    i = int(np.argmax(ratio))
    holds = bool(ratio[i] <= 1)
    foil_ratio = _ratio(np.abs(measurement.y - foil.y), tol)
    foil_ratio = np.where(judged_foil, foil_ratio, np.inf)
    j = int(np.argmin(foil_ratio)) if np.any(judged_foil) else -1
    relative = _ratio(dev, np.abs(prediction.y))
    reason = (f"every point within its rounding tolerance (worst {ratio[i]:.2g} of it)" if holds
              else f"off by {ratio[i]:.3g}× its tolerance at {_label(prediction, i)}")
    return Verdict(
        outcome=Outcome.HOLDS if holds else Outcome.BROKEN, kind=Kind.IDENTITY.value,
        reason=reason, alpha=alpha, n_points=len(prediction),
        min_units=int(measurement.units.min()), worst_point=_label(prediction, i),
        foil_point=_label(prediction, j) if j >= 0 else "",
        deviation=float(ratio[i]), relative_deviation=float(relative.max()),
    )
