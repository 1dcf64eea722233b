"""`lmech sweep`: one law over a grid of parameters (and seeds), into the store.

Every grid point is the law's budget with the point's values on top, validated like
``--set``; each (point, seed) is a task of the chosen backend, and each point gets its
verdict (pooled over the seeds when there are several). The figures
(`lmech.report.sweep_figures`) show a statistic against each swept parameter, coloured by
verdict.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lmech.errors import LmechError
from lmech.laws import AbstractLaw
from lmech.run.runner import Observer, execute_plan
from lmech.run.summary import RunSummary

__all__ = ["grid_points", "sweep"]

MAX_POINTS = 10_000


def grid_points(law: AbstractLaw, grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The Cartesian product of `grid` as override dicts, each checked against the law.

    Raises:
        LmechError: an empty grid, an unknown parameter, a key without values, or too many
            points.
    """
    if not grid:
        raise LmechError("a sweep needs at least one --grid key=v1,v2,…")
    unknown = sorted(set(grid) - set(law.Params.model_fields))
    if unknown:
        raise LmechError(f"{law.name}: unknown parameter {', '.join(map(repr, unknown))}; "
                         f"allowed: {', '.join(law.Params.model_fields)}")
    for key, values in grid.items():
        if isinstance(values, (str, bytes)) or not len(values):
            raise LmechError(f"--grid {key}: give one or more values, e.g. {key}=1,2,3")
    size = 1
    for values in grid.values():
        size *= len(values)
    if size > MAX_POINTS:
        raise LmechError(f"the grid has {size} points; at most {MAX_POINTS}")
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(grid[k] for k in keys))]


def sweep(
    law: AbstractLaw,
    grid: Mapping[str, Sequence[Any]],
    *,
    out: str | Path = "lmech-runs",
    budget: str = "quick",
    seed: int | Sequence[int] = 0,
    device: str = "cpu",
    observer: Observer | None = None,
    command: str = "",
    backend: str = "local",
    address: str | None = None,
    threads: int | None = None,
    resume: bool = False,
    jobs: int = 1,
) -> RunSummary:
    """Run `law` at every point of `grid` (and every seed); see `lmech.run.verify`.

    Raises:
        LmechError: a bad grid or value (every point is validated before anything runs),
            or any of `verify`'s errors.
    """
    if not isinstance(law, AbstractLaw):
        raise LmechError(f"sweep takes one law object, got {law!r}")
    entries = [(law, law.parameters(budget, point)) for point in grid_points(law, grid)]
    return execute_plan(entries, out=out, budget=budget, seed=seed, device=device,
                        observer=observer, command=command, backend=backend,
                        address=address, threads=threads, resume=resume, jobs=jobs)
