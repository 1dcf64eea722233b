"""`lmech store repair`: copy a damaged store's readable rows into a fresh one.

The damaged file is moved aside (``lmech.duckdb.damaged-<time>``), never deleted. Each
table is read whole if it can be, else in slices of `SLICE` rows by row id, skipping the
slices that touch a damaged block; what was read goes into a fresh store, and results
kept beside the store (`lmech.run.pending`) are merged after. A zero-byte or
unrecognisable file yields no rows but still a working store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from lmech.run.store import STORE_FILE, TABLES, Store, StoreDamaged
from lmech.run.writer_lock import WriterLock

__all__ = ["RepairReport", "repair_store"]

SLICE = 512


@dataclass(frozen=True)
class RepairReport:
    """What `repair_store` did.

    Attributes:
        moved_to: where the damaged file now is (None when the store was healthy).
        copied: rows copied per table.
        lost_slices: slices of `SLICE` rows that could not be read, per table.
        merged: results merged from the pending sidecars.
    """

    moved_to: Path | None
    copied: dict[str, int] = field(default_factory=dict)
    lost_slices: dict[str, int] = field(default_factory=dict)
    merged: int = 0

    def lines(self) -> list[str]:
        if self.moved_to is None:
            return ["the store is healthy; nothing to repair",
                    f"merged {self.merged} kept results"]
        out = [f"moved the damaged store to {self.moved_to}"]
        for table in TABLES:
            lost = self.lost_slices.get(table, 0)
            out.append(f"{table}: {self.copied.get(table, 0)} rows copied"
                       + (f", {lost} slices of {SLICE} unreadable" if lost else ""))
        out.append(f"merged {self.merged} kept results")
        return out


def repair_store(directory: str | Path) -> RepairReport:
    """Repair the store in `directory` (see the module docstring); a healthy store is left
    as it is and only the pending results are merged."""
    store = Store(directory)
    try:
        store.check()
    except StoreDamaged:
        pass
    else:
        return RepairReport(None, merged=store.merge_pending())
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    with WriterLock(store.directory).hold(exclusive=True):
        moved = store.path.with_name(f"{STORE_FILE}.damaged-{stamp}")
        store.path.rename(moved)
        wal = store.path.with_name(STORE_FILE + ".wal")
        if wal.exists():
            wal.rename(moved.with_name(moved.name + ".wal"))
        frames, lost = _read_what_can_be_read(moved)
    copied = {}
    with store._connect() as con:
        for table in TABLES:
            frame = frames.get(table)
            if frame is None or frame.empty:
                copied[table] = 0
                continue
            known = [c for c in frame.columns if c in _columns(con, table)]
            con.register("rows", frame[known])
            verb = "INSERT" if table == "points" else "INSERT OR IGNORE"  # keyed tables
            con.execute(f"{verb} INTO {table} ({', '.join(known)}) "
                        f"SELECT {', '.join(known)} FROM rows")
            con.unregister("rows")
            copied[table] = len(frame)
    return RepairReport(moved, copied, lost, store.merge_pending())


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
        [table]).fetchall()}


def _read_what_can_be_read(path: Path) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
    frames: dict[str, pd.DataFrame] = {}
    lost: dict[str, int] = {}
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return frames, lost  # not a DuckDB file at all: nothing to copy
    try:
        for table in TABLES:
            try:
                frames[table] = con.execute(f"SELECT * FROM {table}").df()
                continue
            except duckdb.CatalogException:
                continue
            except duckdb.Error:
                pass
            frames[table], lost[table] = _read_in_slices(con, table)
    finally:
        con.close()
    return frames, lost


def _read_in_slices(con: duckdb.DuckDBPyConnection, table: str) -> tuple[pd.DataFrame, int]:
    try:
        total = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    except duckdb.Error:
        return pd.DataFrame(), 1
    parts, lost = [], 0
    for start in range(0, int(total), SLICE):
        try:
            parts.append(con.execute(
                f"SELECT * FROM {table} WHERE rowid >= ? AND rowid < ?",
                [start, start + SLICE]).df())
        except duckdb.Error:
            lost += 1
    return (pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()), lost
