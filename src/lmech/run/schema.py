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

import lmech
from lmech.laws import Panel, Series
from lmech.run.verdict import Outcome, Verdict

__all__ = [
    "POOLED",
    "RESULT_KEY",
    "SCHEMA",
    "LawResult",
    "RunInfo",
    "has_tables",
    "migrate",
    "points_frame",
    "result_from_store",
    "result_row",
]

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
    "seeds": "VARCHAR",
    "backend": "VARCHAR",
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
    "seed": "BIGINT NOT NULL",
    "params_hash": "VARCHAR NOT NULL DEFAULT ''",
    "params": "VARCHAR",
    "lmech_version": "VARCHAR",
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
    "seeds": "VARCHAR",
    "spread": "VARCHAR",
    "finished_at": "TIMESTAMP NOT NULL",
}
_POINT_COLUMNS = {
    "run_id": "VARCHAR NOT NULL",
    "law": "VARCHAR NOT NULL",
    "seed": "BIGINT",
    "params_hash": "VARCHAR",
    "kind": "VARCHAR NOT NULL",
    "idx": "INTEGER",
    "panel": "VARCHAR NOT NULL",
    "curve": "VARCHAR NOT NULL",
    "x": "DOUBLE",
    "y": "DOUBLE",
    "stderr": "DOUBLE",
    "units": "INTEGER",
    "tolerance": "DOUBLE",
}
_TABLES = {"runs": _RUN_COLUMNS, "results": _RESULT_COLUMNS, "points": _POINT_COLUMNS}
RESULT_KEY = ("run_id", "law", "seed", "params_hash")
"""One result per law, seed and parameter set in a run (a sweep varies the parameters;
``seed = -1`` holds the verdict pooled over a run's seeds)."""
_KEYS = {"results": f", PRIMARY KEY ({', '.join(RESULT_KEY)})"}


def _create(table: str) -> str:
    body = ", ".join(f"{name} {kind}" for name, kind in _TABLES[table].items())
    return f"CREATE TABLE IF NOT EXISTS {table} ({body}{_KEYS.get(table, '')});"


def _schema() -> str:
    """CREATE statements for a fresh store, then the migration of an older one: every
    column added since is added to it (NULL in its old rows)."""
    out = []
    for table, columns in _TABLES.items():
        out.append(_create(table))
        for name, kind in columns.items():
            plain = (kind.replace(" NOT NULL", "").replace(" PRIMARY KEY", "")
                     .replace(" DEFAULT ''", ""))
            out.append(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {name} {plain};")
    return "\n".join(out)


SCHEMA = _schema()


def migrate(con: duckdb.DuckDBPyConnection) -> None:
    """Bring a store to the current schema: new tables and columns, and — for a store
    whose results were keyed by (run_id, law) alone — the results table rebuilt under
    `RESULT_KEY` with its rows kept."""
    con.execute(SCHEMA)
    key = con.execute(
        "SELECT constraint_column_names FROM duckdb_constraints() "
        "WHERE table_name = 'results' AND constraint_type = 'PRIMARY KEY'").fetchone()
    if key is not None and tuple(key[0]) == RESULT_KEY:
        return
    legacy = [(name, kind) for name, kind in con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'results'").fetchall() if name not in _RESULT_COLUMNS]
    columns = [*_RESULT_COLUMNS, *(name for name, _ in legacy)]
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("ALTER TABLE results RENAME TO results_before_migration")
        con.execute(_create("results"))
        for name, kind in legacy:  # columns of older versions keep their values
            con.execute(f"ALTER TABLE results ADD COLUMN {name} {kind}")
        con.execute(f"INSERT INTO results ({', '.join(columns)}) SELECT "
                    + ", ".join("coalesce(params_hash, '')" if c == "params_hash" else c
                                for c in columns)
                    + " FROM results_before_migration")
        con.execute("DROP TABLE results_before_migration")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


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
    seeds: str = ""
    backend: str = "local"


@dataclass(frozen=True)
class LawResult:
    """One law's outcome at one seed (or pooled over seeds: ``seed = -1``), with everything
    needed to draw and re-judge it."""

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
    params_hash: str = ""
    seeds: tuple[int, ...] = ()
    spread: dict | None = None

    @property
    def combined(self) -> bool:
        """True for the verdict pooled over several seeds."""
        return self.seed == POOLED


POOLED = -1
"""The seed of a result pooled over a run's seeds."""


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
        "params_hash": result.params_hash, "lmech_version": lmech.__version__,
        "seeds": ",".join(map(str, result.seeds)) if result.seeds else str(result.seed),
        "spread": json.dumps(result.spread) if result.spread else None,
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
            "run_id": run_id, "law": result.law, "seed": result.seed,
            "params_hash": result.params_hash, "kind": kind,
            "idx": np.arange(len(series), dtype=np.int32),
            "panel": series.panel.astype(str), "curve": series.curve.astype(str),
            "x": series.x, "y": series.y, "stderr": series.stderr,
            "units": series.units.astype(np.int32),
            "tolerance": np.asarray(tol, dtype=np.float64),
        }))
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def result_from_store(row: pd.Series, points: pd.DataFrame) -> LawResult:
    """The `LawResult` a ``results`` row and its ``points`` rows were written from."""
    def series(kind: str) -> Series | None:
        rows = points[points["kind"] == kind]
        if rows.empty:
            return None
        if "idx" in rows and rows["idx"].notna().all():
            rows = rows.sort_values("idx")
        units = rows["units"].fillna(0).to_numpy(np.int64) if "units" in rows else \
            np.zeros(len(rows), np.int64)
        return Series(rows["panel"].to_numpy(object), rows["curve"].to_numpy(object),
                      rows["x"].to_numpy(np.float64), rows["y"].to_numpy(np.float64),
                      rows["stderr"].fillna(0).to_numpy(np.float64), units)

    def value(key, default=None):
        v = row.get(key, default)
        return default if v is None or (not isinstance(v, str) and pd.isna(v)) else v

    outcome = Outcome(row["verdict"])
    verdict = None
    if outcome is not Outcome.ERROR:
        fields = {f: value(f, float("nan")) for f in Verdict.__dataclass_fields__
                  if f not in ("outcome",)}
        fields["weak"] = bool(value("weak", False))
        for f in ("kind", "reason", "worst_point", "foil_point", "power_point"):
            fields[f] = value(f, "")
        for f in ("n_points", "min_units"):
            fields[f] = int(value(f, 0))
        verdict = Verdict(outcome=outcome, **fields)
    prediction = series("prediction")
    tolerance = (points[points["kind"] == "prediction"].sort_values("idx")["tolerance"]
                 .to_numpy(np.float64) if prediction is not None else None)
    seeds = value("seeds", "")
    return LawResult(
        law=row["law"], claim=value("claim", ""), source=value("source", ""),
        pillar=value("pillar", ""), budget=value("budget", ""), seed=int(row["seed"]),
        params=json.loads(value("params", "{}")), outcome=outcome, verdict=verdict,
        panels=tuple(Panel(**p) for p in json.loads(value("panels", "[]"))),
        seconds=float(value("seconds", 0.0)), kind=value("kind", "empirical"),
        expected=value("expected", "CONFIRMED"), tolerance_kind=value("tolerance_kind", ""),
        tolerance_why=value("tolerance_why", ""), prediction=prediction,
        measurement=series("measurement"), foil=series("foil"), tolerance=tolerance,
        error=value("error"), params_hash=value("params_hash", ""),
        seeds=tuple(int(x) for x in seeds.split(",")) if seeds else (),
        spread=json.loads(value("spread")) if value("spread") else None,
    )
