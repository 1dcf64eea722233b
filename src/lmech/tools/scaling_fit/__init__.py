"""Scaling laws fitted the way Hoffmann et al. did, with intervals and honest extrapolation.

`fit` fits L = E + A/N^α + B/D^β (or one size) to a table of runs (CSV, Parquet, a
DataFrame or the lmech store), `extrapolate` fits the small runs and forecasts the large
ones, and `fit_report` does both and draws them (what `lmech scaling fit` prints).
"""

from lmech.tools.scaling_fit.extrapolate import Extrapolation, extrapolate
from lmech.tools.scaling_fit.fit import FitNotConverged, ScalingFit, fit, parameter_names
from lmech.tools.scaling_fit.plot import draw_fit
from lmech.tools.scaling_fit.runs import load_runs, read_store_points
from lmech.tools.scaling_fit.summary import FitReport, fit_report

__all__ = [
    "Extrapolation",
    "FitNotConverged",
    "FitReport",
    "ScalingFit",
    "draw_fit",
    "extrapolate",
    "fit",
    "fit_report",
    "load_runs",
    "parameter_names",
    "read_store_points",
]
