"""`lmech prune FILE.py:factory`: prune a user's network and print what is left of it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lmech.cli.output import fail
from lmech.errors import LmechError

__all__ = ["prune_command"]

DATA_FREE = ("synflow", "magnitude", "random")


def prune_command(
    target: Annotated[str, typer.Argument(
        help="FILE.py:factory or package.module:factory, a callable returning the network.")],
    method: Annotated[str, typer.Option(
        help="synflow, magnitude or random (snip and grasp need data: Python API).")
    ] = "synflow",
    compression: Annotated[float, typer.Option(help="N_total / N_kept, > 1.")] = 10.0,
    input_shape: Annotated[str | None, typer.Option(
        help="One sample's shape, e.g. 3,32,32 (read from a first nn.Linear if omitted).")
    ] = None,
    iterations: Annotated[int | None, typer.Option(
        help="Steps of the exponential schedule (synflow 100, others 1).")] = None,
    biases: Annotated[bool, typer.Option(help="Prune biases too.")] = False,
    norms: Annotated[str, typer.Option(
        help="SynFlow's normalisation layers: flow or running.")] = "flow",
    seed: Annotated[int, typer.Option(help="Seed of the random method.")] = 0,
    out: Annotated[Path | None, typer.Option(
        help="Write the pruned state_dict (weights and masks) here.")] = None,
) -> None:
    """Prune a network with global masks (SynFlow by default) and print each layer's rest."""
    try:
        lines = prune_lines(target, method, compression, input_shape, iterations, biases,
                            norms, seed, out)
    except LmechError as err:
        raise fail(err) from None
    for line in lines:
        typer.echo(line)


def prune_lines(target: str, method: str, compression: float, input_shape: str | None,
                iterations: int | None, biases: bool, norms: str, seed: int,
                out: Path | None) -> list[str]:
    """What `lmech prune` prints; every user error an LmechError found before the work."""
    if method not in DATA_FREE:
        from lmech.tools.pruning import METHODS

        if method in METHODS:
            raise LmechError(f"{method} needs a data batch, which the command line does not "
                             f"take; use lmech.tools.pruning.prune(model, {method!r}, "
                             f"compression, data=(inputs, targets)), or a data-free method: "
                             f"{', '.join(DATA_FREE)}")
        raise LmechError(f"unknown pruning method {method!r}; allowed here: "
                         f"{', '.join(DATA_FREE)}")
    shape = _shape(input_shape)
    from lmech.tools.pruning import layer_table, prune, save_pruned, writable_checkpoint
    from lmech.tools.user_model import load_model

    if out is not None:
        writable_checkpoint(out)
    model = load_model(target)
    if shape is None:
        from lmech.measure.saliency import infer_input_shape

        try:
            shape = infer_input_shape(model)
        except LmechError as err:
            raise LmechError(f"{err}; on the command line: --input-shape 3,32,32") from None
    pruned = prune(model, method, compression, input_shape=shape, iterations=iterations,
                   biases=biases, seed=seed, norms=norms, inplace=True)
    steps = iterations or (100 if method == "synflow" else 1)
    lines = [f"{target}: {method}, {steps} iteration{'s' * (steps > 1)}, "
             f"compression {compression:g}", *layer_table(pruned).lines()]
    if out is not None:
        lines.append(f"wrote {save_pruned(pruned, out)} (load with "
                     "lmech.tools.pruning.load_pruned(model, path))")
    return lines


def _shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        shape = tuple(int(p) for p in text.replace("x", ",").split(",") if p.strip())
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise LmechError(f"--input-shape must be positive integers separated by commas, "
                         f"e.g. 3,32,32; got {text!r}")
    return shape
