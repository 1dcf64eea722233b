"""Global pruning masks from saliency scores, and SynFlow's iterations.

Compression ρ = N / N_kept over the N prunable entries (weights of ``nn.Linear`` and
``nn.Conv1d/2d/3d``, biases too on request). A mask keeps exactly round(N/ρ) entries,
chosen globally across layers by score (the highest; GraSP's the lowest), ties broken by
position so the count is exact and the result reproducible.

Iterative pruning (Tanaka, Kunin, Yamins & Ganguli, NeurIPS 2020, arXiv:2006.05467,
Algorithm 1): for k = 1…n the scores are recomputed on the network masked so far and the
top ρ^(−k/n) fraction of all N entries is kept (the exponential schedule). SynFlow
defaults to n = 100 iterations, every other method to one shot.

Whether masks collapse a layer is `lmech.measure.collapse`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lmech.errors import LmechError
from lmech.measure._positive_norms import NORM_MODES
from lmech.measure._pruning_nets import Layout, LinearisedNetwork, model_tensors
from lmech.measure.saliency import (
    Batch,
    DataScores,
    LossFn,
    Masks,
    check_batch,
    flat_mask,
    infer_input_shape,
    layout_of,
)

__all__ = [
    "METHODS",
    "NORM_MODES",
    "keep_count",
    "prune_masks",
    "remaining_fractions",
]

METHODS = ("synflow", "magnitude", "snip", "grasp", "random")
DEFAULT_ITERATIONS = {"synflow": 100}


def keep_count(total: int, compression: float) -> int:
    """round(total / compression): the entries kept; an LmechError unless 1 < compression ≤
    total.

    Example:
        >>> keep_count(1000, 10)
        100
    """
    try:
        rho = float(compression)
    except (TypeError, ValueError):
        raise LmechError(f"compression must be a number > 1, got {compression!r}") from None
    if not math.isfinite(rho) or rho <= 1:
        raise LmechError(f"compression must be a finite number > 1 (N_total / N_kept), got "
                         f"{compression!r}")
    if rho > total:
        raise LmechError(f"compression {rho:g} would keep {total / rho:.3g} of the {total} "
                         f"prunable parameters (more pruned than exist); allowed: 1 < "
                         f"compression <= {total}")
    return max(1, round(total / rho))


def keep_top(ranking: torch.Tensor, alive: torch.Tensor, k: int) -> torch.Tensor:
    """The bool mask of the k alive entries ranked highest; ties go to the earlier entry."""
    candidates = ranking[alive]
    if k >= candidates.numel():
        return alive.clone()
    if not math.isfinite(float(candidates.sum())):  # one reduction finds any NaN or inf
        raise LmechError("pruning scores are not finite (NaN or inf); check the model's "
                         "weights, the data batch and the loss")
    threshold = torch.kthvalue(candidates.cpu(), candidates.numel() - k + 1).values
    keep = alive & (ranking > threshold.to(ranking.device))
    missing = k - int(keep.sum())
    if missing:  # ties at the threshold: the earliest ones, so the count is exact
        ties = torch.nonzero(alive & (ranking == threshold)).flatten()[:missing]
        keep[ties] = True
    return keep


def _scorer(model: nn.Module, method: str, layout: Layout, input_shape: tuple[int, ...] | None,
            data: Batch | None, loss: LossFn, seed: int,
            norms: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """mask ↦ flat ranking (higher = keep) for `method`; built once, called per iteration."""
    if method == "synflow":
        net = LinearisedNetwork(model, layout, input_shape or infer_input_shape(model), norms)
        return lambda mask: net.scores(mask)[0]
    if method in ("snip", "grasp"):
        scores = DataScores(model, layout, check_batch(data, method), loss)
        return scores.snip if method == "snip" else lambda mask: -scores.grasp(mask)
    if method == "magnitude":
        return lambda mask: layout.flatten(model_tensors(model, layout)).abs() * mask
    generator = torch.Generator().manual_seed(seed)
    return lambda mask: torch.rand(layout.numel, generator=generator, dtype=torch.float64)


def prune_masks(model: nn.Module, method: str = "synflow", compression: float = 10.0, *,
                input_shape: Sequence[int] | None = None, data: Batch | None = None,
                loss: LossFn = F.cross_entropy, iterations: int | None = None,
                biases: bool = False, seed: int = 0, norms: str = "flow") -> Masks:
    """Global masks keeping round(N/ρ) prunable entries by `method`'s scores.

    Args:
        model: any ``nn.Module``; never modified (scores use private copies).
        method: one of `METHODS`.
        compression: ρ = N / N_kept, with 1 < ρ ≤ N.
        input_shape: one sample's shape, for SynFlow's all-ones input (read from a first
            ``nn.Linear`` when omitted).
        data, loss: one batch ``(inputs, targets)`` and ``loss(outputs, targets)``, for
            SNIP and GraSP only.
        iterations: n of the exponential schedule (SynFlow 100, others 1 by default).
        biases: prune the layers' biases too.
        seed: the random method's stream.
        norms: how SynFlow's |θ| network normalises (`NORM_MODES`): ``"flow"`` divides
            each normalisation layer's input by its own root mean square in that network
            (the scale the layer applies in training), ``"running"`` by BatchNorm's
            running σ (evaluation mode, as Tanaka et al.'s code).

    Returns:
        ``{name: bool mask}`` in each tensor's shape (True = kept), on the model's device.

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> masks = prune_masks(net, "synflow", compression=4)
        >>> sum(int(m.sum()) for m in masks.values()), remaining_fractions(masks)["2.weight"] > 0
        (12, True)
    """
    if method not in METHODS:
        raise LmechError(f"unknown pruning method {method!r}; allowed: {', '.join(METHODS)}")
    if norms not in NORM_MODES:
        raise LmechError(f"unknown normalisation mode {norms!r}; allowed: "
                         f"{', '.join(NORM_MODES)}")
    layout = layout_of(model, biases)
    final = keep_count(layout.numel, compression)
    n = iterations if iterations is not None else DEFAULT_ITERATIONS.get(method, 1)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise LmechError(f"iterations must be an integer >= 1, got {iterations!r}")
    if method in ("snip", "grasp"):
        check_batch(data, method)
    shape = tuple(input_shape) if input_shape is not None else None
    ranking_of = _scorer(model, method, layout, shape, data, loss, seed, norms)
    rho = float(compression)
    mask = flat_mask(model, layout, None)
    for k in range(1, n + 1):
        kept = final if k == n else round(layout.numel * rho ** (-k / n))
        mask = keep_top(ranking_of(mask.to(_device(model))).cpu(), mask, kept)
    return {name: m.to(_device(model)) for name, m in layout.views(mask).items()}


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def remaining_fractions(masks: Masks) -> dict[str, float]:
    """The kept fraction of each masked tensor."""
    return {name: float(m.sum()) / m.numel() for name, m in masks.items()}
