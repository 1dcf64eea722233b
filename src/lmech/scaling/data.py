"""Reading and checking the runs a scaling law is fitted to: CSV, Parquet or the lmech store."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lmech.errors import LmechError

__all__ = ["load_runs", "read_store_points"]


def read_store_points(
    directory: str | Path, law: str | None = None, panel: str | None = None,
    curve: str | None = None,
) -> pd.DataFrame:
    """The measured points of the latest run of `law` in an lmech store, columns x, y, stderr.

    Args:
        directory: the store's directory (holding ``lmech.duckdb``) or the file itself.
        law, panel, curve: keep only these (all when None).
    Raises:
        LmechError: no store there, or no measured points match.
    """
    import duckdb

    path = Path(directory)
    path = path / "lmech.duckdb" if path.is_dir() else path
    if not path.is_file():
        raise LmechError(f"no lmech store at {directory} (expected lmech.duckdb)")
    where, args = ["kind = 'measurement'"], []
    for column, value in (("law", law), ("panel", panel), ("curve", curve)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    sql = (
        "SELECT p.law, p.panel, p.curve, p.x, p.y, p.stderr FROM points p "
        "JOIN results r USING (run_id, law) "
        f"WHERE {' AND '.join(where)} AND r.finished_at = ("
        "SELECT max(finished_at) FROM results r2 WHERE r2.law = p.law)"
    )
    with duckdb.connect(str(path), read_only=True) as con:
        frame = con.execute(sql, args).df()
    if frame.empty:
        raise LmechError(
            f"no measured points in {path} for law={law!r}, panel={panel!r}, curve={curve!r}"
        )
    return frame


def _read(path: Path, **store_filter: str | None) -> pd.DataFrame:
    if not path.exists():
        raise LmechError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if path.is_dir() or suffix == ".duckdb":
        return read_store_points(path, **store_filter)
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix in (".parquet", ".pq"):
        import duckdb

        with duckdb.connect() as con:
            return con.execute("SELECT * FROM read_parquet(?)", [str(path)]).df()
    raise LmechError(
        f"cannot read {path}: allowed are .csv, .parquet or an lmech store (directory or "
        ".duckdb)"
    )


def load_runs(
    data: pd.DataFrame | str | Path, x: Sequence[str], y: str, n_parameters: int,
    **store_filter: str | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sizes ``(n, J)`` and losses ``(n,)`` as float64, checked.

    Raises:
        LmechError: a named column is missing or not numeric, a value is not finite or
            not > 0 (the message names the row and column), or there are no more points
            than the model has parameters.
    """
    frame = data if isinstance(data, pd.DataFrame) else _read(Path(data), **store_filter)
    columns = [*x, y]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise LmechError(
            f"column {', '.join(map(repr, missing))} not in the data; columns are: "
            f"{', '.join(map(str, frame.columns))}"
        )
    values = {}
    for c in columns:
        col = pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(col) | (col <= 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise LmechError(
                f"column {c!r}, row {frame.index[i]!r}: value {frame[c].iloc[i]!r} is not a "
                f"positive number ({int(bad.sum())} such rows); sizes and losses must be > 0"
            )
        values[c] = col
    n = len(frame)
    if n <= n_parameters:
        raise LmechError(
            f"{n} points cannot fit a model with {n_parameters} parameters; need at least "
            f"{n_parameters + 1} rows"
        )
    return np.stack([values[c] for c in x], axis=1), values[y]
