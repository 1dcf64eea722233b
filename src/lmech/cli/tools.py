"""`lmech scaling fit` and `lmech critical`: the practitioner tools on the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lmech.cli.output import fail
from lmech.errors import LmechError

__all__ = ["critical_command", "scaling_app"]

scaling_app = typer.Typer(help="Fit scaling laws to your own runs.", no_args_is_help=True)


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
        raise fail(err) from None
    for line in result.lines():
        typer.echo(line)

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
        raise fail(err) from None
