"""`lmech laws`, `lmech show` and `lmech report`: reading the law book and the store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from lmech.budgets import BUDGETS
from lmech.cli.output import VERDICT_STYLE, error_line, fail, out_option
from lmech.errors import LmechError

__all__ = ["law_book_markdown", "laws_command", "report_command", "show_command"]


def laws_command(
    out: Annotated[Path, out_option] = Path("lmech-runs"),
    markdown: Annotated[bool, typer.Option(
        help="Print the law book as the README's Markdown table.")] = False,
) -> None:
    """List every law with its kind, pillar and last verdict (`lmech show LAW` for more)."""
    from lmech import laws as law_book
    from lmech.run import Store

    if markdown:
        typer.echo(law_book_markdown())
        return
    try:
        latest = Store(out).latest_results()
    except LmechError as err:
        raise fail(err) from None
    last = dict(zip(latest["law"], latest["verdict"], strict=True)) if len(latest) else {}
    table = Table(title="lmech law book", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("law", overflow="fold")
    table.add_column("kind", no_wrap=True)
    table.add_column("pillar", overflow="fold")
    table.add_column("last verdict", no_wrap=True)
    for law in law_book.select_laws():
        verdict = last.get(law.name, "—")
        style = VERDICT_STYLE.get(verdict, "")
        table.add_row(law.name, law.kind.value, law.pillar.value,
                      f"[{style}]{verdict}[/{style}]" if style else verdict)
    Console().print(table)


def law_book_markdown() -> str:
    """The law book as a Markdown table (the README's, generated from the registry)."""
    from lmech import laws as law_book

    rows = ["| law | kind | pillar | claim | source |", "|---|---|---|---|---|"]
    for law in law_book.select_laws():
        claim = law.claim + (f" Recorded finding: {law.finding}" if law.finding else "")
        cells = (f"`{law.name}`", law.kind.value, law.pillar.value, claim, law.source)
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)


def show_command(
    law: Annotated[str, typer.Argument(help="Law name.")],
    out: Annotated[Path, out_option] = Path("lmech-runs"),
) -> None:
    """Show a law: claim, source, tolerance, parameters, budgets and its last results."""
    from lmech import laws as law_book
    from lmech.run import Store

    console = Console()
    try:
        chosen = law_book.get_law(law)
        history = Store(out).results(chosen.name)
    except LmechError as err:
        raise fail(err) from None
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
        console.print(line, highlight=False)
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
        style = VERDICT_STYLE.get(r["verdict"], "")
        run = r["run_id"] + ("" if r["run_status"] != "interrupted" else " (interrupted)")
        runs.add_row(str(r["finished_at"])[:16], run, r["budget"], str(r["seed"]),
                     f"[{style}]{r['verdict']}[/{style}]", f"{r['seconds']:.1f}")
    console.print(runs)
    for _, r in history.head(5).iterrows():
        why = error_line(r["error"]) if r["verdict"] == "ERROR" else r.get("reason")
        if isinstance(why, str) and why:
            console.print(f"{r['run_id']}: {why}", highlight=False, soft_wrap=True)


def _constraints(metadata: list) -> str:
    symbols = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤", "min_length": "length ≥",
               "max_length": "length ≤"}
    parts = [f"{symbol} {getattr(m, key)}" for m in metadata
             for key, symbol in symbols.items() if getattr(m, key, None) is not None]
    return ", ".join(parts) or "any"


def report_command(out: Annotated[Path, out_option] = Path("lmech-runs")) -> None:
    """Render the store in OUT to OUT/report.html."""
    from lmech.report import render_report

    try:
        path = render_report(out)
    except LmechError as err:
        raise fail(err) from None
    Console().print(f"report: {path}", highlight=False, soft_wrap=True)
