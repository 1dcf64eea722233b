"""Reading and checking the runs a scaling law is fitted to: CSV, Parquet or the lmech store.

Every problem with the data is an `LmechError` that names it — an unreadable file, a
missing column, a bad value (with its row), or data that cannot determine the law: a
constant loss, all runs at one size, a size column with fewer than three distinct values
(A/x^α plus the constant E is then not identified), or no more distinct sizes than the
law has parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from lmech.errors import LmechError
from lmech.run import STORE_FILE, Store

__all__ = ["load_runs", "read_store_points"]

_SNIFF_BYTES = 8192


def read_store_points(
    directory: str | Path, law: str | None = None, panel: str | None = None,
    curve: str | None = None,
) -> pd.DataFrame:
    """The measured points of each law's latest result in an lmech store.

    Args:
        directory: the store's directory (holding ``lmech.duckdb``) or that file itself.
        law, panel, curve: keep only these (all when None).
    Returns:
        columns law, panel, curve, x, y, stderr.
    Raises:
        LmechError: no store there, the store cannot be read, or no measured points match.
    """
    folder = Path(directory)
    if folder.is_file() and folder.name == STORE_FILE:
        folder = folder.parent
    if not (folder / STORE_FILE).is_file():
        raise LmechError(f"no lmech store at {directory} (expected a directory holding "
                         f"{STORE_FILE})")
    store = Store(folder)
    try:
        latest = store.latest_results()
        if law is not None and len(latest):
            known = sorted(latest["law"])
            latest = latest[latest["law"] == law]
            if latest.empty:
                raise LmechError(f"no results of law {law!r} in {store.path}; laws there: "
                                 f"{', '.join(known)}")
        frames = [store.points(run_id, name)
                  for run_id, name in zip(latest.get("run_id", []), latest.get("law", []),
                                          strict=True)]
    except duckdb.Error as err:  # the file opened but its tables are not a store's
        raise LmechError(f"cannot read the store {store.path}: "
                         f"{str(err).strip().splitlines()[0]}") from None
    points = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if len(points):
        keep = points["kind"] == "measurement"
        for column, value in (("panel", panel), ("curve", curve)):
            if value is not None:
                keep &= points[column] == value
        points = points[keep]
    if points.empty:
        raise LmechError(
            f"no measured points in {store.path} for law={law!r}, panel={panel!r}, "
            f"curve={curve!r}"
        )
    columns = ["law", "panel", "curve", "x", "y", "stderr"]
    return points[columns].reset_index(drop=True)


def _read(path: Path, **store_filter: str | None) -> pd.DataFrame:
    if not path.exists():
        raise LmechError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if path.is_dir() or path.name == STORE_FILE:
        return read_store_points(path, **store_filter)
    chosen = [f"{k}={v!r}" for k, v in store_filter.items() if v is not None]
    if chosen:
        raise LmechError(f"{', '.join(chosen)} selects points in an lmech store, but {path} "
                         "is a file; drop it, or give the store's directory")
    if suffix == ".csv":
        return _read_csv(path)
    if suffix in (".parquet", ".pq"):
        try:
            with duckdb.connect() as con:
                return con.execute("SELECT * FROM read_parquet(?)", [str(path)]).df()
        except duckdb.Error as err:
            raise LmechError(f"cannot read {path} as Parquet: "
                             f"{str(err).strip().splitlines()[0]}") from None
    raise LmechError(
        f"cannot read {path}: allowed are .csv, .parquet or an lmech store (a directory "
        f"holding {STORE_FILE})"
    )


def _read_csv(path: Path) -> pd.DataFrame:
    with open(path, "rb") as f:
        head = f.read(_SNIFF_BYTES)
    if b"\0" in head:
        raise LmechError(f"{path} is not a text CSV file (it holds binary data)")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise LmechError(f"{path} is empty: a CSV needs a header line (e.g. N,D,loss) and "
                         "one row per run") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise LmechError(f"cannot read {path} as CSV: "
                         f"{str(err).strip().splitlines()[0]}") from None
    if frame.empty:
        raise LmechError(f"{path} has a header but no rows: one row per run is needed")
    return frame


def load_runs(
    data: pd.DataFrame | str | Path, x: Sequence[str], y: str, n_parameters: int,
    **store_filter: str | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sizes ``(n, J)`` and losses ``(n,)`` as float64, checked.

    Raises:
        LmechError: the data cannot be read, a named column is missing or not numeric, a
            value is not finite or not > 0 (the message names the row and column), or the
            data cannot determine a law with `n_parameters` parameters (see the module
            docstring).
    """
    if isinstance(data, pd.DataFrame):
        _read_nothing_else(store_filter)
        frame = data
    else:
        frame = _read(Path(data), **store_filter)
    columns = [*x, y]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        shown = ", ".join(repr(str(c)) for c in frame.columns[:12])
        more = f" and {len(frame.columns) - 12} more" if len(frame.columns) > 12 else ""
        raise LmechError(
            f"column {', '.join(map(repr, missing))} not in the data; columns are: "
            f"{shown}{more}"
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
    sizes = np.stack([values[c] for c in x], axis=1)
    _check_determined(sizes, values[y], tuple(x), y, n_parameters)
    return sizes, values[y]


def _read_nothing_else(store_filter: dict[str, str | None]) -> None:
    chosen = [f"{k}={v!r}" for k, v in store_filter.items() if v is not None]
    if chosen:
        raise LmechError(f"{', '.join(chosen)} selects points in an lmech store, but the "
                         "data given is a DataFrame")


def _check_determined(sizes: np.ndarray, loss: np.ndarray, x: tuple[str, ...], y: str,
                      n_parameters: int) -> None:
    """Refuse data from which the law's parameters cannot be determined."""
    n = len(loss)
    if n <= n_parameters:
        raise LmechError(
            f"{n} points cannot fit a model with {n_parameters} parameters; need at least "
            f"{n_parameters + 1} rows"
        )
    if np.ptp(np.log(loss)) <= 1e-12:
        raise LmechError(f"column {y!r} is {loss[0]:.6g} in every row: a constant loss "
                         "shows no dependence on size, so there is no law to fit")
    points = np.unique(sizes, axis=0)
    if len(points) == 1:
        at = ", ".join(f"{c}={v:.4g}" for c, v in zip(x, points[0], strict=True))
        raise LmechError(f"all {n} rows are at one size ({at}): a scaling law needs runs at "
                         "different sizes")
    for j, c in enumerate(x):
        distinct = np.unique(sizes[:, j])
        if len(distinct) < 3:
            shown = ", ".join(f"{v:.4g}" for v in distinct)
            raise LmechError(f"column {c!r} takes only {len(distinct)} distinct values "
                             f"({shown}); its term A/{c}^exponent needs at least 3 to be "
                             "told apart from the constant E")
    if len(points) <= n_parameters:
        raise LmechError(
            f"only {len(points)} distinct ({', '.join(x)}) points among {n} rows (repeated "
            f"runs at one size count once); a model with {n_parameters} parameters needs "
            f"at least {n_parameters + 1}"
        )
