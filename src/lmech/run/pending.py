"""Results that could not be written to the store, kept beside it until they can be.

When a law's result cannot be committed (the store was damaged mid-run, the disk was
full, another process held the lock past the timeout) the runner writes it here instead:
``DIR/pending/<run_id>__<law>__<seed>.json``, holding the ``results`` row and its
``points`` rows exactly as the store would have. A run's final status goes to
``DIR/pending/<run_id>.run.json`` the same way. The next `lmech verify` (or
`lmech store repair`) merges them into the store and deletes each file once merged.
Files are written atomically (a temporary file renamed into place), so a kill while
saving leaves either the whole file or none.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from pathlib import Path

import pandas as pd

__all__ = ["PENDING_DIR", "PendingResults"]

PENDING_DIR = "pending"


def _plain(value):
    if isinstance(value, datetime):
        return {"__datetime__": value.isoformat()}
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _restore(value):
    if isinstance(value, dict) and "__datetime__" in value:
        return datetime.fromisoformat(value["__datetime__"])
    return value


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


class PendingResults:
    """The sidecar directory of the store in `directory`."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / PENDING_DIR

    def save_result(self, row: dict, points: pd.DataFrame) -> Path:
        """Keep one law's ``results`` row and its points; returns the file written."""
        name = f"{_safe(row['run_id'])}__{_safe(row['law'])}__{row.get('seed', 0)}.json"
        payload = {"row": {k: _plain(v) for k, v in row.items()},
                   "points": [{k: _plain(v) for k, v in r.items()}
                              for r in points.to_dict(orient="records")]}
        return self._write(name, payload)

    def save_run_status(self, run_id: str, status: str, finished_at: datetime) -> Path:
        """Keep a run's final status for the store."""
        payload = {"run_id": run_id, "status": status, "finished_at": _plain(finished_at)}
        return self._write(f"{_safe(run_id)}.run.json", payload)

    def _write(self, name: str, payload: dict) -> Path:
        self.path.mkdir(parents=True, exist_ok=True)
        target = self.path / name
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload))  # floats round-trip exactly; NaN as NaN
        os.replace(tmp, target)
        return target

    def results(self) -> list[tuple[Path, dict, pd.DataFrame]]:
        """(file, results row, points) of every kept result, oldest first."""
        out = []
        for file in self._files("*__*.json"):
            payload = json.loads(file.read_text())
            row = {k: _restore(v) for k, v in payload["row"].items()}
            out.append((file, row, pd.DataFrame.from_records(payload["points"])))
        return out

    def run_statuses(self) -> list[tuple[Path, dict]]:
        """(file, {run_id, status, finished_at}) of every kept run status."""
        out = []
        for file in self._files("*.run.json"):
            payload = json.loads(file.read_text())
            out.append((file, {k: _restore(v) for k, v in payload.items()}))
        return out

    def _files(self, pattern: str) -> list[Path]:
        if not self.path.is_dir():
            return []
        return sorted(self.path.glob(pattern), key=lambda p: p.stat().st_mtime)

    def __len__(self) -> int:
        return len(self._files("*.json"))
