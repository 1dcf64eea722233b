"""Prune a user's network: global masks from `lmech.measure`, applied with
``torch.nn.utils.prune`` so the result is an ordinary module.

Each pruned tensor ``w`` becomes the parameter ``w_orig`` and the buffer ``w_mask``, and
``w = w_orig * w_mask`` is recomputed before every forward pass
(``prune.custom_from_mask``): pruned weights stay zero while `torch.optim` trains the
rest, and ``state_dict`` carries the masks. ``torch.nn.utils.prune.remove`` makes the
zeros permanent when training is over.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune as torch_prune

from lmech.errors import LmechError
from lmech.measure._pruning_nets import deep_copy
from lmech.measure.pruning import prune_masks

__all__ = ["apply_masks", "prune"]


def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> nn.Module:
    """Apply ``{name: bool mask}`` to `model` in place with ``prune.custom_from_mask``.

    A tensor that already carries a mask keeps it: the masks combine (both must keep an
    entry). Returns `model`.

    Raises:
        LmechError: a name is not a parameter of one of the model's layers, or a mask's
            shape differs from its tensor's.
    """
    for name, mask in masks.items():
        module_name, _, attr = name.rpartition(".")
        try:
            module = model.get_submodule(module_name)
        except AttributeError:
            raise LmechError(f"mask for {name}: the model has no layer {module_name!r}") from None
        tensor = getattr(module, attr, None)
        if not isinstance(tensor, torch.Tensor):
            raise LmechError(f"mask for {name}: {module_name or 'the model'} has no tensor "
                             f"{attr!r}")
        if tuple(mask.shape) != tuple(tensor.shape):
            raise LmechError(f"mask for {name} has shape {tuple(mask.shape)}; the tensor has "
                             f"shape {tuple(tensor.shape)}")
        torch_prune.custom_from_mask(module, attr, mask.to(tensor.device))
    return model


def prune(model: nn.Module, method: str = "synflow", compression: float = 10.0, *,
          input_shape: Sequence[int] | None = None,
          data: tuple[torch.Tensor, torch.Tensor] | None = None,
          loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
          iterations: int | None = None, biases: bool = False, seed: int = 0,
          norms: str = "flow", inplace: bool = False) -> nn.Module:
    """`model` pruned to compression ρ = N_total / N_kept by `method`, masks global.

    Args:
        model: any ``nn.Module``; the weights of its ``nn.Linear`` and ``nn.Conv1d/2d/3d``
            layers are prunable (their biases too with ``biases=True``); normalisation
            layers are never pruned. A model already pruned keeps its masks, and ρ counts
            everything removed, before and now.
        method: ``"synflow"`` (data-free, iterative), ``"magnitude"``, ``"random"``,
            ``"snip"`` or ``"grasp"`` (these two need `data`).
        compression: ρ, with 1 < ρ ≤ N_total.
        input_shape: one sample's shape, for SynFlow (read from a first ``nn.Linear``
            when omitted), e.g. ``(3, 32, 32)``.
        data, loss: one batch ``(inputs, targets)`` and the loss, for SNIP and GraSP.
        iterations: steps of the exponential schedule (SynFlow 100, others 1).
        biases: prune biases too.
        seed: the random method's stream.
        norms: SynFlow's normalisation layers, ``"flow"`` (default) or ``"running"``
            (`lmech.measure.prune_masks`).
        inplace: prune `model` itself; by default a deep copy is pruned and `model` is
            left as it was.

    Returns:
        The pruned module (`model` itself when ``inplace=True``).

    Example:
        >>> net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
        >>> pruned = prune(net, "synflow", compression=10)
        >>> int(pruned[0].weight_mask.sum() + pruned[2].weight_mask.sum()), hasattr(net[0],
        ...     "weight_mask")
        (19, False)
    """
    masks = prune_masks(model, method, compression, input_shape=input_shape, data=data,
                        loss=loss, iterations=iterations, biases=biases, seed=seed,
                        norms=norms)
    target = model if inplace else deep_copy(model)
    return apply_masks(target, masks)
