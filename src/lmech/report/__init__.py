"""Figures and the HTML report, read from the store."""

from lmech.report.figures import law_figure
from lmech.report.html import REPORT_FILE, render_report
from lmech.report.sweep_figures import sweep_figures

__all__ = ["REPORT_FILE", "law_figure", "render_report", "sweep_figures"]
