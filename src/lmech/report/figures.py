"""One matplotlib figure per law: theory line with its tolerance band, measurement with
error bars, foil dashed, verdict in the title."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

__all__ = ["VERDICT_COLOURS", "law_figure", "png_bytes"]

VERDICT_COLOURS = {
    "CONFIRMED": "#1a7f37",
    "REFUTED": "#cf222e",
    "INCONCLUSIVE": "#9a6700",
    "ERROR": "#6e7781",
    "IDENTITY HOLDS": "#0969da",
    "IDENTITY BROKEN": "#8250df",
}


def law_figure(law: str, verdict: str, points: pd.DataFrame, panels: list[dict]) -> Figure:
    """Draw a law's points (rows of the store's ``points`` table) in its panels.

    Args:
        law: the law's dotted name.
        verdict: an outcome (CONFIRMED, IDENTITY HOLDS, …).
        points: columns kind, panel, curve, x, y, stderr, tolerance.
        panels: dicts with name, xlabel, ylabel, xscale, yscale (the law's `panels`).
    """
    names = [p["name"] for p in panels] or sorted(points["panel"].unique())
    specs = {p["name"]: p for p in panels}
    fig = Figure(figsize=(5.2 * max(1, len(names)), 4.0), layout="constrained")
    axes = fig.subplots(1, max(1, len(names)), squeeze=False)[0]
    colours = [f"C{i}" for i in range(10)]
    for ax, name in zip(axes, names, strict=False):
        spec = specs.get(name, {})
        here = points[points["panel"] == name]
        for i, curve in enumerate(dict.fromkeys(here["curve"])):
            c = colours[i % len(colours)]
            rows = here[here["curve"] == curve]
            _draw_curve(ax, rows, curve, c)
        ax.set_title(name)
        ax.set_xlabel(spec.get("xlabel", "x"))
        ax.set_ylabel(spec.get("ylabel", "y"))
        ax.set_xscale(spec.get("xscale", "linear"))
        ax.set_yscale(spec.get("yscale", "linear"))
        for axis, scale in ((ax.xaxis, spec.get("xscale")), (ax.yaxis, spec.get("yscale"))):
            if scale == "log":  # plain numbers: log panels here span a decade or two
                plain = ticker.FuncFormatter(lambda v, _: f"{v:g}")
                axis.set_major_formatter(plain)
                axis.set_minor_formatter(plain)
        handles = [
            Line2D([], [], color="k", label="theory (± tolerance)"),
            Line2D([], [], color="k", marker="o", ls="none", label="measured ± s.e."),
            Line2D([], [], color="k", ls="--", alpha=0.7, label="foil"),
        ]
        curve_handles = [
            Line2D([], [], color=colours[i % len(colours)], label=str(curve))
            for i, curve in enumerate(dict.fromkeys(here["curve"]))
        ]
        ax.legend(handles=handles + curve_handles, fontsize=7, loc="best")
    fig.suptitle(f"{law} — {verdict}", color=VERDICT_COLOURS.get(verdict, "k"),
                 fontweight="bold")
    return fig


def _draw_curve(ax, rows: pd.DataFrame, curve: str, colour: str) -> None:
    pred = rows[rows["kind"] == "prediction"].sort_values("x")
    meas = rows[rows["kind"] == "measurement"].sort_values("x")
    foil = rows[rows["kind"] == "foil"].sort_values("x")
    if len(pred):
        x, y, tol = _widen(pred["x"], pred["y"], pred["tolerance"])
        ax.plot(x, y, color=colour, lw=1.6)
        if np.all(np.isfinite(tol)) and np.any(tol > 0):
            ax.fill_between(x, y - tol, y + tol, color=colour, alpha=0.18, lw=0)
    if len(foil):
        ax.plot(*_widen(foil["x"], foil["y"]), color=colour, lw=1.2, ls="--", alpha=0.7)
    if len(meas):
        # Thin out dense trajectories so markers stay readable; all points are in the store.
        step = max(1, len(meas) // 30)
        m = meas.iloc[::step]
        ax.errorbar(m["x"], m["y"], yerr=m["stderr"], color=colour, fmt="o", ms=3.5,
                    capsize=2, lw=1)


def _widen(x, *ys) -> tuple[np.ndarray, ...]:
    """A one-point curve as a short level segment (x ± 4 %) so it shows; else unchanged."""
    x = np.asarray(x, dtype=float)
    ys = tuple(np.asarray(y, dtype=float) for y in ys)
    if x.size != 1:
        return (x, *ys)
    half = 0.04 * max(abs(x[0]), 1.0)
    return (np.array([x[0] - half, x[0] + half]), *(np.repeat(y, 2) for y in ys))


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
