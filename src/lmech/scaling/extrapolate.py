"""Honest extrapolation: fit the small runs, predict the held-out large ones, report errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lmech.errors import LmechError
from lmech.scaling.data import load_runs
from lmech.scaling.fit import ScalingFit, fit, parameter_names

__all__ = ["Extrapolation", "extrapolate"]


@dataclass(frozen=True)
class Extrapolation:
    """A fit to the small runs and how well it predicts the large ones.

    Attributes:
        fit: the fit to the rows kept.
        held_out: one row per held-out run: the sizes, ``measured``, ``predicted``,
            ``low``/``high`` (bootstrap interval of the prediction), ``relative_error``
            = predicted/measured − 1 and ``inside`` (measured within [low, high]).
        fitted: the sizes and losses of the rows kept.
    """

    fit: ScalingFit
    held_out: pd.DataFrame
    fitted: pd.DataFrame

    @property
    def max_relative_error(self) -> float:
        return float(np.max(np.abs(self.held_out["relative_error"])))


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
    if not 0 < holdout <= 0.5:
        raise LmechError(f"holdout must be in (0, 0.5], got {holdout}")
    x = tuple(x)
    sizes, loss = load_runs(data, x, y, len(parameter_names(len(x))), **{
        k: fit_options.pop(k) for k in ("law", "panel", "curve") if k in fit_options})
    order = np.argsort(np.log(sizes).sum(axis=1), kind="stable")
    n_out = max(1, int(round(holdout * len(loss))))
    keep, out = order[:-n_out], order[-n_out:]
    frame = pd.DataFrame(sizes, columns=list(x)).assign(**{y: loss})
    result = fit(frame.iloc[keep].reset_index(drop=True), x, y, **fit_options)
    big = frame.iloc[out].reset_index(drop=True)
    predicted = result.predict(big[list(x)].to_numpy())
    band = result.predict_interval(big[list(x)].to_numpy())
    held = big.assign(
        measured=big[y], predicted=predicted, low=band[:, 0], high=band[:, 1],
        relative_error=predicted / big[y] - 1,
        inside=(big[y] >= band[:, 0]) & (big[y] <= band[:, 1]),
    )
    return Extrapolation(fit=result, held_out=held, fitted=frame.iloc[keep])
