"""Executing laws: budgets, seeds, the verdict and the store."""

from lmech.run.runner import Observer, RunSummary, resolve_parameters, run_law, verify
from lmech.run.store import STORE_FILE, LawResult, RunInfo, Store
from lmech.run.verdict import ALPHA, MIN_UNITS, Outcome, Verdict, judge, t_critical

__all__ = [
    "ALPHA",
    "MIN_UNITS",
    "STORE_FILE",
    "LawResult",
    "Observer",
    "Outcome",
    "RunInfo",
    "RunSummary",
    "Store",
    "Verdict",
    "judge",
    "resolve_parameters",
    "run_law",
    "t_critical",
    "verify",
]
