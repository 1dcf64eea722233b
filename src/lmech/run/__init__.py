"""Executing laws: budgets, seeds, backends, the verdict and the store."""

from lmech.run.combine import pool
from lmech.run.runner import Observer, parse_seeds, resolve_parameters, verify
from lmech.run.schema import POOLED
from lmech.run.store import STORE_FILE, LawResult, RunInfo, Store
from lmech.run.summary import RunSummary, summary_line
from lmech.run.tasks import Task, run_law
from lmech.run.verdict import ALPHA, MIN_UNITS, Outcome, Verdict, judge, t_critical

__all__ = [
    "ALPHA",
    "MIN_UNITS",
    "POOLED",
    "STORE_FILE",
    "LawResult",
    "Observer",
    "Outcome",
    "RunInfo",
    "RunSummary",
    "Store",
    "Task",
    "Verdict",
    "judge",
    "parse_seeds",
    "pool",
    "resolve_parameters",
    "run_law",
    "summary_line",
    "t_critical",
    "verify",
]
