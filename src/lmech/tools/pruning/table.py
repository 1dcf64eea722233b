"""What is left of each layer after pruning: the table `lmech prune` prints."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from lmech.errors import LmechError

__all__ = ["LayerRow", "LayerTable", "layer_table"]

PRUNABLE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


@dataclass(frozen=True)
class LayerRow:
    """One prunable tensor: its name, layer type, shape, and entries kept of total."""

    name: str
    kind: str
    shape: tuple[int, ...]
    kept: int
    total: int

    @property
    def remaining(self) -> float:
        return self.kept / self.total if self.total else 0.0


@dataclass(frozen=True)
class LayerTable:
    """Per-layer remaining fractions of a (pruned) network."""

    rows: tuple[LayerRow, ...]

    @property
    def kept(self) -> int:
        return sum(r.kept for r in self.rows)

    @property
    def total(self) -> int:
        return sum(r.total for r in self.rows)

    @property
    def compression(self) -> float:
        """ρ = N_total / N_kept over the tensors in the table (inf when nothing is kept)."""
        return self.total / self.kept if self.kept else float("inf")

    @property
    def empty(self) -> tuple[str, ...]:
        """Tensors with nothing kept."""
        return tuple(r.name for r in self.rows if r.kept == 0)

    def frame(self) -> pd.DataFrame:
        """One row per tensor: name, kind, shape, kept, total, remaining."""
        return pd.DataFrame([{"name": r.name, "kind": r.kind, "shape": r.shape, "kept": r.kept,
                              "total": r.total, "remaining": r.remaining} for r in self.rows])

    def lines(self) -> list[str]:
        """The table as aligned text lines, with a total and any emptied layer named."""
        shapes = ["×".join(map(str, r.shape)) for r in self.rows]
        width = max([len(r.name) for r in self.rows] + [len("total")])
        kinds = max(len(r.kind) for r in self.rows)
        spans = max(len(s) for s in shapes)
        out = [f"{'layer':<{width}}  {'type':<{kinds}}  {'shape':<{spans}}  "
               f"{'kept':>10} / {'total':<10} remaining"]
        for r, shape in zip(self.rows, shapes, strict=True):
            out.append(f"{r.name:<{width}}  {r.kind:<{kinds}}  {shape:<{spans}}  "
                       f"{r.kept:>10,} / {r.total:<10,} {_percent(r.remaining):>9}")
        pad = width + kinds + spans + 6
        out.append(f"{'total':<{pad}}{self.kept:>10,} / {self.total:<10,} "
                   f"{_percent(self.kept / self.total):>9}   compression {self.compression:.4g}")
        if self.empty:
            out.append(f"emptied (0 % left): {', '.join(self.empty)}")
        return out


def _percent(x: float) -> str:
    if x == 0 or x >= 0.1:
        return f"{100 * x:.1f} %"
    return f"{100 * x:.2g} %"


def layer_table(model: nn.Module, masks: dict[str, torch.Tensor] | None = None) -> LayerTable:
    """The remaining fraction of every prunable tensor of `model`.

    Kept entries are read from `masks` (``{name: mask}``, as `lmech.measure.prune_masks`
    returns) where given, else from the ``torch.nn.utils.prune`` mask the layer carries;
    a layer never pruned counts as all kept. Biases appear when they were pruned.

    Raises:
        LmechError: `model` has no ``nn.Linear`` or ``nn.Conv1d/2d/3d`` layer.

    Example:
        >>> from torch.nn.utils import prune
        >>> net = nn.Sequential(nn.Linear(4, 2), nn.ReLU(), nn.Linear(2, 1))
        >>> _ = prune.custom_from_mask(net[0], "weight", torch.tensor([[1, 0, 0, 0]] * 2))
        >>> print("\\n".join(layer_table(net).lines()))  # doctest: +NORMALIZE_WHITESPACE
        layer     type    shape  kept / total      remaining
        0.weight  Linear  2×4       2 / 8          25.0 %
        2.weight  Linear  1×2       2 / 2         100.0 %
        total                       4 / 10         40.0 %   compression 2.5
    """
    masks = masks or {}
    rows = []
    for module_name, module in model.named_modules():
        if not isinstance(module, PRUNABLE):
            continue
        for attr in ("weight", "bias"):
            name = f"{module_name}.{attr}" if module_name else attr
            tensor = getattr(module, attr, None)
            mask = masks.get(name, getattr(module, f"{attr}_mask", None))
            if tensor is None or (attr == "bias" and mask is None):
                continue
            kept = tensor.numel() if mask is None else int(mask.bool().sum())
            rows.append(LayerRow(name, type(module).__name__, tuple(tensor.shape), kept,
                                 tensor.numel()))
    if not rows:
        raise LmechError(f"{type(model).__name__} has no prunable layer (nn.Linear, "
                         "nn.Conv1d/2d/3d) to tabulate")
    return LayerTable(tuple(rows))
