"""`lmech coord-check`: the μP coordinate check on a user's own network."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lmech.cli.output import fail
from lmech.errors import LmechError

__all__ = ["coord_check_command", "parse_widths"]


def parse_widths(text: str) -> list[int]:
    """``"64,128,256"`` → [64, 128, 256]; an LmechError naming the bad item otherwise."""
    widths = []
    for item in text.split(","):
        try:
            widths.append(int(item.strip()))
        except ValueError:
            raise LmechError(f"--widths must be comma-separated integers (e.g. 64,128,256), "
                             f"got {item.strip()!r} in {text!r}") from None
    return widths


def coord_check_command(
    factory: Annotated[str, typer.Argument(
        help="FILE.py:factory or package.module:factory; factory(width) → nn.Module.")],
    widths: Annotated[str, typer.Option(help="Widths, comma-separated, increasing.")]
    = "64,128,256,512",
    base_width: Annotated[int | None, typer.Option(
        help="Width the hyperparameters were tuned at (default: the smallest).")] = None,
    parametrisation: Annotated[str, typer.Option(help="mup or standard.")] = "mup",
    optimizer: Annotated[str, typer.Option(help="sgd or adam.")] = "adam",
    lr: Annotated[float | None, typer.Option(help="Base learning rate (0.1 sgd, 0.01 adam).")]
    = None,
    steps: Annotated[int, typer.Option(help="Optimizer steps per width.")] = 3,
    zero_readout: Annotated[bool, typer.Option(help="Start μP readouts at zero.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of initialisation and data.")] = 0,
    png: Annotated[Path | None, typer.Option(help="Draw size and update vs width here.")]
    = None,
) -> None:
    """Train each width a few steps; print each layer's exponent s of update ∝ widthˢ
    (≈ 0 under μP; > 0 where a learning rate tuned narrow will blow up wide)."""
    import torch

    from lmech.tools import writable_png
    from lmech.tools.hparams import coord_check
    from lmech.tools.user_model import load_factory

    try:
        sizes = parse_widths(widths)
        out = writable_png(png) if png is not None else None
        model_fn = load_factory(factory)
        result = coord_check(model_fn, sizes, base_width=base_width,
                             parametrisation=parametrisation, optimizer=optimizer, lr=lr,
                             steps=steps, zero_readout=zero_readout,
                             generator=torch.Generator().manual_seed(seed))
        for line in result.lines():
            typer.echo(line)
        if out is not None:
            try:
                result.figure().savefig(out, format="png", dpi=100)
            except OSError as err:
                raise LmechError(f"cannot write the figure to {out}: {err.strerror}") from None
            typer.echo(f"plot: {out}")
    except LmechError as err:
        raise fail(err) from None
