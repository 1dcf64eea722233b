"""The verdict over many seeds: every seed's units pooled as one experiment.

Each seed's measurement is a mean over u_k independent units with standard error se_k.
Seeds draw disjoint streams, so all U = Σ u_k units are independent, and the pooled
estimate at each point is their unit-weighted mean

    m̄ = Σ_k u_k m_k / U,      se(m̄)² = Σ_k (u_k / U)² se_k²,

on U units; the same equivalence test (`lmech.run.verdict.judge`) then judges it against
the prediction, the foil and the tolerance, which do not depend on the seed. For a law
whose points are smooth statistics (slopes, exponents) rather than plain means, m̄ is the
unit-weighted average of the seeds' estimates, which is how such estimates are combined.
The spread of each verdict statistic across seeds (min, median, max) and the count of
each per-seed outcome go with the pooled verdict.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from lmech.laws import AbstractLaw, Series
from lmech.run.schema import POOLED, LawResult
from lmech.run.verdict import MIN_UNITS, Outcome, judge

__all__ = ["SPREAD_STATISTICS", "pool", "pooled_measurement"]

SPREAD_STATISTICS = ("agreement", "power_ratio", "detectable", "gap", "deviation",
                     "relative_deviation")


def pooled_measurement(measurements: Sequence[Series],
                       unjudged_panels: Sequence[str] = ()) -> Series:
    """The unit-weighted mean of several seeds' measurements of the same points.

    On a panel that only illustrates, a cloud of points sharing one (panel, curve, x) key
    (single networks, not means) is gathered from every seed instead, after the means.
    """
    cloud = _clouds(measurements[0], unjudged_panels)
    if cloud.any():
        means = pooled_measurement([_take(m, ~_clouds(m, unjudged_panels))
                                    for m in measurements])
        gathered = [_take(m, _clouds(m, unjudged_panels)) for m in measurements]
        return Series(*(np.concatenate([getattr(s, f) for s in (means, *gathered)])
                        for f in ("panel", "curve", "x", "y", "stderr", "units")))
    first = measurements[0]
    units = np.stack([m.units for m in measurements]).astype(np.float64)  # (K, n)
    total = units.sum(0)
    weights = np.divide(units, total, out=np.zeros_like(units), where=total > 0)
    y = (weights * np.stack([m.y for m in measurements])).sum(0)
    se = np.sqrt((weights**2 * np.stack([m.stderr for m in measurements]) ** 2).sum(0))
    return Series(first.panel, first.curve, first.x, y, se, total.astype(np.int64))


def _clouds(series: Series, unjudged_panels: Sequence[str]) -> np.ndarray:
    """``(n,)`` whether each point lies on an unjudged panel and shares its key."""
    keys = series.keys()
    count = Counter(keys)
    shared = np.array([count[k] > 1 for k in keys], dtype=bool)
    return np.isin(series.panel, list(unjudged_panels)) & shared


def _take(series: Series, mask: np.ndarray) -> Series:
    return Series(series.panel[mask], series.curve[mask], series.x[mask], series.y[mask],
                  series.stderr[mask], series.units[mask])


def pool(law: AbstractLaw, results: Sequence[LawResult], *, budget: str) -> LawResult:
    """The verdict pooled over `results`, one law's results at several seeds.

    An ERROR at any seed makes the pooled result an ERROR naming the seeds that raised.
    """
    seeds = tuple(r.seed for r in results)
    first = results[0]
    identity = dict(
        law=first.law, claim=first.claim, source=first.source, pillar=first.pillar,
        budget=first.budget, seed=POOLED, params=first.params, panels=first.panels,
        kind=first.kind, expected=first.expected, tolerance_kind=first.tolerance_kind,
        tolerance_why=first.tolerance_why, params_hash=first.params_hash, seeds=seeds,
        seconds=float(sum(r.seconds for r in results)), spread=_spread(results),
    )
    failed = [r.seed for r in results if r.outcome is Outcome.ERROR]
    if failed:
        return LawResult(**identity, outcome=Outcome.ERROR, verdict=None,
                         error=f"RuntimeError: the law raised at seeds "
                               f"{', '.join(map(str, failed))}")
    unjudged = law.unjudged_panels()
    measurement = pooled_measurement([r.measurement for r in results], unjudged)
    verdict = judge(first.prediction, measurement, first.foil, first.tolerance,
                    kind=law.kind, min_units=2 if budget == "smoke" else MIN_UNITS,
                    foilless_panels=law.foilless_panels(), unjudged_panels=unjudged)
    return LawResult(**identity, outcome=verdict.outcome, verdict=verdict,
                     prediction=first.prediction, measurement=measurement, foil=first.foil,
                     tolerance=first.tolerance)


def _spread(results: Sequence[LawResult]) -> dict:
    """Per statistic (min, median, max) across seeds, and the count of each outcome."""
    out: dict = {"outcomes": {}}
    for r in results:
        out["outcomes"][r.outcome.value] = out["outcomes"].get(r.outcome.value, 0) + 1
    for name in SPREAD_STATISTICS:
        values = np.array([getattr(r.verdict, name) for r in results if r.verdict is not None],
                          dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size:
            out[name] = [float(values.min()), float(np.median(values)), float(values.max())]
    return out
