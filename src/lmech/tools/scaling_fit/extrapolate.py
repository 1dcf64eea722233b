"""Honest extrapolation: fit the small runs, predict the held-out large ones, report errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lmech.errors import LmechError
from lmech.tools.scaling_fit.fit import FitNotConverged, ScalingFit, fit, parameter_names
from lmech.tools.scaling_fit.runs import load_runs

__all__ = ["AGREEMENT_RESOLUTION", "Extrapolation", "check_holdout", "extrapolate"]

AGREEMENT_RESOLUTION = 1e-9
"""Relative differences below this are round-off, not disagreement. The fit stops with
log-loss residuals near 1e-12, so on noise-free data the forecast, its bootstrap interval
(as narrow) and the measurement differ by ~1e-12: the interval misses an exact forecast's
measurement by that much unless the comparison allows for it."""


@dataclass(frozen=True)
class Extrapolation:
    """A fit to the small runs and how well it predicts the large ones.

    Attributes:
        fit: the fit to the rows kept.
        held_out: one row per held-out run: the sizes, ``measured``, ``predicted``,
            ``low``/``high`` (bootstrap interval of the prediction), ``relative_error``
            = predicted/measured − 1 and ``inside`` (measured within [low, high], up to
            `AGREEMENT_RESOLUTION`).
        fitted: the sizes and losses of the rows kept.
    """

    fit: ScalingFit
    held_out: pd.DataFrame
    fitted: pd.DataFrame

    @property
    def max_relative_error(self) -> float:
        return float(np.max(np.abs(self.held_out["relative_error"])))


def check_holdout(holdout: float) -> None:
    """Raises LmechError unless 0 < `holdout` ≤ 0.5 (a fraction of the runs)."""
    real = isinstance(holdout, int | float | np.integer | np.floating) and not isinstance(
        holdout, bool)
    if not real or not 0 < holdout <= 0.5:
        raise LmechError(f"holdout must be a fraction in (0, 0.5] of the runs, got {holdout!r}")


def extrapolate(
    data: pd.DataFrame | str | Path, x: Sequence[str] = ("N", "D"), y: str = "loss", *,
    holdout: float = 0.2, **fit_options,
) -> Extrapolation:
    """Hold out the `holdout` fraction of runs with the largest Π_j x_j, fit the rest.

    For (N, D) the product is proportional to compute C ≈ 6ND, so the held-out runs are the
    most expensive ones: the regime a scaling law is used to forecast.

    Raises:
        LmechError: `holdout` outside (0, 0.5], or too few rows left to fit.
    """
    check_holdout(holdout)
    x = tuple(x)
    store_filter = {k: fit_options.pop(k) for k in ("law", "panel", "curve") if k in fit_options}
    sizes, loss = load_runs(data, x, y, len(parameter_names(len(x))), **store_filter)
    order = np.argsort(np.log(sizes).sum(axis=1), kind="stable")
    n_out = max(1, int(round(holdout * len(loss))))
    keep, out = order[:-n_out], order[-n_out:]
    frame = pd.DataFrame(sizes, columns=list(x)).assign(**{y: loss})
    try:
        result = fit(frame.iloc[keep].reset_index(drop=True), x, y, **fit_options)
    except FitNotConverged:
        raise
    except LmechError as err:  # the data suffice for the full fit but not without the largest
        raise LmechError(f"the extrapolation check fits the {len(keep)} smallest runs and "
                         f"holds out the {n_out} largest (holdout={holdout:g}); on those "
                         f"{len(keep)}: {err}") from None
    big = frame.iloc[out].reset_index(drop=True)
    predicted = result.predict(big[list(x)].to_numpy())
    band = result.predict_interval(big[list(x)].to_numpy())
    held = big.assign(
        measured=big[y], predicted=predicted, low=band[:, 0], high=band[:, 1],
        relative_error=predicted / big[y] - 1,
        inside=(big[y] >= band[:, 0] * (1 - AGREEMENT_RESOLUTION))
        & (big[y] <= band[:, 1] * (1 + AGREEMENT_RESOLUTION)),
    )
    return Extrapolation(fit=result, held_out=held, fitted=frame.iloc[keep])
