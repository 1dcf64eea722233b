"""Draw a scaling-law fit and its extrapolation to a PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from lmech.errors import LmechError
from lmech.tools.png_path import writable_png
from lmech.tools.scaling_fit.extrapolate import Extrapolation

__all__ = ["draw_fit"]


def draw_fit(check: Extrapolation, path: str | Path) -> Path:
    """Two panels: loss vs the first size (fit line, runs fitted, runs held out), and
    predicted vs measured loss for every run. Returns the written path.

    Raises:
        LmechError: `path` cannot take a PNG (checked first, see `writable_png`).
    """
    out = writable_png(path)
    result = check.fit
    x0, y = result.x[0], result.y
    fig = Figure(figsize=(10.4, 4.0), layout="constrained")
    left, right = fig.subplots(1, 2)
    fitted, held = check.fitted, check.held_out
    allx = np.concatenate([fitted[x0].to_numpy(), held[x0].to_numpy()])
    grid = np.geomspace(allx.min(), allx.max(), 200)
    others = [fitted[c].to_numpy() for c in result.x[1:]]
    # For two sizes, draw the law along each held-out run's other size (its forecast).
    levels = np.unique(np.concatenate([held[c].to_numpy() for c in result.x[1:]])) if others \
        else [None]
    for k, level in enumerate(levels[:6]):
        cols = [grid] if level is None else [grid, np.full_like(grid, level)]
        label = "fit" if level is None else f"fit at {result.x[1]}={level:.3g}"
        left.plot(grid, result.predict(np.stack(cols, 1)), color=f"C{k}", lw=1.2, label=label)
    left.scatter(fitted[x0], fitted[y], s=14, color="0.3", label="runs fitted")
    left.scatter(held[x0], held[y], s=30, marker="*", color="#cf222e", label="held out")
    left.set(xscale="log", yscale="log", xlabel=x0, ylabel=y,
             title=_title(result.params))
    left.legend(fontsize=7)
    right.errorbar(held["measured"], held["predicted"],
                   yerr=[held["predicted"] - held["low"], held["high"] - held["predicted"]],
                   fmt="*", color="#cf222e", label="held out (extrapolated)")
    right.scatter(fitted[y], result.predict(fitted[list(result.x)].to_numpy()), s=12,
                  color="0.3", label="fitted")
    lo = min(fitted[y].min(), held["low"].min())
    hi = max(fitted[y].max(), held["high"].max())
    right.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    right.set(xscale="log", yscale="log", xlabel=f"measured {y}", ylabel=f"predicted {y}",
              title=f"extrapolation: max |error| {100 * check.max_relative_error:.2g} %")
    right.legend(fontsize=7)
    try:
        fig.savefig(out, format="png", dpi=110)
    except OSError as err:
        raise LmechError(f"cannot write the figure to {out}: {err.strerror}") from None
    return out


def _title(params: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.3g}" for k, v in params.items())
