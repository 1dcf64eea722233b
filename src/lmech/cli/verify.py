"""`lmech verify`: run laws, judge them, store the results, render the report."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from lmech.budgets import BUDGETS
from lmech.cli.output import VERDICT_STYLE, error_line, fail, fmt, out_option
from lmech.errors import LmechError

if TYPE_CHECKING:
    from lmech.laws import AbstractLaw
    from lmech.run import LawResult

__all__ = ["parse_overrides", "results_tables", "verify_command"]


def parse_overrides(pairs: list[str] | None) -> dict[str, Any]:
    """``["width=64", "spectrum=3,2,1"]`` -> ``{"width": 64, "spectrum": [3, 2, 1]}``.

    A value is read as JSON when it parses (numbers, lists, true/false), as a JSON list
    when it is comma-separated, and as a string otherwise; the law's parameters validate it.
    """
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise LmechError(f"--set expects key=value, got {pair!r}")
        out[key.strip()] = _parse_value(raw.strip())
    return out


def _parse_value(raw: str) -> Any:
    for text in (raw, f"[{raw}]" if "," in raw else None):
        if text is None:
            continue
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass
    return raw


class _ProgressObserver:
    """Progress bars on a terminal; without one, a plain line per law as it finishes."""

    def __init__(self, progress, total: int, console: Console):
        self.progress = progress
        self.total = total
        self.console = console
        self.done = 0
        self.tasks: dict[str, Any] = {}

    def law_started(self, law: AbstractLaw) -> None:
        if self.progress is not None:
            self.tasks[law.name] = self.progress.add_task(law.name, total=1.0)

    def law_progress(self, law: AbstractLaw, fraction: float) -> None:
        if self.progress is not None:
            self.progress.update(self.tasks[law.name], completed=min(max(fraction, 0.0), 1.0))

    def law_finished(self, law: AbstractLaw, result: LawResult) -> None:
        self.done += 1
        verdict = result.outcome.value
        if self.progress is None:
            typer.echo(f"[{self.done}/{self.total}] {law.name} {verdict} {result.seconds:.1f} s")
            return
        style = VERDICT_STYLE[verdict]
        self.progress.update(
            self.tasks[law.name], completed=1.0,
            description=f"[{self.done}/{self.total}] {law.name} [{style}]{verdict}[/{style}]",
        )

    def store_waiting(self, holder: str) -> None:
        Console(stderr=True).print(f"waiting for the store: {holder} is writing to it",
                                   highlight=False, soft_wrap=True)


def _verdict_cell(result: LawResult) -> str:
    from lmech.run.summary import is_expected

    outcome = result.outcome.value
    style = VERDICT_STYLE[outcome]
    mark = "" if is_expected(result) else " !"
    return f"[{style}]{outcome}[/{style}]{mark}"


def results_tables(results: tuple[LawResult, ...], label=None) -> list[Table]:
    """The verify tables, 80 columns wide: empirical laws, then identities.

    Empirical: agreement = the band reach (|m − h| + t·se)/tol at the worst point (≤ 1:
    shown inside every band); power = detectable deviation / gap to the foil on the weakest
    panel (> 0.5: weak); units = fewest independent units behind a point. Identities: the
    largest deviation as a fraction of the rounding tolerance. "!" marks an outcome the law
    book does not expect. `label(result)` names a row (default: the law's name).
    """
    label = label or (lambda r: r.law)
    empirical = [r for r in results if r.kind != "identity"]
    identities = [r for r in results if r.kind == "identity"]
    pooled = any(r.seeds for r in results)
    tables = []
    if empirical:
        table = Table(title="empirical laws", box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("law", overflow="fold")
        columns = ("verdict", "agreement", "power", "units", *(("seeds",) if pooled else ()),
                   "s")
        for col in columns:
            table.add_column(col, no_wrap=True, justify="left" if col == "verdict" else "right")
        for r in empirical:
            v = r.verdict
            power = "—" if v is None else fmt(v.power_ratio) + (" weak" if v.weak else "")
            table.add_row(
                label(r), _verdict_cell(r),
                fmt(v.agreement) if v else "—", power, str(v.min_units) if v else "—",
                *((_seed_counts(r),) if pooled else ()), f"{r.seconds:.1f}",
            )
        tables.append(table)
    if identities:
        table = Table(title="identities (not evidence)", box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("law", overflow="fold")
        columns = ("verdict", "deviation/tol", "relative", *(("seeds",) if pooled else ()),
                   "s")
        for col in columns:
            table.add_column(col, no_wrap=True, justify="left" if col == "verdict" else "right")
        for r in identities:
            v = r.verdict
            table.add_row(
                label(r), _verdict_cell(r),
                fmt(v.deviation) if v else "—", fmt(v.relative_deviation) if v else "—",
                *((_seed_counts(r),) if pooled else ()), f"{r.seconds:.1f}",
            )
        tables.append(table)
    return tables


_INITIAL = {"CONFIRMED": "C", "REFUTED": "R", "INCONCLUSIVE": "I", "ERROR": "E",
            "IDENTITY HOLDS": "H", "IDENTITY BROKEN": "B"}


def _seed_counts(result: LawResult) -> str:
    """Per-seed outcomes of a pooled verdict, e.g. ``3C 1I`` (C confirmed, I inconclusive,
    R refuted, E error, H holds, B broken)."""
    counts = (result.spread or {}).get("outcomes", {})
    if not counts:
        return "1"
    return " ".join(f"{n}{_INITIAL.get(k, '?')}" for k, n in sorted(counts.items()))


def verify_command(
    laws: Annotated[
        list[str] | None, typer.Argument(help="Law names or prefixes (default: all).")
    ] = None,
    budget: Annotated[str, typer.Option(help=f"One of {', '.join(BUDGETS)}.")] = "quick",
    seed: Annotated[int, typer.Option(help="Seed of every law's experiment.")] = 0,
    seeds: Annotated[str | None, typer.Option(
        help="Several seeds, e.g. 0:16 or 0,4,7: a verdict per seed and one pooled.")] = None,
    backend: Annotated[str, typer.Option(help="local, or ray (pip install 'lmech[ray]').")
                       ] = "local",
    address: Annotated[str | None, typer.Option(
        help="Ray: host:port of a running cluster (default: start a local one).")] = None,
    jobs: Annotated[int, typer.Option(
        help="local: (law, seed) tasks at a time, each in a worker process.")] = 1,
    threads_per_task: Annotated[int | None, typer.Option(
        help="torch threads per (law, seed) task (default: 1 on Ray; locally the cores, "
             "at most 2, shared among the jobs).")
    ] = None,
    resume: Annotated[bool, typer.Option(
        help="Skip the (law, seed, budget, parameters) this lmech version already stored.")
    ] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a parameter: key=value (repeatable)."),
    ] = None,
    out: Annotated[Path, out_option] = Path("lmech-runs"),
    device: Annotated[str, typer.Option(help="torch device, e.g. cpu or cuda:0.")] = "cpu",
    report: Annotated[bool, typer.Option(help="Render report.html when done.")] = True,
) -> None:
    """Run laws, judge them, store the results and render the report.

    Exits 0 when every verdict is what the law book records (CONFIRMED, IDENTITY HOLDS, or
    a recorded finding reproduced), 1 when any differs, 2 on bad input.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from lmech import laws as law_book
    from lmech.report import render_report
    from lmech.run import parse_seeds, verify

    console = Console()
    try:
        if budget not in BUDGETS:
            raise LmechError(f"unknown budget {budget!r}; allowed: {', '.join(BUDGETS)}")
        chosen = law_book.select_laws(laws)
        overrides = parse_overrides(set_)
        if seeds is not None and seed != 0:
            raise LmechError("give --seed or --seeds, not both")
        run_seeds = parse_seeds(seeds) if seeds is not None else seed
        bars = Progress(
            TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(), console=console, transient=False,
        ) if console.is_terminal else None
        observer = _ProgressObserver(bars, len(chosen), console)
        with bars if bars is not None else contextlib.nullcontext():
            summary = verify(
                chosen, out=out, budget=budget, seed=run_seeds, overrides=overrides,
                device=device, observer=observer, command=" ".join(sys.argv),
                backend=backend, address=address, threads=threads_per_task, resume=resume,
                jobs=jobs,
            )
        if summary.resumed:
            console.print(f"resumed: {summary.resumed} results taken from the store")
        if summary.merged:
            console.print(f"merged {summary.merged} results kept by earlier runs into the store")
        for table in results_tables(summary.results):
            console.print(table)
        for r in summary.results:
            if r.outcome.value == "ERROR":
                console.print(f"{r.law}: error: {error_line(r.error)}", highlight=False,
                              soft_wrap=True)
        for path in summary.kept:
            console.print(f"kept (the store could not take it; merged on the next run): {path}",
                          highlight=False, soft_wrap=True)
        if report:
            console.print(f"report: {render_report(out)}", highlight=False, soft_wrap=True)
        console.print(f"store: {summary.store.path} (run {summary.run_id})", highlight=False,
                      soft_wrap=True)
        console.print(summary.summary_line(), highlight=False)
    except LmechError as err:
        raise fail(err) from None
    except KeyboardInterrupt:
        Console(stderr=True).print(
            f"interrupted: every law finished before Ctrl-C is in {out / 'lmech.duckdb'}"
        )
        raise typer.Exit(130) from None
    raise typer.Exit(0 if summary.as_expected else 1)
