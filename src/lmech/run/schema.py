"""The store's tables, and the rows one law's result becomes.

Tables (``DIR/lmech.duckdb``):

- ``runs``: one row per ``lmech verify``: run_id, started_at, finished_at, status
  (running | finished | interrupted), lmech_version, git_revision, torch_version,
  python_version, device, budget, seed, command, and the writing process (host, pid,
  process_start) so that a run whose process is gone reads as interrupted.
- ``results``: one row per law per run: identity (law, claim, source, pillar, kind),
  params (JSON), verdict, the expected outcome, the tolerance's basis, and the verdict's
  statistics (`lmech.run.Verdict`: reason, band reach, p-values, detectable deviation,
  gap to the foil, units …), panels (JSON), error (traceback), seconds.
- ``points``: every point a law produced: run_id, law, kind (prediction | measurement |
  foil), panel, curve, x, y, stderr, units, tolerance (prediction rows only).

A store written by an older lmech opens as it is: the columns added since are added to
it, NULL in its old rows.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd

from lmech.laws import Panel, Series
from lmech.run.verdict import Outcome, Verdict

__all__ = ["SCHEMA", "LawResult", "RunInfo", "has_tables", "points_frame", "result_row"]

_RUN_COLUMNS = {
    "run_id": "VARCHAR PRIMARY KEY",
    "started_at": "TIMESTAMP NOT NULL",
    "finished_at": "TIMESTAMP",
    "status": "VARCHAR NOT NULL",
    "lmech_version": "VARCHAR",
    "git_revision": "VARCHAR",
    "torch_version": "VARCHAR",
    "python_version": "VARCHAR",
    "device": "VARCHAR",
    "budget": "VARCHAR",
    "seed": "BIGINT",
    "command": "VARCHAR",
    "host": "VARCHAR",
    "pid": "BIGINT",
    "process_start": "VARCHAR",
}
_RESULT_COLUMNS = {
    "run_id": "VARCHAR NOT NULL",
    "law": "VARCHAR NOT NULL",
    "claim": "VARCHAR",
    "source": "VARCHAR",
    "pillar": "VARCHAR",
    "kind": "VARCHAR",
    "budget": "VARCHAR",
    "seed": "BIGINT",
    "params": "VARCHAR",
    "verdict": "VARCHAR NOT NULL",
    "expected": "VARCHAR",
    "reason": "VARCHAR",
    "tolerance_kind": "VARCHAR",
    "tolerance_why": "VARCHAR",
    "alpha": "DOUBLE",
    "n_points": "INTEGER",
    "min_units": "INTEGER",
    "t_critical": "DOUBLE",
    "agreement": "DOUBLE",
    "agreement_p": "DOUBLE",
    "refutation_p": "DOUBLE",
    "worst_point": "VARCHAR",
    "foil_p": "DOUBLE",
    "foil_point": "VARCHAR",
    "detectable": "DOUBLE",
    "gap": "DOUBLE",
    "power_ratio": "DOUBLE",
    "weak": "BOOLEAN",
    "power_point": "VARCHAR",
    "deviation": "DOUBLE",
    "relative_deviation": "DOUBLE",
    "panels": "VARCHAR",
    "error": "VARCHAR",
    "seconds": "DOUBLE",
    "finished_at": "TIMESTAMP NOT NULL",
}
_POINT_COLUMNS = {
    "run_id": "VARCHAR NOT NULL",
    "law": "VARCHAR NOT NULL",
    "kind": "VARCHAR NOT NULL",
    "panel": "VARCHAR NOT NULL",
    "curve": "VARCHAR NOT NULL",
    "x": "DOUBLE",
    "y": "DOUBLE",
    "stderr": "DOUBLE",
    "units": "INTEGER",
    "tolerance": "DOUBLE",
}
_TABLES = {"runs": _RUN_COLUMNS, "results": _RESULT_COLUMNS, "points": _POINT_COLUMNS}
_KEYS = {"results": ", PRIMARY KEY (run_id, law)"}


def _schema() -> str:
    """CREATE statements for a fresh store, then the migration of an older one: every
    column added since is added to it (NULL in its old rows)."""
    out = []
    for table, columns in _TABLES.items():
        body = ", ".join(f"{name} {kind}" for name, kind in columns.items())
        out.append(f"CREATE TABLE IF NOT EXISTS {table} ({body}{_KEYS.get(table, '')});")
        for name, kind in columns.items():
            plain = kind.replace(" NOT NULL", "").replace(" PRIMARY KEY", "")
            out.append(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {name} {plain};")
    return "\n".join(out)


SCHEMA = _schema()


@dataclass(frozen=True)
class RunInfo:
    """What identifies a run and the machine it ran on."""

    run_id: str
    started_at: datetime
    lmech_version: str
    git_revision: str | None
    torch_version: str
    python_version: str
    device: str
    budget: str
    seed: int
    command: str


@dataclass(frozen=True)
class LawResult:
    """One law's outcome in one run, with everything needed to draw and re-judge it."""

    law: str
    claim: str
    source: str
    pillar: str
    budget: str
    seed: int
    params: dict
    outcome: Outcome
    verdict: Verdict | None  # None when the law raised (ERROR)
    panels: tuple[Panel, ...]
    seconds: float
    kind: str = "empirical"
    expected: str = "CONFIRMED"
    tolerance_kind: str = ""
    tolerance_why: str = ""
    prediction: Series | None = None
    measurement: Series | None = None
    foil: Series | None = None
    tolerance: np.ndarray | None = None
    error: str | None = None


def has_tables(con: duckdb.DuckDBPyConnection) -> bool:
    """True when the connection's database has lmech's three tables."""
    names = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables")
             .fetchall()}
    return {"runs", "results", "points"} <= names


def result_row(run_id: str, result: LawResult) -> dict:
    """The ``results`` row of one law's result, by column name."""
    stats = result.verdict.statistics() if result.verdict is not None else {}
    stats.pop("outcome", None)
    row = {
        "run_id": run_id, "law": result.law, "claim": result.claim, "source": result.source,
        "pillar": result.pillar, "kind": result.kind, "budget": result.budget,
        "seed": result.seed, "params": json.dumps(result.params),
        "verdict": result.outcome.value, "expected": result.expected,
        "tolerance_kind": result.tolerance_kind, "tolerance_why": result.tolerance_why,
        **{k: _plain(v) for k, v in stats.items() if k in _RESULT_COLUMNS and k != "kind"},
        "panels": json.dumps([asdict(p) for p in result.panels]), "error": result.error,
        "seconds": result.seconds, "finished_at": datetime.now(),
    }
    return row


def _plain(value):
    """NaN as NULL, so that SQL aggregates and readers see a missing value."""
    return None if isinstance(value, float) and np.isnan(value) else value


def points_frame(run_id: str, result: LawResult) -> pd.DataFrame:
    """The ``points`` rows of one law's result: prediction, measurement and foil."""
    frames = []
    for kind, series in (("prediction", result.prediction), ("measurement", result.measurement),
                         ("foil", result.foil)):
        if series is None:
            continue
        tol = (
            result.tolerance
            if kind == "prediction" and result.tolerance is not None
            else np.full(len(series), np.nan)
        )
        frames.append(pd.DataFrame({
            "run_id": run_id, "law": result.law, "kind": kind,
            "panel": series.panel.astype(str), "curve": series.curve.astype(str),
            "x": series.x, "y": series.y, "stderr": series.stderr,
            "units": series.units.astype(np.int32),
            "tolerance": np.asarray(tol, dtype=np.float64),
        }))
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)
