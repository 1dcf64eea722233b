"""A sweep's figures: one per swept parameter, the verdict statistic at each grid point
against the parameter's value, coloured by verdict."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from lmech.report.figures import VERDICT_COLOURS

__all__ = ["sweep_figures"]


def sweep_figures(results: Sequence, keys: Sequence[str]) -> dict[str, Figure]:
    """One figure per swept parameter in `keys`.

    Args:
        results: the headline `LawResult` of each grid point (``RunSummary.results``).
        keys: the swept parameters.

    The statistic is the band reach (|m − h| + t·se)/tol of an empirical law (≤ 1: inside
    every band), or the deviation over the rounding tolerance of an identity.
    """
    figures = {}
    for key in keys:
        values = [r.params.get(key) for r in results]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        labels = sorted({json.dumps(v) for v in values})
        x = (np.array(values, dtype=float) if numeric
             else np.array([labels.index(json.dumps(v)) for v in values], dtype=float))
        y = np.array([_statistic(r) for r in results], dtype=float)
        fig = Figure(figsize=(5.6, 4.0), layout="constrained")
        ax = fig.subplots()
        colours = [VERDICT_COLOURS.get(r.outcome.value, "k") for r in results]
        ax.scatter(x, np.where(np.isfinite(y), y, np.nan), c=colours, s=36, zorder=3)
        ax.axhline(1.0, color="k", lw=0.8, ls=":", label="band edge")
        if not numeric:
            ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=7)
        elif np.all(x > 0) and x.max() / x.min() > 20:
            ax.set_xscale("log")
        law = results[0].law if len(results) else ""
        identity = bool(len(results)) and results[0].kind == "identity"
        ax.set_xlabel(key)
        ax.set_ylabel("deviation / tolerance" if identity else "band reach (≤ 1: inside)")
        ax.set_title(f"{law}: sweep of {key}")
        handles = [Line2D([], [], marker="o", ls="none", color=c, label=o)
                   for o, c in VERDICT_COLOURS.items()
                   if o in {r.outcome.value for r in results}]
        ax.legend(handles=handles, fontsize=7, loc="best")
        figures[key] = fig
    return figures


def _statistic(result) -> float:
    v = result.verdict
    if v is None:
        return float("nan")
    return v.deviation if result.kind == "identity" else v.agreement
