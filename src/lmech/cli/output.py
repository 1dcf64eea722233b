"""What every command prints the same way: errors, verdict colours, numbers."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

__all__ = ["VERDICT_STYLE", "error_line", "fail", "fmt", "out_option"]

out_option = typer.Option("--out", help="Directory of the store and the report.")

VERDICT_STYLE = {"CONFIRMED": "green", "REFUTED": "red", "INCONCLUSIVE": "yellow",
                 "ERROR": "bright_black", "IDENTITY HOLDS": "cyan",
                 "IDENTITY BROKEN": "magenta"}


def fail(err: Exception) -> typer.Exit:
    """Print a user's error as one line on stderr (no traceback); exit status 2."""
    Console(stderr=True).print(f"[red]error:[/red] {escape(str(err))}", highlight=False,
                               soft_wrap=True)
    return typer.Exit(2)


def fmt(x: float | None) -> str:
    """A statistic in two significant figures; — for a missing one."""
    if x is None or x != x:
        return "—"
    return "∞" if x == float("inf") else f"{x:.2g}"


def error_line(error: str | None) -> str:
    """The last line of a traceback: the exception and its message."""
    lines = [line for line in (error or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "unknown error"
