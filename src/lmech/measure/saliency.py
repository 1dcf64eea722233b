"""Synaptic saliency: how much each weight matters, by the scores pruning ranks weights by.

Every score is computed on a private copy of the model (the user's module, its gradients
and its BatchNorm statistics are never touched), with the weights already pruned (`masks`,
and any ``torch.nn.utils.prune`` masks the model carries) set to zero. Scores cover the
weights of ``nn.Linear`` and ``nn.Conv1d/2d/3d`` (their biases too with ``biases=True``);
each function returns ``{name: score}`` with every score in its tensor's shape.

- magnitude: S = |θ|.
- random: S ~ U(0, 1) i.i.d. from `generator`.
- SNIP (Lee, Ajanthan & Torr, ICLR 2019, arXiv:1810.02340; its connection sensitivity
  before normalisation): S = |θ ⊙ ∂L/∂θ| on one data batch.
- GraSP (Wang, Zhang & Grosse, ICLR 2020, arXiv:2002.07376): S = −θ ⊙ Hg with
  g = ∂L/∂θ and H the Hessian of L. Sign convention, the paper's: S is the first-order
  change of the gradient norm ‖g‖² (halved) when the weight is removed, so GraSP *removes
  the largest* S and keeps the smallest (most negative) ones, the opposite of the others.
- SynFlow (Tanaka, Kunin, Yamins & Ganguli, NeurIPS 2020, arXiv:2006.05467, §6): with
  every parameter replaced by |θ|, normalisation layers by their positive linear part
  (`_positive_norms`) and an all-ones input 𝟙, R = 𝟙ᵀ(Π_l |W^[l]|)𝟙 (the summed output)
  and S = θ ⊙ ∂R/∂θ ≥ 0. Data-free. Computed in float64 (see `_pruning_nets`).

Theory and what is computed where: ``docs/theory/pruning.md``.

Synaptic saliency is any S = (∂R/∂θ) ⊙ θ. For a network without biases whose activations
are positively homogeneous (ReLU), SynFlow's is conserved: at every hidden neuron the
scores entering equal the scores leaving, and every layer's scores sum to R (Tanaka et al.
2020, Theorems 1–2); `synaptic_flow` returns R.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from lmech.errors import LmechError
from lmech.measure._pruning_nets import (
    PRUNABLE_LAYERS,
    Layout,
    LinearisedNetwork,
    initial_mask,
    model_tensors,
    prunable_names,
    working_copy,
)

__all__ = [
    "grasp_scores",
    "infer_input_shape",
    "magnitude_scores",
    "random_scores",
    "snip_scores",
    "synaptic_flow",
    "synflow_scores",
]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Masks = dict[str, torch.Tensor]
Batch = Sequence[torch.Tensor]


def layout_of(model: nn.Module, biases: bool = False) -> Layout:
    """The flat layout of `model`'s prunable tensors, or an error naming what is allowed."""
    if not isinstance(model, nn.Module):
        raise LmechError(f"pruning acts on a torch.nn.Module, got {type(model).__name__}")
    names = prunable_names(model, biases)
    if not names:
        kinds = ", ".join(c.__name__ for c in PRUNABLE_LAYERS)
        raise LmechError(f"{type(model).__name__} has no prunable layer: pruning acts on the "
                         f"weights of {kinds} modules, and it has none")
    return Layout.of(model, names)


def flat_mask(model: nn.Module, layout: Layout, masks: Masks | None) -> torch.Tensor:
    """What is kept, flat: the model's own pruning masks and `masks` (by name) together."""
    mask = initial_mask(model, layout)
    if masks:
        unknown = sorted(set(masks) - set(layout.names))
        if unknown:
            raise LmechError(f"masks name {', '.join(unknown)}, which are not prunable "
                             f"tensors of the model (those are {', '.join(layout.names)})")
        views = layout.views(mask)
        for name, m in masks.items():
            if tuple(m.shape) != tuple(views[name].shape):
                raise LmechError(f"the mask of {name} has shape {tuple(m.shape)}; the tensor "
                                 f"has shape {tuple(views[name].shape)}")
            views[name].logical_and_(m.detach().bool().cpu())
    return mask


def infer_input_shape(model: nn.Module) -> tuple[int, ...]:
    """One sample's shape, read from the first prunable layer when it is an ``nn.Linear``.

    Raises:
        LmechError: the first layer is a convolution (its image size cannot be read off).

    Example:
        >>> infer_input_shape(nn.Sequential(nn.Linear(5, 3), nn.ReLU(), nn.Linear(3, 1)))
        (5,)
    """
    for module in model.modules():
        if isinstance(module, nn.Linear):
            return (module.in_features,)
        if isinstance(module, PRUNABLE_LAYERS):
            raise LmechError(f"cannot infer the input shape of {type(model).__name__}: its "
                             f"first layer is a {type(module).__name__}; give input_shape, "
                             f"one sample's shape such as ({module.in_channels}, 32, 32)")
    raise LmechError(f"{type(model).__name__} has no prunable layer to read an input shape "
                     "from")


def check_batch(data: object, method: str) -> tuple[torch.Tensor, torch.Tensor]:
    """`data` as ``(inputs, targets)``, or an error: SNIP and GraSP need one batch."""
    if data is None:
        raise LmechError(f"{method} needs a data batch: pass data=(inputs, targets); "
                         "the data-free methods are synflow, magnitude and random")
    if (not isinstance(data, list | tuple) or len(data) != 2
            or not all(isinstance(t, torch.Tensor) for t in data)):
        raise LmechError(f"{method}'s data must be a pair (inputs, targets) of tensors, got "
                         f"{type(data).__name__}")
    return data[0], data[1]


class DataScores:
    """SNIP's and GraSP's scores of a masked copy of the model on one batch."""

    def __init__(self, model: nn.Module, layout: Layout, data: Batch, loss: LossFn) -> None:
        self.net, self.layout, self.loss = working_copy(model), layout, loss
        self.inputs, self.targets = data
        self.theta = layout.flatten(model_tensors(self.net, layout))  # (numel,)

    def _loss(self, w: torch.Tensor) -> torch.Tensor:
        out = functional_call(self.net, self.layout.views(w), (self.inputs,))
        return self.loss(out, self.targets)

    def snip(self, mask: torch.Tensor) -> torch.Tensor:
        """|θ ⊙ ∂L/∂θ|, flat."""
        w = (self.theta * mask.to(self.theta)).requires_grad_()
        (g,) = torch.autograd.grad(self._loss(w), w)
        return (w.detach() * g).abs_()

    def grasp(self, mask: torch.Tensor) -> torch.Tensor:
        """−θ ⊙ Hg, flat (Hg as the gradient of g·stop_gradient(g))."""
        w = (self.theta * mask.to(self.theta)).requires_grad_()
        (g,) = torch.autograd.grad(self._loss(w), w, create_graph=True)
        (hg,) = torch.autograd.grad((g * g.detach()).sum(), w)
        return -(w.detach() * hg)


def magnitude_scores(model: nn.Module, *, masks: Masks | None = None,
                     biases: bool = False) -> Masks:
    """|θ| of every prunable tensor (0 where pruned).

    Example:
        >>> net = nn.Linear(2, 1, bias=False)
        >>> with torch.no_grad():
        ...     _ = net.weight.copy_(torch.tensor([[-3.0, 0.5]]))
        >>> magnitude_scores(net)["weight"]
        tensor([[3.0000, 0.5000]])
    """
    layout = layout_of(model, biases)
    mask = flat_mask(model, layout, masks)
    theta = layout.flatten(model_tensors(model, layout))
    return layout.views((theta * mask.to(theta)).abs_())


def random_scores(model: nn.Module, generator: torch.Generator, *, masks: Masks | None = None,
                  biases: bool = False) -> Masks:
    """U(0, 1) scores drawn from `generator` in the order of the prunable tensors (0 where
    pruned)."""
    layout = layout_of(model, biases)
    mask = flat_mask(model, layout, masks)
    return layout.views(torch.rand(layout.numel, generator=generator, dtype=torch.float64)
                        * mask)


def snip_scores(model: nn.Module, data: Batch, loss: LossFn = F.cross_entropy, *,
                masks: Masks | None = None, biases: bool = False) -> Masks:
    """SNIP's connection sensitivity |θ ⊙ ∂L/∂θ| on the batch ``data = (inputs, targets)``
    with ``L = loss(model(inputs), targets)``."""
    inputs, targets = check_batch(data, "snip")
    layout = layout_of(model, biases)
    scores = DataScores(model, layout, (inputs, targets), loss)
    return layout.views(scores.snip(flat_mask(model, layout, masks)))


def grasp_scores(model: nn.Module, data: Batch, loss: LossFn = F.cross_entropy, *,
                 masks: Masks | None = None, biases: bool = False) -> Masks:
    """GraSP's S = −θ ⊙ Hg on ``data = (inputs, targets)``; GraSP keeps the *smallest* S."""
    inputs, targets = check_batch(data, "grasp")
    layout = layout_of(model, biases)
    scores = DataScores(model, layout, (inputs, targets), loss)
    return layout.views(scores.grasp(flat_mask(model, layout, masks)))


def synflow_scores(model: nn.Module, input_shape: Sequence[int] | None = None, *,
                   masks: Masks | None = None, biases: bool = False,
                   norms: str = "flow") -> Masks:
    """SynFlow's S = θ ⊙ ∂R/∂θ on the |θ| network (float64), one shot.

    `input_shape` is one sample's shape (``(3, 32, 32)``); read from the first layer when it
    is an ``nn.Linear``. `norms` says how normalisation layers act (``"flow"`` or
    ``"running"``, `lmech.measure.prune_masks`). Iterative SynFlow is
    ``prune_masks(model, "synflow", ρ)``.

    Example (R = 1ᵀ|W₂||W₁|1 = 2·(1 + 2), so W₁'s scores are |W₁| times W₂'s column sums):
        >>> net = nn.Sequential(nn.Linear(2, 1, bias=False), nn.Linear(1, 1, bias=False))
        >>> with torch.no_grad():
        ...     _ = net[0].weight.copy_(torch.tensor([[1.0, -2.0]]))
        ...     _ = net[1].weight.fill_(-2.0)
        >>> s = synflow_scores(net)
        >>> s["0.weight"].tolist(), s["1.weight"].tolist()
        ([[2.0, 4.0]], [[6.0]])
    """
    layout = layout_of(model, biases)
    shape = tuple(input_shape) if input_shape is not None else infer_input_shape(model)
    net = LinearisedNetwork(model, layout, shape, norms)
    scores, _ = net.scores(flat_mask(model, layout, masks).to(net.abs_theta.device))
    return layout.views(scores)


def synaptic_flow(model: nn.Module, input_shape: Sequence[int] | None = None, *,
                  masks: Masks | None = None, norms: str = "flow") -> float:
    """SynFlow's R = 𝟙ᵀ(Π_l |W^[l]|)𝟙: the summed output of the |θ| network on 𝟙.

    Example:
        >>> net = nn.Sequential(nn.Linear(2, 1, bias=False), nn.Linear(1, 1, bias=False))
        >>> with torch.no_grad():
        ...     _ = net[0].weight.copy_(torch.tensor([[1.0, -2.0]]))
        ...     _ = net[1].weight.fill_(-2.0)
        >>> synaptic_flow(net)
        6.0
    """
    layout = layout_of(model)
    shape = tuple(input_shape) if input_shape is not None else infer_input_shape(model)
    net = LinearisedNetwork(model, layout, shape, norms)
    with torch.no_grad():
        mask = flat_mask(model, layout, masks).to(net.abs_theta.device)
        return float(net.flow(net.abs_theta * mask))
