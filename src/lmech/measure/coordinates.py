"""Coordinate sizes of every layer's output, and how they scale with width.

A *coordinate check* (Yang, Hu et al. 2022, §D.1) trains the same architecture
at several widths n for a few steps and follows the typical size of each layer's output
coordinates, RMS(h) = (mean_i h_i²)^½, and of their change since initialisation,
RMS(h_t − h_0) on a fixed batch. Under μP every such size is Θ(1) in n: the fitted
exponent s of RMS ∝ n^s is 0 up to finite-width corrections. Under the standard
parametrisation with a learning rate held fixed the updates grow, s > 0 (for SGD: ½ for
hidden layers, 1 for the readout; for Adam: 1 for both).

`module_outputs` records outputs through forward hooks installed by one context manager
that always removes them; `width_exponent` fits s with its standard error.

Source: Yang, Hu et al., "Tensor Programs V" (arXiv:2203.03466), §D.1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from lmech.errors import LmechError

__all__ = ["WidthExponent", "module_outputs", "rms", "width_exponent"]


def rms(x: torch.Tensor) -> float:
    """(mean of x²)^½ over every entry of `x`, in float64."""
    return float(x.detach().double().pow(2).mean().sqrt())


def _parameter_owners(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, m) for name, m in model.named_modules()
            if any(True for _ in m.parameters(recurse=False))]


@contextmanager
def module_outputs(model: nn.Module, modules: Iterable[str] | None = None,
                   rename: Callable[[str], str] | None = None
                   ) -> Iterator[dict[str, torch.Tensor]]:
    """Record each module's output of every forward pass while the block runs.

    Yields a dict that the hooks fill, name → a detached copy of the output of the module's
    most recent call (for a tuple output such as ``nn.MultiheadAttention``'s, its first
    tensor); ``""`` is the model's own output. The hooks are removed on exit, also when
    the body raises.

    Args:
        model: any ``nn.Module``.
        modules: names (as in ``named_modules``) to record; default: every module that
            owns a parameter itself, and the model.
        rename: maps a module's name to the key it is recorded under (e.g. to drop a
            wrapper's segment), applied to the defaults and to `modules` alike.

    Raises:
        LmechError: a name in `modules` is not a module of `model`.

    Example:
        >>> net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
        >>> with module_outputs(net) as out:
        ...     _ = net(torch.zeros(2, 3))
        >>> sorted(out), net[0]._forward_hooks
        (['', '0', '2'], OrderedDict())
    """
    named = dict(model.named_modules())
    if modules is None:
        chosen = [name for name, _ in _parameter_owners(model)]
        chosen += [""] if "" not in chosen else []
    else:
        chosen = list(modules)
        missing = [n for n in chosen if n not in named]
        if missing:
            raise LmechError(f"no module {missing[0]!r} in {type(model).__name__}; modules "
                             f"are named as in named_modules(), e.g. {list(named)[1:4]}")
    key = rename or (lambda name: name)
    outputs: dict[str, torch.Tensor] = {}
    handles = []

    def recorder(label: str):
        def hook(_module, _inputs, output):
            tensor = output[0] if isinstance(output, tuple | list) else output
            if isinstance(tensor, torch.Tensor):
                # a copy: an in-place op after the module (ReLU(inplace=True)) would
                # otherwise rewrite the record
                outputs[label] = tensor.detach().clone()
        return hook

    try:
        for name in chosen:
            handles.append(named[name].register_forward_hook(recorder(key(name))))
        yield outputs
    finally:
        for handle in handles:
            handle.remove()


@dataclass(frozen=True)
class WidthExponent:
    """The fitted power s of a size ∝ nˢ across widths, with its standard error.

    Attributes:
        slope: s, the least-squares slope of log size against log width.
        stderr: its standard error from the fit's residuals (NaN with two widths).
    """

    slope: float
    stderr: float


def width_exponent(widths: Iterable[float], sizes: Iterable[float]) -> WidthExponent:
    """Least-squares slope of log(size) against log(width): the exponent s of size ∝ nˢ.

    stderr = (Σ r² / (k−2) / Σ (log n − mean)²)^½ for k widths and residuals r.

    Raises:
        LmechError: fewer than two widths, lengths that differ, or a width or size that is
            not positive and finite.

    Example:
        >>> round(width_exponent([64, 128, 256], [1.0, 2.0, 4.0]).slope, 12)
        1.0
    """
    n = np.asarray(list(widths), dtype=np.float64)
    y = np.asarray(list(sizes), dtype=np.float64)
    if n.shape != y.shape or n.ndim != 1 or len(n) < 2:
        raise LmechError(f"width_exponent needs ≥ 2 widths and one size per width; got "
                         f"{len(n)} widths and {len(y)} sizes")
    if not (np.all(np.isfinite(n)) and np.all(n > 0) and np.all(np.isfinite(y))
            and np.all(y > 0)):
        raise LmechError(f"widths and sizes must be positive and finite; got widths "
                         f"{n.tolist()} and sizes {y.tolist()}")
    x, ly = np.log(n), np.log(y)
    dx = x - x.mean()
    sxx = float(dx @ dx)
    if sxx == 0.0:
        raise LmechError(f"width_exponent needs at least two different widths; got {n.tolist()}")
    slope = float(dx @ (ly - ly.mean())) / sxx
    if len(n) < 3:
        return WidthExponent(slope, float("nan"))
    resid = ly - ly.mean() - slope * dx
    return WidthExponent(slope, float(np.sqrt(resid @ resid / (len(n) - 2) / sxx)))
