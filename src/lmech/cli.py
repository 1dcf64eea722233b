"""The `lmech` command: run the law book, show laws, render the report."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
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
                  "ERROR": "bright_black"}


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
    def __init__(self, progress: Progress):
        self.progress = progress
        self.tasks: dict[str, Any] = {}

    def law_started(self, law: AbstractLaw) -> None:
        self.tasks[law.name] = self.progress.add_task(law.name, total=1.0)

    def law_progress(self, law: AbstractLaw, fraction: float) -> None:
        self.progress.update(self.tasks[law.name], completed=min(max(fraction, 0.0), 1.0))

    def law_finished(self, law: AbstractLaw, result: LawResult) -> None:
        style = _VERDICT_STYLE[result.outcome.value]
        self.progress.update(
            self.tasks[law.name], completed=1.0,
            description=f"{law.name} [{style}]{result.outcome.value}[/{style}]",
        )


def _fmt(x: float | None) -> str:
    if x is None or x != x:
        return "—"
    return "∞" if x == float("inf") else f"{x:.3g}"


def _results_table(results: tuple[LawResult, ...]) -> Table:
    table = Table(title="lmech verify")
    table.add_column("law", no_wrap=True)
    table.add_column("claim", ratio=1, overflow="fold")
    for col in ("verdict", "agreement z", "foil z", "seconds"):
        table.add_column(col, no_wrap=True)
    for r in results:
        v = r.verdict
        style = _VERDICT_STYLE[r.outcome.value]
        table.add_row(
            r.law, r.claim, f"[{style}]{r.outcome.value}[/{style}]",
            f"{_fmt(v.agreement_z)} ≤ {_fmt(v.z_critical)}" if v else "—",
            f"{_fmt(v.foil_z)} > {_fmt(v.z_critical)}" if v else "—",
            f"{r.seconds:.1f}",
        )
    return table


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

    Exits 0 when every law is CONFIRMED, 1 when any is REFUTED, INCONCLUSIVE or ERROR.
    """
    from lmech.report import render_report

    console = Console()
    try:
        if budget not in BUDGETS:
            raise LmechError(f"unknown budget {budget!r}; allowed: {', '.join(BUDGETS)}")
        _check_device(device)
        chosen = select_laws(laws)
        overrides = parse_overrides(set_)
        with Progress(
            TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(), console=console, transient=False,
        ) as progress:
            summary = verify(
                chosen, out=out, budget=budget, seed=seed, overrides=overrides, device=device,
                observer=_ProgressObserver(progress), command=" ".join(sys.argv),
            )
        console.print(_results_table(summary.results))
        if report:
            console.print(f"report: {render_report(out)}")
        console.print(f"store: {summary.store.path} (run {summary.run_id})")
    except LmechError as err:
        raise _fail(err) from None
    except KeyboardInterrupt:
        Console(stderr=True).print(
            f"interrupted: every law finished before Ctrl-C is in {out / 'lmech.duckdb'}"
        )
        raise typer.Exit(130) from None
    raise typer.Exit(0 if summary.all_confirmed else 1)


def _check_device(device: str) -> None:
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise LmechError(f"unknown device {device!r}; use e.g. cpu or cuda:0") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise LmechError(f"device {device!r} is not available here; use cpu")


@app.command("laws")
def laws_command(out: Annotated[Path, out_option] = Path("lmech-runs")) -> None:
    """List every law with its claim, source, pillar and last verdict in the store."""
    try:
        latest = Store(out).latest_results()
    except LmechError as err:
        raise _fail(err) from None
    last = dict(zip(latest["law"], latest["verdict"], strict=True)) if len(latest) else {}
    table = Table(title="lmech law book")
    table.add_column("law", no_wrap=True)
    table.add_column("pillar")
    table.add_column("claim", ratio=2, overflow="fold")
    table.add_column("source", ratio=1, overflow="fold")
    table.add_column("last verdict", no_wrap=True)
    for law in select_laws():
        verdict = last.get(law.name, "—")
        style = _VERDICT_STYLE.get(verdict, "")
        table.add_row(law.name, law.pillar.value, law.claim, law.source,
                      f"[{style}]{verdict}[/{style}]" if style else verdict)
    Console().print(table)


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
    console.print(f"[bold]{chosen.name}[/bold] ({chosen.pillar.value})")
    console.print(f"claim:  {chosen.claim}")
    console.print(f"source: {chosen.source}")
    if chosen.finding:
        console.print(f"finding: {chosen.finding}")
    table = Table(title="parameters")
    table.add_column("name", no_wrap=True)
    for col in ("type", "allowed", *BUDGETS, "description"):
        table.add_column(col, overflow="fold")
    values = {b: chosen.parameters(b).model_dump(mode="json") for b in BUDGETS}
    for name, field in chosen.Params.model_fields.items():
        allowed = _constraints(field.metadata)
        table.add_row(
            name, getattr(field.annotation, "__name__", str(field.annotation)), allowed,
            *(json.dumps(values[b][name]) for b in BUDGETS), field.description or "",
        )
    console.print(table)
    if history.empty:
        console.print(f"no results in {Store(out).path} yet")
        return
    runs = Table(title="last results")
    for col in ("finished", "run", "budget", "seed", "verdict", "agreement z", "foil z",
                "seconds"):
        runs.add_column(col, no_wrap=True)
    for _, r in history.head(5).iterrows():
        style = _VERDICT_STYLE.get(r["verdict"], "")
        runs.add_row(
            str(r["finished_at"])[:19], r["run_id"], r["budget"], str(r["seed"]),
            f"[{style}]{r['verdict']}[/{style}]", _fmt(r["agreement_z"]), _fmt(r["foil_z"]),
            f"{r['seconds']:.1f}",
        )
    console.print(runs)


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
    from lmech.scaling import fit_report

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
    from lmech.init import critical_summary, plot_flows

    try:
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

