"""The `lmech` command. Each command lives in a module of its own and imports the heavy
parts of lmech (torch, the laws, the store) only when it runs, so `lmech --help` is fast.
"""

from __future__ import annotations

import typer

from lmech.cli.book import law_book_markdown, laws_command, report_command, show_command
from lmech.cli.env import env_command
from lmech.cli.hparams import coord_check_command
from lmech.cli.prune import prune_command
from lmech.cli.store import store_app
from lmech.cli.sweep import sweep_command
from lmech.cli.tools import critical_command, scaling_app
from lmech.cli.verify import parse_overrides, verify_command

__all__ = ["app", "law_book_markdown", "parse_overrides"]

app = typer.Typer(
    name="lmech",
    help="A laboratory for learning mechanics: checkable laws of how neural networks learn.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode="markdown",
)
app.command("verify")(verify_command)
app.command("sweep")(sweep_command)
app.command("laws")(laws_command)
app.command("show")(show_command)
app.command("report")(report_command)
app.command("critical")(critical_command)
app.command("env")(env_command)
app.command("prune")(prune_command)
app.command("coord-check")(coord_check_command)
app.add_typer(scaling_app, name="scaling")
app.add_typer(store_app, name="store")
