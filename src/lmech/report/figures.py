"""One matplotlib figure per law: theory line with its tolerance band, measurement with
error bars, foil dashed, verdict in the title.

A panel that only illustrates (``Panel.illustrates``) is drawn the same way, titled
"(not judged)"; a curve there may be measured only or theory only, and a cloud of
measured points sharing one x (single networks) is drawn as a scatter. Where the points
hold several seeds and their pooled result, only the pooled result is drawn (the verdict in
the title is its verdict).
"""

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
        points: columns kind, panel, curve, x, y, stderr, tolerance (and seed: where
            there are several, the pooled result's, seed −1, are drawn if present).
        panels: dicts with name, xlabel, ylabel, xscale, yscale, illustrates (the law's
            `panels`).
    """
    if "seed" in points and points["seed"].nunique() > 1 and (points["seed"] == -1).any():
        points = points[points["seed"] == -1]
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
            _draw_curve(ax, rows, curve, c, log_x=spec.get("xscale") == "log")
        ax.set_title(f"{name} (not judged)" if spec.get("illustrates") else name)
        ax.set_xlabel(spec.get("xlabel", "x"))
        ax.set_ylabel(spec.get("ylabel", "y"))
        ax.set_xscale(spec.get("xscale", "linear"))
        ax.set_yscale(spec.get("yscale", "linear"))
        for axis, scale in ((ax.xaxis, spec.get("xscale")), (ax.yaxis, spec.get("yscale"))):
            if scale == "log":  # plain numbers: log panels here span a decade or two
                axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
                axis.set_minor_formatter(ticker.FuncFormatter(_minor_label(axis)))
        kinds = set(here["kind"][np.isfinite(here["y"].to_numpy(float))])
        handles = [h for kind, h in (
            ("prediction", Line2D([], [], color="k", label="theory (± tolerance)")),
            ("measurement", Line2D([], [], color="k", marker="o", ls="none",
                                   label="measured ± s.e.")),
            ("foil", Line2D([], [], color="k", ls="--", alpha=0.7, label="foil")),
        ) if kind in kinds]
        curve_handles = [
            Line2D([], [], color=colours[i % len(colours)], label=str(curve))
            for i, curve in enumerate(dict.fromkeys(here["curve"]))
        ]
        ax.legend(handles=handles + curve_handles, fontsize=7, loc="best")
    fig.suptitle(f"{law} — {verdict}", color=VERDICT_COLOURS.get(verdict, "k"),
                 fontweight="bold")
    return fig


def _minor_label(axis):
    """Plain labels on a log axis's minor ticks: all of them within about a decade, those
    at 2 and 5 within a few, none beyond (they would run into each other)."""
    def label(v: float, _pos) -> str:
        lo, hi = sorted(axis.get_view_interval())
        decades = np.log10(hi / lo) if lo > 0 and v > 0 else np.inf
        mantissa = round(v / 10 ** np.floor(np.log10(v)), 6) if v > 0 else 0.0
        show = decades <= 1.2 or (decades <= 2.5 and mantissa in (2.0, 5.0))
        return f"{v:g}" if show else ""
    return label


def _draw_curve(ax, rows: pd.DataFrame, curve: str, colour: str, log_x: bool = False) -> None:
    rows = rows[np.isfinite(rows["y"].to_numpy(float))]  # NaN: no value (a foilless panel)
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
    if len(meas) and meas["x"].duplicated().any():  # a cloud of single networks: all drawn
        ax.scatter(_spread(meas["x"], log_x), meas["y"], color=colour, s=7, alpha=0.3, lw=0)
    elif len(meas):
        # Thin out dense trajectories so markers stay readable; all points are in the store.
        step = max(1, len(meas) // 30)
        m = meas.iloc[::step]
        # a curve measured only (an illustration) is joined so that it reads as a curve
        ax.errorbar(m["x"], m["y"], yerr=m["stderr"], color=colour,
                    fmt="o" if len(pred) else "o-", ms=3.5, capsize=2, lw=1)


def _spread(x, log: bool) -> np.ndarray:
    """A cloud's x spread by up to ±4 % (in log on a log axis), so that points stacked at
    one x show their density; the offsets are fixed, the same in every figure."""
    x = np.asarray(x, dtype=float)
    offset = np.random.default_rng(0).uniform(-0.04, 0.04, x.size)
    if log:
        return x * np.exp(offset)
    return x + offset * max(float(np.ptp(x)), 1e-12) / 4


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
