"""What `lmech scaling fit` does: fit all runs, check extrapolation, draw, and describe."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lmech.scaling.extrapolate import Extrapolation, extrapolate
from lmech.scaling.fit import ScalingFit, fit
from lmech.scaling.plot import draw_fit

__all__ = ["FitReport", "fit_report"]


@dataclass(frozen=True)
class FitReport:
    """The fit to every run, the extrapolation check, and the figure's path."""

    fit: ScalingFit
    check: Extrapolation
    figure: Path | None

    def lines(self) -> list[str]:
        """A plain-text description: parameters with intervals, objective, extrapolation."""
        r = self.fit
        form = " + ".join(f"{c}/{x}^{e}" for x, (c, e) in zip(
            r.x, [("A", "alpha"), ("B", "beta")], strict=False))
        out = [f"{r.y} = E + {form}   ({r.n_points} runs, Huber δ=1e-3 on log {r.y})",
               f"{'param':>6} {'value':>12}   {int(100 * r.level)}% bootstrap interval"]
        for k, v in r.params.items():
            lo, hi = r.intervals[k]
            out.append(f"{k:>6} {v:12.5g}   [{lo:.5g}, {hi:.5g}]")
        out.append(f"objective (summed Huber) = {r.objective:.6g}; "
                   f"{r.n_bootstrap} bootstrap refits")
        held = self.check.held_out
        out.append(f"extrapolation: fitted on the {len(self.check.fitted)} smallest runs, "
                   f"predicted the {len(held)} largest:")
        for _, row in held.iterrows():
            sizes = ", ".join(f"{x}={row[x]:.4g}" for x in r.x)
            out.append(f"  {sizes}: measured {row['measured']:.5g}, predicted "
                       f"{row['predicted']:.5g} [{row['low']:.5g}, {row['high']:.5g}], "
                       f"error {100 * row['relative_error']:+.2f} %"
                       f"{'' if row['inside'] else '  (outside the interval)'}")
        if len(r.x) == 2:
            c = [1e18, 1e21, 1e24]
            opt = r.compute_optimal(c)
            for i, ci in enumerate(c):
                out.append(f"compute-optimal at C={ci:.0e}: {r.x[0]}*={opt['N'][i]:.3g} "
                           f"{r.x[1]}*={opt['D'][i]:.3g}")
        if self.figure is not None:
            out.append(f"figure: {self.figure}")
        return out


def fit_report(
    data: pd.DataFrame | str | Path, x: Sequence[str], y: str, *, png: str | Path | None,
    holdout: float = 0.2, **options,
) -> FitReport:
    """Fit every run, fit the small runs and forecast the large ones, draw both to `png`."""
    full = fit(data, x, y, **options)
    check = extrapolate(data, x, y, holdout=holdout, **options)
    figure = draw_fit(check, png) if png is not None else None
    return FitReport(fit=full, check=check, figure=figure)
