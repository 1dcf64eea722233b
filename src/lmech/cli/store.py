"""`lmech store check` and `lmech store repair`: a store's health, and the way out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lmech.cli.output import fail, out_option
from lmech.errors import LmechError

__all__ = ["store_app"]

store_app = typer.Typer(help="Check or repair the store in --out.", no_args_is_help=True)


@store_app.command("check")
def store_check_command(out: Annotated[Path, out_option] = Path("lmech-runs")) -> None:
    """Read every row of the store; exit 2 with the way out if it is damaged."""
    from lmech.run import Store

    store = Store(out)
    try:
        store.check()
    except LmechError as err:
        raise fail(err) from None
    kept = len(store.pending)
    typer.echo(f"{store.path}: {'readable' if store.path.exists() else 'no store yet'}"
               + (f"; {kept} kept results wait to be merged" if kept else ""))


@store_app.command("repair")
def store_repair_command(out: Annotated[Path, out_option] = Path("lmech-runs")) -> None:
    """Move a damaged store aside, copy its readable rows into a fresh one, merge the
    results kept beside it."""
    from lmech.run.repair import repair_store

    try:
        report = repair_store(out)
    except LmechError as err:
        raise fail(err) from None
    for line in report.lines():
        typer.echo(line)
