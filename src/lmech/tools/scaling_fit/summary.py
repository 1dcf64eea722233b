"""What `lmech scaling fit` does: fit all runs, check extrapolation, draw, and describe."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lmech.tools.png_path import writable_png
from lmech.tools.scaling_fit.extrapolate import Extrapolation, check_holdout, extrapolate
from lmech.tools.scaling_fit.fit import ScalingFit, check_arguments, fit, parameter_names
from lmech.tools.scaling_fit.plot import draw_fit
from lmech.tools.scaling_fit.runs import load_runs

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
                       f"error {_percent(row['relative_error'])}"
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
    holdout: float = 0.2, n_bootstrap: int = 200, level: float = 0.95, seed: int = 0,
    n_starts: int | None = None, max_iter: int = 2000, **store_filter: str | None,
) -> FitReport:
    """Fit every run, fit the small runs and forecast the large ones, draw both to `png`.

    Every argument, the PNG path and the data are checked before the fits start (they
    take tens of seconds with the full start grid), so a mistake costs nothing.

    Args:
        data, x, y, store_filter: as for :func:`lmech.tools.scaling_fit.fit`.
        png: a ``.png`` path to draw to (None: no figure).
        holdout: fraction in (0, 0.5] of the runs, the largest, held out for the forecast.
        n_bootstrap, level, seed, n_starts, max_iter: as for `fit`.

    Raises:
        LmechError: a bad argument, an unwritable `png`, or data that cannot be fitted,
            each named; `FitNotConverged` if a fit does not converge.
    """
    options = dict(n_bootstrap=n_bootstrap, level=level, seed=seed, n_starts=n_starts,
                   max_iter=max_iter)
    x = check_arguments(x, **options)
    check_holdout(holdout)
    figure = writable_png(png) if png is not None else None
    sizes, loss = load_runs(data, x, y, len(parameter_names(len(x))), **store_filter)
    runs = pd.DataFrame(sizes, columns=list(x)).assign(**{y: loss})
    full = fit(runs, x, y, **options)
    check = extrapolate(runs, x, y, holdout=holdout, **options)
    if figure is not None:
        figure = draw_fit(check, figure)
    return FitReport(fit=full, check=check, figure=figure)


def _percent(fraction: float) -> str:
    """A signed percentage to two decimals, with no sign on a value that rounds to zero."""
    value = round(100 * fraction, 2)
    return "0.00 %" if value == 0 else f"{value:+.2f} %"
