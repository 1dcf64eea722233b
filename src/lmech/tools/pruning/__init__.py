"""Pruning at initialisation on any ``nn.Module``, SynFlow's data-free pruning first.

- `prune` returns a pruned copy of a network (or prunes it in place on request): global
  masks by SynFlow (iterative and data-free, Tanaka et al., NeurIPS 2020), magnitude,
  random, SNIP or GraSP, applied with ``torch.nn.utils.prune`` so the result trains with
  `torch.optim` and saves with ``state_dict``.
- `layer_table` is what is left of each layer (`LayerTable.lines()`, `.frame()`).
- `critical_compression` scans compressions for a method's first layer collapse (no path
  from input to output); `layer_collapse` checks one set of masks.
- `save_pruned` / `load_pruned` write a pruned network and load it into a fresh instance.

The scores, masks and the collapse check are observables of networks and live in
`lmech.measure` (`prune_masks`, `synflow_scores`, …); this package is the user-facing layer
on top, and `lmech prune FILE.py:factory` its command. The theory and what is computed
where: ``docs/theory/pruning.md``.
"""

from lmech.measure.collapse import (
    Collapse,
    CriticalCompression,
    critical_compression,
    layer_collapse,
)
from lmech.measure.pruning import METHODS, NORM_MODES, prune_masks
from lmech.tools.pruning.apply import apply_masks, prune
from lmech.tools.pruning.checkpoint import load_pruned, save_pruned, writable_checkpoint
from lmech.tools.pruning.table import LayerRow, LayerTable, layer_table

__all__ = [
    "METHODS",
    "NORM_MODES",
    "Collapse",
    "CriticalCompression",
    "LayerRow",
    "LayerTable",
    "apply_masks",
    "critical_compression",
    "layer_collapse",
    "layer_table",
    "load_pruned",
    "prune",
    "prune_masks",
    "save_pruned",
    "writable_checkpoint",
]
