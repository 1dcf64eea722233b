"""The embedded DuckDB store: one file of runs, results and points, readable without lmech.

The tables are described in `lmech.run.schema`. Nothing computed is lost:

- each law's result and points are written in one transaction, on a connection opened
  for it and closed straight after, so a crash or Ctrl-C loses at most the law in flight
  and never leaves half of one;
- every connection is taken under the store's writer lock (`lmech.run.writer_lock`), so
  concurrent runs on one directory take turns instead of failing;
- a result that cannot be written is kept beside the store (`lmech.run.pending`) and
  merged by the next run;
- a damaged store is found before any law runs (`Store.check`) and named, with the way
  out (`lmech store repair`);
- a run whose process has gone reads as ``interrupted``, not ``running``.

Read it without lmech::

    import duckdb
    duckdb.connect("lmech-runs/lmech.duckdb", read_only=True).sql("select * from results")
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from lmech.errors import LmechError
from lmech.run.pending import PendingResults
from lmech.run.schema import (
    LawResult,
    RunInfo,
    has_tables,
    migrate,
    points_frame,
    result_row,
)
from lmech.run.writer_lock import LockTimeout, WriterLock

__all__ = ["STORE_FILE", "LawResult", "RunInfo", "Store", "StoreDamaged"]

STORE_FILE = "lmech.duckdb"
TABLES = ("runs", "results", "points")


class StoreDamaged(LmechError):
    """The store file cannot be read; the message says how to get out."""


def _damaged(path: Path, err: Exception) -> StoreDamaged:
    detail = " ".join(str(err).split())[:160]
    return StoreDamaged(
        f"the store {path} is damaged ({detail}); nothing was lost from this run. Move it "
        f"aside, or run `lmech store repair --out {path.parent}` to copy its readable rows "
        "into a fresh store"
    )


class Store:
    """The DuckDB file ``lmech.duckdb`` in `directory`.

    Args:
        directory: where the store lives (created on first write).
        waiting: called with a description of the other process when a connection has
            waited a second for the writer lock.
        lock_timeout: seconds to wait for the lock before a write goes to a sidecar.
    """

    def __init__(self, directory: str | Path, *, waiting: Callable[[str], None] | None = None,
                 lock_timeout: float = 300.0) -> None:
        self.directory = Path(directory)
        self.waiting = waiting
        self.lock_timeout = lock_timeout
        self._migrated = False  # this object has brought the file to the current schema
        self._held: duckdb.DuckDBPyConnection | None = None  # a burst's shared connection

    @property
    def path(self) -> Path:
        return self.directory / STORE_FILE

    @property
    def pending(self) -> PendingResults:
        return PendingResults(self.directory)

    @contextmanager
    def _connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        lock = WriterLock(self.directory, self.lock_timeout, self.waiting)
        with lock.hold(exclusive=not read_only):
            try:
                con = duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.Error as err:
                raise _damaged(self.path, err) from None
            try:
                if not read_only and not self._migrated:
                    migrate(con)
                    self._migrated = True
                yield con
            finally:
                con.close()

    # --- health ---------------------------------------------------------------------------

    def check(self) -> None:
        """Read every row of every table; a store that cannot be read is named.

        Raises:
            StoreDamaged: the file is not a readable DuckDB store.
        """
        if not self.path.exists():
            return
        try:
            with self._connect(read_only=True) as con:
                names = {r[0] for r in con.execute(
                    "SELECT table_name FROM information_schema.tables").fetchall()}
                for table in TABLES:
                    if table in names:
                        con.execute(f"SELECT * FROM {table}")
                        while con.fetchmany(8192):
                            pass
        except duckdb.Error as err:
            raise _damaged(self.path, err) from None

    def merge_pending(self) -> int:
        """Write the results kept beside the store into it; returns how many merged."""
        merged = 0
        for file, row, points in self.pending.results():
            with self._connect() as con:
                exists = con.execute(
                    "SELECT count(*) FROM results WHERE run_id = ? AND law = ? AND seed = ? "
                    "AND params_hash = ?", [row["run_id"], row["law"], row.get("seed", 0),
                                            row.get("params_hash", "")]).fetchone()[0]
                if not exists:
                    _insert(con, row, points)
            file.unlink()
            merged += 1
        for file, status in self.pending.run_statuses():
            with self._connect() as con:
                con.execute("UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?",
                            [status["status"], status["finished_at"], status["run_id"]])
            file.unlink()
        return merged

    # --- writing --------------------------------------------------------------------------

    def start_run(self, info: RunInfo) -> None:
        row = {**asdict(info), "status": "running", **_process_identity()}
        with self._connect() as con:
            con.execute(f"INSERT INTO runs ({', '.join(row)}) "
                        f"VALUES ({', '.join(['?'] * len(row))})", list(row.values()))

    def finish_run(self, run_id: str, status: str) -> Path | None:
        """Mark a run finished or interrupted; a status that cannot be written is kept in a
        sidecar (returned) instead."""
        now = datetime.now()
        try:
            with self._connect() as con:
                con.execute("UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?",
                            [status, now, run_id])
        except (LmechError, duckdb.Error, OSError, LockTimeout):
            return self.pending.save_run_status(run_id, status, now)
        return None

    @contextmanager
    def burst(self) -> Iterator[None]:
        """Hold one connection (and the writer lock) while several results are recorded
        in a row, each still in its own transaction: when results arrive faster than a
        connection opens (many Ray workers), the driver keeps up. A store that cannot be
        opened leaves `record` to keep each result beside it."""
        with ExitStack() as stack:
            try:
                self._held = stack.enter_context(self._connect())
            except (LmechError, duckdb.IOException, OSError, LockTimeout):
                self._held = None  # each record then tries on its own, or keeps a sidecar
            try:
                yield
            finally:
                self._held = None

    def record(self, run_id: str, result: LawResult) -> Path | None:
        """Write one law's result and all its points in a single transaction.

        Returns None when written; when the store cannot take it (damaged, full disk,
        locked past the timeout), the sidecar file that keeps it for the next run.
        """
        row = result_row(run_id, result)
        points = points_frame(run_id, result)
        try:
            if self._held is not None:
                _insert(self._held, row, points)
                return None
            with self._connect() as con:
                _insert(con, row, points)
        except (LmechError, duckdb.IOException, duckdb.InternalException,
                duckdb.FatalException, OSError, LockTimeout):
            return self.pending.save_result(row, points)
        return None

    # --- reading --------------------------------------------------------------------------

    def _query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        if not self.path.exists():
            return pd.DataFrame()
        try:
            with self._connect(read_only=True) as con:
                if not has_tables(con):
                    return pd.DataFrame()
                return con.execute(sql, params or []).df()
        except (duckdb.IOException, duckdb.InternalException, duckdb.FatalException) as err:
            raise _damaged(self.path, err) from None
        except duckdb.Error as err:
            if "checksum" in str(err).lower() or "corrupt" in str(err).lower():
                raise _damaged(self.path, err) from None
            raise

    def runs(self) -> pd.DataFrame:
        """Every run, newest first; a ``running`` run whose process is gone reads as
        ``interrupted``."""
        runs = self._query("SELECT * FROM runs ORDER BY started_at DESC")
        if len(runs):
            runs["status"] = [_effective_status(r) for _, r in runs.iterrows()]
        return runs

    def results(self, law: str | None = None) -> pd.DataFrame:
        """Results (optionally of one law), newest first, with their run's metadata and
        its effective status (``run_status``)."""
        where, params = ("WHERE law = ?", [law]) if law else ("", [])
        frame = self._query(f"SELECT * FROM results {where} ORDER BY finished_at DESC", params)
        if frame.empty:
            return frame
        runs = self.runs()[["run_id", "started_at", "torch_version", "device",
                            "lmech_version", "status"]].rename(columns={"status": "run_status"})
        return frame.merge(runs, on="run_id", how="left")

    def latest_results(self) -> pd.DataFrame:
        """The newest headline result of each law, sorted by law: the verdict pooled over
        its run's seeds where there is one, else its one seed's."""
        return self._query(
            "SELECT * FROM results QUALIFY row_number() OVER "
            "(PARTITION BY law ORDER BY finished_at DESC, seed ASC) = 1 ORDER BY law"
        )

    def run_results(self, run_id: str) -> pd.DataFrame:
        """Every result of one run (each seed, pooled verdicts, sweep points)."""
        return self._query("SELECT * FROM results WHERE run_id = ? ORDER BY law, seed",
                           [run_id])

    def points(self, run_id: str, law: str, seed: int | None = None,
               params_hash: str | None = None) -> pd.DataFrame:
        """The points of one law in one run (of one seed and parameter set, when given;
        a result's own points when both are)."""
        sql, args = "SELECT * FROM points WHERE run_id = ? AND law = ?", [run_id, law]
        if seed is not None:
            sql += " AND (seed = ? OR seed IS NULL)"
            args.append(int(seed))
        if params_hash is not None:
            sql += " AND coalesce(params_hash, '') = ?"
            args.append(params_hash)
        return self._query(sql, args)

    def finished(self, budget: str, version: str) -> pd.DataFrame:
        """Results that count as done for `--resume`: law, seed, params_hash of every
        non-ERROR per-seed result at `budget` written by lmech `version`."""
        return self._query(
            "SELECT DISTINCT law, seed, params_hash, run_id FROM results WHERE budget = ? "
            "AND lmech_version = ? AND verdict <> 'ERROR' AND seed >= 0", [budget, version])

    def durations(self, budget: str) -> dict[str, float]:
        """Each law's median seconds per seed at `budget`, over the results stored."""
        frame = self._query(
            "SELECT law, median(seconds) AS seconds FROM results WHERE budget = ? "
            "AND verdict <> 'ERROR' AND seed >= 0 GROUP BY law", [budget])
        if frame.empty:
            return {}
        return dict(zip(frame["law"], frame["seconds"].astype(float), strict=True))

def _insert(con: duckdb.DuckDBPyConnection, row: dict, points: pd.DataFrame) -> None:
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"INSERT INTO results ({', '.join(row)}) "
                    f"VALUES ({', '.join(['?'] * len(row))})", list(row.values()))
        if len(points):
            con.register("new_points", points)
            con.execute(f"INSERT INTO points ({', '.join(points.columns)}) "
                        "SELECT * FROM new_points")
            con.unregister("new_points")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _process_start(pid: int) -> str | None:
    """The kernel's start time of process `pid` (Linux), telling a reused pid apart."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[19]  # field 22 of stat(5): starttime, in clock ticks after boot


def _process_identity() -> dict:
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "process_start": _process_start(pid)}


def _effective_status(run: pd.Series) -> str:
    """``interrupted`` for a ``running`` run whose process on this host is gone."""
    status = run.get("status")
    if status != "running":
        return status
    host, pid = run.get("host"), run.get("pid")
    if host is None or pd.isna(pid) or host != socket.gethostname():
        return status  # another machine, or an old store: we cannot tell
    pid = int(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "interrupted"
    except PermissionError:
        pass  # alive, owned by someone else
    start = run.get("process_start")
    if isinstance(start, str) and start and _process_start(pid) not in (None, start):
        return "interrupted"  # the pid now belongs to another process
    return status
