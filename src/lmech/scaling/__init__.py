"""Scaling laws fitted the way Hoffmann et al. did, with intervals and honest extrapolation."""

from lmech.scaling.data import load_runs, read_store_points
from lmech.scaling.extrapolate import Extrapolation, extrapolate
from lmech.scaling.fit import FitNotConverged, ScalingFit, fit, parameter_names
from lmech.scaling.plot import draw_fit
from lmech.scaling.summary import FitReport, fit_report

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
