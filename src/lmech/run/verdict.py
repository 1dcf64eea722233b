"""The one statistical test behind every verdict.

For a hypothesis h (the prediction, or the foil) and measured points m_i with standard
errors se_i, the theory tolerance tol_i (the size of the terms the theory neglects) widens
h_i into a band [h_i - tol_i, h_i + tol_i]. A point's *excess* is how far the measurement
lies outside that band, in standard errors:

    z_i(h) = max(|m_i - h_i| - tol_i, 0) / se_i          (+inf if se_i = 0 and outside)

and the statistic is the worst point, z(h) = max_i z_i(h). If the true value lies in the
band and the errors are Gaussian, P(z_i > z) <= 2 Phi(-z) for each point, so by the union
(Bonferroni) bound

    p(h) = min(1, 2 n Phi(-z(h)))

is a valid p-value for "h holds within its tolerance" whatever the correlation between
points (points along one training trajectory are strongly correlated, so a chi-square sum
would not be). Both tests use the same family-wise significance ALPHA:

- the prediction *agrees* when p(prediction) >= ALPHA, i.e. z(prediction) <= z_crit;
- the foil is *rejected* when p(foil) < ALPHA, i.e. z(foil) > z_crit;

with z_crit = Phi^-1(1 - ALPHA / (2 n)) (3.29 for one point, 3.89 for 100 points).

Outcomes:
    CONFIRMED     agrees and the foil is rejected;
    REFUTED       the prediction is rejected (whatever the foil does);
    INCONCLUSIVE  agrees, but the foil is not rejected either: the experiment lacks power;
    ERROR         the law raised (decided by the runner, never here).

ALPHA = 0.01 keeps a correct law's false-refutation rate at or below 1 % per run even for
a long trajectory, while a foil off by a few standard errors plus its tolerance at even
one point is still rejected. The tolerance is the law's declaration (with its reasoning
in the law's docstring), never tuned here; a tolerance wide enough to hide the foil makes
the verdict INCONCLUSIVE, so it cannot buy a CONFIRMED.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum

import numpy as np
from scipy import stats

from lmech.errors import LmechError
from lmech.laws import Series

__all__ = ["ALPHA", "Outcome", "Verdict", "judge", "z_critical"]

ALPHA = 0.01


class Outcome(str, Enum):
    CONFIRMED = "CONFIRMED"
    REFUTED = "REFUTED"
    INCONCLUSIVE = "INCONCLUSIVE"
    ERROR = "ERROR"


@dataclass(frozen=True)
class Verdict:
    """A verdict and the statistics behind it.

    Attributes:
        outcome: CONFIRMED, REFUTED or INCONCLUSIVE.
        agreement_z: z(prediction), the worst excess of the measurement over the
            prediction's tolerance band, in standard errors (small is good).
        agreement_p: Bonferroni p-value that the prediction holds.
        foil_z: z(foil) (large is good: the foil is far from the measurement).
        foil_p: Bonferroni p-value that the foil holds.
        z_critical: the threshold both z's are compared with.
        alpha: the family-wise significance.
        n_points: number of points compared.
        worst_point: "panel/curve@x" where the prediction fits worst.
        foil_point: "panel/curve@x" where the foil is most strongly rejected.
    """

    outcome: Outcome
    agreement_z: float
    agreement_p: float
    foil_z: float
    foil_p: float
    z_critical: float
    alpha: float
    n_points: int
    worst_point: str
    foil_point: str

    def statistics(self) -> dict:
        """Plain-JSON statistics (for the store and the report)."""
        d = asdict(self)
        d["outcome"] = self.outcome.value
        return d


def z_critical(n_points: int, alpha: float = ALPHA) -> float:
    """Bonferroni threshold: Phi^-1(1 - alpha / (2 n))."""
    return float(stats.norm.isf(alpha / (2 * n_points)))


def _excess(hypothesis: Series, measurement: Series, tol: np.ndarray) -> np.ndarray:
    outside = np.maximum(np.abs(measurement.y - hypothesis.y) - tol, 0.0)
    se = measurement.stderr
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(outside > 0, outside / se, 0.0)
    return np.where((outside > 0) & (se == 0), np.inf, z)


def _p_value(z: float, n: int) -> float:
    return float(min(1.0, 2 * n * stats.norm.sf(z)))


def _label(series: Series, i: int) -> str:
    return f"{series.panel[i]}/{series.curve[i]}@{series.x[i]:.6g}"


def judge(
    prediction: Series,
    measurement: Series,
    foil: Series,
    tolerance: np.ndarray,
    alpha: float = ALPHA,
) -> Verdict:
    """Decide whether `measurement` confirms `prediction` and rejects `foil`.

    Args:
        prediction, measurement, foil: series over the same (panel, curve, x) points.
        tolerance: shape ``(n,)``, the declared theory tolerance of each point (>= 0).
        alpha: family-wise significance of both tests.

    Raises:
        LmechError: the series do not share their points, the tolerance has the wrong
            shape or is negative, or the measurement or a hypothesis is not finite.
    """
    for name, s in (("measurement", measurement), ("foil", foil)):
        if not prediction.same_points_as(s):
            raise LmechError(f"the {name} is not on the prediction's points (panel, curve, x)")
    n = len(prediction)
    tol = np.asarray(tolerance, dtype=np.float64)
    if tol.shape != (n,) or np.any(~np.isfinite(tol)) or np.any(tol < 0):
        raise LmechError(f"tolerance must be {n} finite values >= 0, got shape {tol.shape}")
    for name, s in (("prediction", prediction), ("measurement", measurement), ("foil", foil)):
        bad = ~np.isfinite(s.y) | ~np.isfinite(s.stderr)
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            raise LmechError(f"the {name} is not finite at {int(bad.sum())} points, e.g. "
                             f"{_label(s, i)}")

    z_pred = _excess(prediction, measurement, tol)
    z_foil = _excess(foil, measurement, tol)
    i_pred, i_foil = int(np.argmax(z_pred)), int(np.argmax(z_foil))
    zc = z_critical(n, alpha)
    agrees = z_pred[i_pred] <= zc
    foil_rejected = z_foil[i_foil] > zc
    if not agrees:
        outcome = Outcome.REFUTED
    elif foil_rejected:
        outcome = Outcome.CONFIRMED
    else:
        outcome = Outcome.INCONCLUSIVE
    return Verdict(
        outcome=outcome,
        agreement_z=float(z_pred[i_pred]),
        agreement_p=_p_value(float(z_pred[i_pred]), n),
        foil_z=float(z_foil[i_foil]),
        foil_p=_p_value(float(z_foil[i_foil]), n),
        z_critical=zc,
        alpha=alpha,
        n_points=n,
        worst_point=_label(prediction, i_pred),
        foil_point=_label(prediction, i_foil),
    )
