"""The `lmech` command: run the law book, show laws, render the report."""

from __future__ import annotations

import contextlib
import json
import platform
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import lmech
from lmech.errors import LmechError
from lmech.laws import BUDGETS, AbstractLaw, get_law, select_laws
from lmech.run import LawResult, Store, verify

app = typer.Typer(
    name="lmech",
    help="A laboratory for learning mechanics: checkable laws of how neural networks learn.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)

out_option = typer.Option("--out", help="Directory of the store and the report.")
_VERDICT_STYLE = {"CONFIRMED": "green", "REFUTED": "red", "INCONCLUSIVE": "yellow",
                  "ERROR": "bright_black", "IDENTITY HOLDS": "cyan",
                  "IDENTITY BROKEN": "magenta"}


def _fail(err: LmechError) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {err}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


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

    def __init__(self, progress: Progress | None, total: int):
        self.progress = progress
        self.total = total
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
        style = _VERDICT_STYLE[verdict]
        self.progress.update(
            self.tasks[law.name], completed=1.0,
            description=f"[{self.done}/{self.total}] {law.name} [{style}]{verdict}[/{style}]",
        )


def _fmt(x: float | None) -> str:
    if x is None or x != x:
        return "—"
    return "∞" if x == float("inf") else f"{x:.2g}"


def _verdict_cell(outcome: str, expected: str) -> str:
    style = _VERDICT_STYLE[outcome]
    mark = "" if outcome == expected else " !"
    return f"[{style}]{outcome}[/{style}]{mark}"


def results_tables(results: tuple[LawResult, ...]) -> list[Table]:
    """The verify tables, 80 columns wide: empirical laws, then identities.

    Empirical: agreement = the band reach (|m − h| + t·se)/tol at the worst point (≤ 1:
    shown inside every band); power = detectable deviation / gap to the foil on the weakest
    panel (> 0.5: weak); units = fewest independent units behind a point. Identities: the
    largest deviation as a fraction of the rounding tolerance. "!" marks an outcome the law
    book does not expect.
    """
    empirical = [r for r in results if r.kind != "identity"]
    identities = [r for r in results if r.kind == "identity"]
    tables = []
    if empirical:
        table = Table(title="empirical laws", box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("law", overflow="fold")
        for col in ("verdict", "agreement", "power", "units", "s"):
            table.add_column(col, no_wrap=True, justify="left" if col == "verdict" else "right")
        for r in empirical:
            v = r.verdict
            power = "—" if v is None else _fmt(v.power_ratio) + (" weak" if v.weak else "")
            table.add_row(
                r.law, _verdict_cell(r.outcome.value, r.expected),
                _fmt(v.agreement) if v else "—", power, str(v.min_units) if v else "—",
                f"{r.seconds:.1f}",
            )
        tables.append(table)
    if identities:
        table = Table(title="identities (not evidence)", box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("law", overflow="fold")
        for col in ("verdict", "deviation/tol", "relative", "s"):
            table.add_column(col, no_wrap=True, justify="left" if col == "verdict" else "right")
        for r in identities:
            v = r.verdict
            table.add_row(
                r.law, _verdict_cell(r.outcome.value, r.expected),
                _fmt(v.deviation) if v else "—", _fmt(v.relative_deviation) if v else "—",
                f"{r.seconds:.1f}",
            )
        tables.append(table)
    return tables


def _error_line(error: str | None) -> str:
    """The last line of a traceback: the exception and its message."""
    lines = [line for line in (error or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "unknown error"


@app.command("verify")
def verify_command(
    laws: Annotated[
        list[str] | None, typer.Argument(help="Law names or prefixes (default: all).")
    ] = None,
    budget: Annotated[str, typer.Option(help=f"One of {', '.join(BUDGETS)}.")] = "quick",
    seed: Annotated[int, typer.Option(help="Seed of every law's experiment.")] = 0,
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
    from lmech.report import render_report

    console = Console()
    try:
        if budget not in BUDGETS:
            raise LmechError(f"unknown budget {budget!r}; allowed: {', '.join(BUDGETS)}")
        _check_device(device)
        chosen = select_laws(laws)
        overrides = parse_overrides(set_)
        bars = Progress(
            TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(), console=console, transient=False,
        ) if console.is_terminal else None
        observer = _ProgressObserver(bars, len(chosen))
        with bars if bars is not None else contextlib.nullcontext():
            summary = verify(
                chosen, out=out, budget=budget, seed=seed, overrides=overrides, device=device,
                observer=observer, command=" ".join(sys.argv),
            )
        for table in results_tables(summary.results):
            console.print(table)
        for r in summary.results:
            if r.outcome.value == "ERROR":
                console.print(f"{r.law}: error: {_error_line(r.error)}", highlight=False,
                              soft_wrap=True)
        if report:
            console.print(f"report: {render_report(out)}", highlight=False, soft_wrap=True)
        console.print(f"store: {summary.store.path} (run {summary.run_id})", highlight=False,
                      soft_wrap=True)
        console.print(summary.summary_line(), highlight=False)
    except LmechError as err:
        raise _fail(err) from None
    except KeyboardInterrupt:
        Console(stderr=True).print(
            f"interrupted: every law finished before Ctrl-C is in {out / 'lmech.duckdb'}"
        )
        raise typer.Exit(130) from None
    raise typer.Exit(0 if summary.as_expected else 1)


def _check_device(device: str) -> None:
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise LmechError(f"unknown device {device!r}; use e.g. cpu or cuda:0") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise LmechError(f"device {device!r} is not available here; use cpu")


@app.command("laws")
def laws_command(
    out: Annotated[Path, out_option] = Path("lmech-runs"),
    markdown: Annotated[bool, typer.Option(
        help="Print the law book as the README's Markdown table.")] = False,
) -> None:
    """List every law with its kind, pillar and last verdict (`lmech show LAW` for more)."""
    if markdown:
        typer.echo(law_book_markdown())
        return
    try:
        latest = Store(out).latest_results()
    except LmechError as err:
        raise _fail(err) from None
    last = dict(zip(latest["law"], latest["verdict"], strict=True)) if len(latest) else {}
    table = Table(title="lmech law book", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("law", overflow="fold")
    table.add_column("kind", no_wrap=True)
    table.add_column("pillar", overflow="fold")
    table.add_column("last verdict", no_wrap=True)
    for law in select_laws():
        verdict = last.get(law.name, "—")
        style = _VERDICT_STYLE.get(verdict, "")
        table.add_row(law.name, law.kind.value, law.pillar.value,
                      f"[{style}]{verdict}[/{style}]" if style else verdict)
    Console().print(table)


def law_book_markdown() -> str:
    """The law book as a Markdown table (the README's, generated from the registry)."""
    rows = ["| law | kind | pillar | claim | source |", "|---|---|---|---|---|"]
    for law in select_laws():
        claim = law.claim + (f" Recorded finding: {law.finding}" if law.finding else "")
        cells = (f"`{law.name}`", law.kind.value, law.pillar.value, claim, law.source)
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)


@app.command("show")
def show_command(
    law: Annotated[str, typer.Argument(help="Law name.")],
    out: Annotated[Path, out_option] = Path("lmech-runs"),
) -> None:
    """Show a law: claim, source, parameters, budgets and its last results."""
    console = Console()
    try:
        chosen = get_law(law)
        history = Store(out).results(chosen.name)
    except LmechError as err:
        raise _fail(err) from None
    basis = chosen.tolerance_basis
    lines = [
        f"[bold]{chosen.name}[/bold] ({chosen.kind.value}; {chosen.pillar.value})",
        f"claim:     {chosen.claim}",
        f"source:    {chosen.source}",
        f"tolerance: {basis.kind}: {basis.why}",
    ]
    if basis.pilot_seeds:
        lines.append(f"pilot:     seeds {', '.join(map(str, basis.pilot_seeds))}: "
                     f"{basis.pilot_measured}")
    lines.append(f"expected:  {chosen.expected_outcome}")
    if chosen.finding:
        lines.append(f"finding:   {chosen.finding}")
    for line in lines:
        console.print(line, soft_wrap=False)
    table = Table(title="parameters", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("name", no_wrap=True)
    for col in ("allowed", *BUDGETS, "description"):
        table.add_column(col, overflow="fold")
    values = {b: chosen.parameters(b).model_dump(mode="json") for b in BUDGETS}
    for name, field in chosen.Params.model_fields.items():
        table.add_row(name, _constraints(field.metadata),
                      *(json.dumps(values[b][name]) for b in BUDGETS), field.description or "")
    console.print(table)
    if history.empty:
        console.print(f"no results in {Store(out).path} yet", highlight=False, soft_wrap=True)
        return
    runs = Table(title="last results", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("finished", "run", "budget", "seed", "verdict", "s"):
        runs.add_column(col, no_wrap=col != "verdict")
    for _, r in history.head(5).iterrows():
        style = _VERDICT_STYLE.get(r["verdict"], "")
        runs.add_row(str(r["finished_at"])[:16], r["run_id"], r["budget"], str(r["seed"]),
                     f"[{style}]{r['verdict']}[/{style}]", f"{r['seconds']:.1f}")
    console.print(runs)
    for _, r in history.head(5).iterrows():
        why = _error_line(r["error"]) if r["verdict"] == "ERROR" else r.get("reason")
        if isinstance(why, str) and why:
            console.print(f"{r['run_id']}: {why}", highlight=False, soft_wrap=True)


def _constraints(metadata: list) -> str:
    symbols = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤", "min_length": "length ≥",
               "max_length": "length ≤"}
    parts = [f"{symbol} {getattr(m, key)}" for m in metadata
             for key, symbol in symbols.items() if getattr(m, key, None) is not None]
    return ", ".join(parts) or "any"


@app.command("report")
def report_command(out: Annotated[Path, out_option] = Path("lmech-runs")) -> None:
    """Render the store in OUT to OUT/report.html."""
    from lmech.report import render_report

    try:
        path = render_report(out)
    except LmechError as err:
        raise _fail(err) from None
    Console().print(f"report: {path}")


scaling_app = typer.Typer(help="Fit scaling laws to your own runs.", no_args_is_help=True)
app.add_typer(scaling_app, name="scaling")


@scaling_app.command("fit")
def scaling_fit_command(
    file: Annotated[Path, typer.Argument(help="CSV, Parquet, or an lmech store directory.")],
    x: Annotated[str, typer.Option("--x", help="Size columns, comma-separated.")] = "N,D",
    y: Annotated[str, typer.Option("--y", help="Loss column.")] = "loss",
    png: Annotated[Path, typer.Option(help="Where to draw the fit.")] = Path("scaling-fit.png"),
    holdout: Annotated[float, typer.Option(help="Fraction of largest runs held out.")] = 0.2,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the resampling.")] = 0,
    starts: Annotated[int | None, typer.Option(
        help="L-BFGS from this many best grid points (default: the full grid).")] = None,
    law: Annotated[str | None, typer.Option(help="Store only: the law's points.")] = None,
    panel: Annotated[str | None, typer.Option(help="Store only: the panel.")] = None,
) -> None:
    """Fit L = E + A/N^alpha + B/D^beta (Chinchilla Approach 3) with intervals; draw it."""
    from lmech.tools.scaling_fit import fit_report

    try:
        result = fit_report(file, [c.strip() for c in x.split(",")], y, png=png,
                            holdout=holdout, n_bootstrap=bootstrap, seed=seed, n_starts=starts,
                            law=law,
                            panel=panel)
    except LmechError as err:
        raise _fail(err) from None
    for line in result.lines():
        typer.echo(line)
@app.command("critical")
def critical_command(
    activation: Annotated[str, typer.Argument(help="Activation name, e.g. relu, tanh, gelu.")],
    plot: Annotated[bool, typer.Option(help="Draw kernel and vertex flows to a PNG.")] = False,
    png: Annotated[Path | None, typer.Option(help="Where --plot writes.")] = None,
) -> None:
    """Print an activation's critical point, universality class, χ's and depth scales."""
    from lmech.tools import critical_summary, plot_flows, writable_png

    try:
        if plot:  # refuse an unwritable --png before printing anything
            png = writable_png(png or Path(f"critical-{activation}.png"))
        summary = critical_summary(activation)
        for key, value in summary.items():
            typer.echo(f"{key}: {value:.6g}" if isinstance(value, float) else f"{key}: {value}")
        if plot:
            typer.echo(f"plot: {plot_flows(activation, png or Path(f'critical-{activation}.png'))}")
    except LmechError as err:
        raise _fail(err) from None


@app.command("env")
def env_command() -> None:
    """Print versions and hardware, for bug reports."""
    import os

    import numpy
    import torch

    lines = {
        "lmech": lmech.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch threads": torch.get_num_threads(),
        "cuda available": torch.cuda.is_available(),
        "numpy": numpy.__version__,
        "cpu count": os.cpu_count(),
    }
    for k, v in lines.items():
        typer.echo(f"{k}: {v}")


__all__ = ["app", "parse_overrides"]

