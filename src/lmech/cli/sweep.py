"""`lmech sweep`: one law over a grid of parameters and seeds."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from lmech.budgets import BUDGETS
from lmech.cli.output import fail, out_option
from lmech.cli.verify import parse_overrides, results_tables
from lmech.errors import LmechError

__all__ = ["parse_grid", "sweep_command"]


def parse_grid(pairs: list[str] | None) -> dict[str, list[Any]]:
    """``["width=16,32", "spectrum=[[3,1],[4,1]]"]`` → ``{"width": [16, 32], "spectrum":
    [[3, 1], [4, 1]]}``: a JSON list is the list of values; else values separated by
    commas, each read as ``--set`` reads a value."""
    grid: dict[str, list[Any]] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not key or not raw:
            raise LmechError(f"--grid expects key=v1,v2,…, got {pair!r}")
        if key in grid:
            raise LmechError(f"--grid {key} given twice")
        try:
            values = json.loads(raw)
        except json.JSONDecodeError:
            values = None
        if not isinstance(values, list):
            values = [parse_overrides([f"{key}={v}"])[key] for v in raw.split(",")]
        grid[key] = values
    return grid


def sweep_command(
    law: Annotated[str, typer.Argument(help="The law to sweep.")],
    grid: Annotated[list[str] | None, typer.Option(
        "--grid", help="key=v1,v2,… (repeatable; the grid is their product).")] = None,
    budget: Annotated[str, typer.Option(help=f"One of {', '.join(BUDGETS)}.")] = "quick",
    seeds: Annotated[str, typer.Option(help="Seeds, e.g. 0:4 or 0,4,7.")] = "0",
    out: Annotated[Path, out_option] = Path("lmech-runs"),
    device: Annotated[str, typer.Option(help="torch device, e.g. cpu or cuda:0.")] = "cpu",
    backend: Annotated[str, typer.Option(help="local, or ray (pip install 'lmech[ray]').")
                       ] = "local",
    address: Annotated[str | None, typer.Option(
        help="Ray: host:port of a running cluster (default: start a local one).")] = None,
    jobs: Annotated[int, typer.Option(
        help="local: tasks at a time, each in a worker process.")] = 1,
    threads_per_task: Annotated[int | None, typer.Option(
        help="torch threads per task (default: 1 on Ray; locally the cores, at most 2, "
             "shared among the jobs).")] = None,
    resume: Annotated[bool, typer.Option(
        help="Skip the tasks this lmech version already stored.")] = False,
) -> None:
    """Run one law over a grid of parameters and seeds; draw each swept parameter.

    Exits 0 when every grid point's verdict is what the law book records, 1 otherwise.
    """
    from lmech import laws as law_book
    from lmech.report.figures import png_bytes
    from lmech.report.sweep_figures import sweep_figures
    from lmech.run import parse_seeds
    from lmech.run.sweep import sweep

    console = Console()
    try:
        chosen = law_book.get_law(law)
        values = parse_grid(grid)
        summary = sweep(chosen, values, out=out, budget=budget, seed=parse_seeds(seeds),
                        device=device, command=" ".join(sys.argv), backend=backend,
                        address=address, threads=threads_per_task, resume=resume,
                        jobs=jobs)
        def point(result) -> str:
            return " ".join(f"{k}={json.dumps(result.params.get(k))}" for k in values)

        for table in results_tables(summary.results, label=point):
            console.print(table)
        for key, fig in sweep_figures(summary.results, list(values)).items():
            path = out / f"sweep-{summary.run_id}-{key}.png"
            try:
                path.write_bytes(png_bytes(fig))
            except OSError as err:
                raise LmechError(f"cannot write {path}: {err}") from None
            console.print(f"figure: {path}", highlight=False, soft_wrap=True)
        console.print(f"store: {summary.store.path} (run {summary.run_id})", highlight=False,
                      soft_wrap=True)
        console.print(summary.summary_line(), highlight=False)
    except LmechError as err:
        raise fail(err) from None
    raise typer.Exit(0 if summary.as_expected else 1)
