"""Layer collapse: pruning masks that leave no path of kept weights from input to output.

A collapsed network computes a constant (SynFlow's R = 0) and cannot be trained (Tanaka,
Kunin, Yamins & Ganguli, NeurIPS 2020, arXiv:2006.05467, §3). `layer_collapse` checks a
set of masks on the network's own wiring; `critical_compression` scans compressions for
a method's first collapse. An emptied layer always disconnects a sequential network; in a
residual network an emptied shortcut does not, so emptied layers are reported beside the
verdict.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from lmech.errors import LmechError
from lmech.measure._pruning_nets import Layout, LinearisedNetwork
from lmech.measure.pruning import prune_masks
from lmech.measure.saliency import Masks, flat_mask, infer_input_shape, layout_of

__all__ = ["Collapse", "CriticalCompression", "critical_compression", "layer_collapse"]


@dataclass(frozen=True)
class Collapse:
    """Whether masks leave the input connected to the output.

    Attributes:
        connected: some path of kept weights joins the input to the output.
        empty_layers: weight tensors with nothing kept (in a sequential network any one of
            them disconnects it; a residual shortcut can empty without disconnecting).
    """

    connected: bool
    empty_layers: tuple[str, ...]

    @property
    def collapsed(self) -> bool:
        """Layer collapse: no input–output path is left."""
        return not self.connected


def layer_collapse(model: nn.Module, masks: Masks,
                   input_shape: Sequence[int] | None = None) -> Collapse:
    """Check masks for layer collapse on the network's own wiring.

    The check runs the path network: prunable weights replaced by their masks (each layer
    scaled by 1/its largest kept fan-in, so activations stay ≤ 1 and nothing overflows),
    biases and normalisation shifts set to zero, normalisation scales made positive,
    float64. It is connected when the summed output on 𝟙 exceeds that on 0, or depends on
    the input at 𝟙 (exact for activations that are non-decreasing and map 0 to 0, like
    ReLU; for other non-decreasing ones a path's effect could round away).
    """
    layout = layout_of(model, biases=False)
    shape = tuple(input_shape) if input_shape is not None else infer_input_shape(model)
    mask = flat_mask(model, layout, {k: v for k, v in masks.items() if k in layout.names})
    empty = tuple(n for n, m in layout.views(mask).items() if not bool(m.any()))
    net = LinearisedNetwork(model, layout, shape, norms="running", shifts=False)
    with torch.no_grad():
        for name, module in net.net.named_modules():
            if name and isinstance(getattr(module, "bias", None), torch.Tensor):
                module.bias.zero_()
    weights = _path_weights(layout, mask).to(net.abs_theta)
    x = net.ones.clone().requires_grad_()
    net.ones = x
    r_one = net.flow(weights)
    (grad,) = torch.autograd.grad(r_one, x)
    with torch.no_grad():
        net.ones = torch.zeros_like(x)
        r_zero = net.flow(weights)
    return Collapse(bool(r_one.detach() > r_zero) or bool((grad != 0).any()), empty)


def _path_weights(layout: Layout, mask: torch.Tensor) -> torch.Tensor:
    parts = []
    for m in layout.views(mask.double()).values():
        fan_in = m.reshape(m.shape[0], -1).sum(1).max() if m.dim() > 1 else m.new_tensor(1.0)
        parts.append(m.reshape(-1) / fan_in.clamp(min=1))
    return torch.cat(parts)


@dataclass(frozen=True)
class CriticalCompression:
    """A scan of compressions for the first layer collapse of one method.

    Attributes:
        method: the pruning method.
        compressions: the compressions tried, ascending (the scan stops at the first
            collapse).
        collapsed: whether each one disconnected the network.
        empty_layers: the weight tensors each one emptied.
    """

    method: str
    compressions: tuple[float, ...]
    collapsed: tuple[bool, ...]
    empty_layers: tuple[tuple[str, ...], ...]

    @property
    def critical(self) -> float:
        """The largest compression tried before the first collapse (nan if none held)."""
        first = self.first_collapse
        held = [c for c in self.compressions if first is None or c < first]
        return max(held) if held else math.nan

    @property
    def first_collapse(self) -> float | None:
        """The smallest compression that collapsed the network (None if none did)."""
        bad = [c for c, b in zip(self.compressions, self.collapsed, strict=True) if b]
        return min(bad) if bad else None

    @property
    def first_empty_layer(self) -> float | None:
        """The smallest compression that emptied some weight tensor (None if none did);
        equal to `first_collapse` in a sequential network."""
        bad = [c for c, e in zip(self.compressions, self.empty_layers, strict=True) if e]
        return min(bad) if bad else None


def critical_compression(model: nn.Module | Callable[[], nn.Module], method: str,
                         compressions: Sequence[float] | None = None, *,
                         input_shape: Sequence[int] | None = None, stop: bool = True,
                         **prune_kwargs: object) -> CriticalCompression:
    """Prune at each compression (ascending) and record which ones collapse the network.

    The critical compression of Tanaka et al. (2020, §3) is the largest ρ a method reaches
    without layer collapse; on a grid it is known to within the grid's step (`critical`
    is the last ρ that held, `first_collapse` the first that did not).

    Args:
        model: a network, or a factory called once to build it.
        method: one of `METHODS`.
        compressions: the grid of ρ to try (each 1 < ρ ≤ N); by default 10^(k/4),
            k = 1, 2, … up to the number N of prunable weights.
        input_shape: one sample's shape (SynFlow's input and the path check).
        stop: end the scan at the first collapse.
        prune_kwargs: passed to `prune_masks` (data, loss, iterations, seed).

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> scan = critical_compression(net, "synflow", [2, 4, 8])
        >>> scan.critical, scan.first_collapse
        (8.0, None)
    """
    net = model if isinstance(model, nn.Module) else model()
    if not isinstance(net, nn.Module):
        raise LmechError(f"the model factory returned {type(net).__name__}, not an "
                         "nn.Module")
    if compressions is None:
        total = layout_of(net, bool(prune_kwargs.get("biases", False))).numel
        compressions = [10 ** (k / 4) for k in range(1, int(4 * math.log10(total)) + 1)]
    grid = sorted(float(c) for c in compressions)
    if not grid:
        raise LmechError("critical_compression needs at least one compression to try")
    shape = tuple(input_shape) if input_shape is not None else infer_input_shape(net)
    tried, collapsed, emptied = [], [], []
    for rho in grid:
        masks = prune_masks(net, method, rho, input_shape=shape, **prune_kwargs)
        check = layer_collapse(net, masks, shape)
        tried.append(rho)
        collapsed.append(check.collapsed)
        emptied.append(check.empty_layers)
        if stop and check.collapsed:
            break
    return CriticalCompression(method, tuple(tried), tuple(collapsed), tuple(emptied))
