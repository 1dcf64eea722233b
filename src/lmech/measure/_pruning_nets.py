"""The private networks that pruning scores are computed on, never the user's own.

- `Layout`: the prunable tensors of a model laid end to end in one flat vector, so scores,
  masks and |θ| are single tensors and the global ranking needs no concatenation.
- `working_copy`: a deep copy with any ``torch.nn.utils.prune`` reparametrisation folded
  in, so the scores never touch the user's module (nor its BatchNorm running statistics).
- `LinearisedNetwork`: SynFlow's network. Every parameter and floating buffer is replaced
  by its absolute value, every normalisation layer by x ↦ |γ| ⊙ x/σ + |β| without
  centring and with σ held constant (`_positive_norms`), and dropout is off. On a positive
  input every activation of ReLU type is then the identity and the network is a positive
  affine map (linear when it has no biases). Arithmetic is in float64: R = 1ᵀ(Π_l |W_l|)1
  grows like the product of the layers' gains, which overflows float32 (≈ 3e38) in a few
  dozen layers; float64 holds 1.8e308, and normalisation layers in ``"flow"`` mode reset
  the scale wherever they stand.
  An R that still overflows or underflows is an `LmechError`, never silent inf/NaN scores.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call
from torch.nn.utils import prune

from lmech.errors import LmechError
from lmech.measure._positive_norms import linearise_norms

PRUNABLE_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def prunable_names(model: nn.Module, biases: bool = False) -> list[str]:
    """Qualified names (``features.0.weight``) of the prunable tensors, in module order; a
    tensor shared by several layers (tied weights) is named once, by its first layer."""
    names, seen = [], set()
    for module_name, module in model.named_modules():
        if not isinstance(module, PRUNABLE_LAYERS):
            continue
        prefix = f"{module_name}." if module_name else ""
        for attr in ("weight", "bias") if biases else ("weight",):
            tensor = _owned(module, attr)
            if tensor is not None and id(tensor) not in seen:
                seen.add(id(tensor))
                names.append(prefix + attr)
    return names


def _owned(module: nn.Module, attr: str) -> torch.Tensor | None:
    """The tensor `attr` of `module`, as its parameter or its pruning reparametrisation."""
    orig = getattr(module, f"{attr}_orig", None)
    return orig if orig is not None else getattr(module, attr, None)


def split_name(name: str) -> tuple[str, str]:
    """``"a.b.weight"`` → ``("a.b", "weight")``."""
    module, _, attr = name.rpartition(".")
    return module, attr


@dataclass(frozen=True)
class Layout:
    """Where each prunable tensor lives in one flat vector."""

    names: tuple[str, ...]
    shapes: tuple[torch.Size, ...]
    offsets: tuple[int, ...]  # len(names) + 1; tensor i is flat[offsets[i]:offsets[i+1]]

    @classmethod
    def of(cls, model: nn.Module, names: list[str]) -> Layout:
        shapes = []
        for name in names:
            module, attr = split_name(name)
            shapes.append(_owned(model.get_submodule(module), attr).shape)
        offsets = [0]
        for shape in shapes:
            offsets.append(offsets[-1] + shape.numel())
        return cls(tuple(names), tuple(shapes), tuple(offsets))

    @property
    def numel(self) -> int:
        return self.offsets[-1]

    def views(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each tensor as a view of `flat` (shape ``(numel,)``), in its own shape."""
        return {n: flat[a:b].view(s) for n, s, a, b in
                zip(self.names, self.shapes, self.offsets[:-1], self.offsets[1:],
                    strict=True)}

    def flatten(self, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([tensors[n].reshape(-1) for n in self.names])


def model_tensors(model: nn.Module, layout: Layout) -> dict[str, torch.Tensor]:
    """The prunable tensors' current values (a pruned tensor's masks folded in)."""
    out = {}
    for name in layout.names:
        module, attr = split_name(name)
        sub = model.get_submodule(module)
        value = _owned(sub, attr).detach()
        mask = getattr(sub, f"{attr}_mask", None)
        out[name] = value * mask if mask is not None else value
    return out


def initial_mask(model: nn.Module, layout: Layout) -> torch.Tensor:
    """The flat bool mask of what ``torch.nn.utils.prune`` has already removed (all kept
    for a model never pruned)."""
    parts = []
    for name, shape in zip(layout.names, layout.shapes, strict=True):
        module, attr = split_name(name)
        mask = getattr(model.get_submodule(module), f"{attr}_mask", None)
        parts.append(torch.ones(shape.numel(), dtype=torch.bool) if mask is None
                     else mask.detach().reshape(-1).bool().cpu())
    return torch.cat(parts)


def deep_copy(model: nn.Module) -> nn.Module:
    """``copy.deepcopy(model)``, also when ``torch.nn.utils.prune`` has left a computed
    (non-leaf) tensor on it, which deepcopy refuses: that tensor is copied detached (the
    pruning hook recomputes it before the next forward pass)."""
    memo: dict[int, object] = {}
    for module in model.modules():
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, prune.BasePruningMethod):
                computed = getattr(module, hook._tensor_name, None)
                if isinstance(computed, torch.Tensor) and not computed.is_leaf:
                    memo[id(computed)] = computed.detach().clone()
    return copy.deepcopy(model, memo)


def working_copy(model: nn.Module) -> nn.Module:
    """A deep copy whose pruned tensors are plain parameters again (masks folded in)."""
    net = deep_copy(model)
    for module in net.modules():
        for hook in list(module._forward_pre_hooks.values()):
            if isinstance(hook, prune.BasePruningMethod):
                prune.remove(module, hook._tensor_name)
    return net


def summed_output(out: object, what: str) -> torch.Tensor:
    """R = the sum of every output (a tensor, or a tuple/list/dict of tensors)."""
    if isinstance(out, torch.Tensor):
        return out.sum()
    parts = (list(out.values()) if isinstance(out, dict)
             else list(out) if isinstance(out, list | tuple) else [])
    tensors = [p.sum() for p in parts if isinstance(p, torch.Tensor)]
    if tensors:
        return torch.stack(tensors).sum()
    raise LmechError(f"{what} needs the model to return a tensor (or a tuple/dict of "
                     f"tensors); it returned {type(out).__name__}")


class LinearisedNetwork:
    """SynFlow's network: |θ| everywhere, positive norms, float64, all-ones input.

    Built once; `scores(mask)` then costs one forward and one backward pass. The masked |θ|
    is written into one preallocated flat vector whose per-layer views enter the network
    as detached leaves (so each gradient comes back in its own shape, never scattered
    into a flat zero vector), and the scores land in a second preallocated flat vector.
    """

    def __init__(self, model: nn.Module, layout: Layout, input_shape: tuple[int, ...],
                 norms: str = "flow", shifts: bool = True,
                 dtype: torch.dtype = torch.float64) -> None:
        net = working_copy(model)
        linearise_norms(net, norms, shifts)
        net.to(dtype).eval()
        with torch.no_grad():
            for p in net.parameters():
                p.abs_().requires_grad_(False)
            for b in net.buffers():
                if b.is_floating_point():
                    b.abs_()
        self.net, self.layout, self.dtype = net, layout, dtype
        self.abs_theta = layout.flatten(model_tensors(net, layout))  # (numel,) float64
        self._weights = torch.empty_like(self.abs_theta)
        self._scores = torch.empty_like(self.abs_theta)
        self._checked = False
        self.ones = torch.ones((1, *input_shape), dtype=dtype, device=self.abs_theta.device)

    def flow(self, weights: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
        """R for the prunable `weights` (flat, or by name; every other tensor as built)."""
        views = self.layout.views(weights) if isinstance(weights, torch.Tensor) else weights
        try:
            out = functional_call(self.net, views, (self.ones,))
        except (RuntimeError, ValueError) as err:
            shape = ", ".join(map(str, self.ones.shape))
            raise LmechError(f"the model does not accept an input of shape ({shape}) "
                             f"({type(err).__name__}: {str(err).splitlines()[0]}); give the "
                             "input_shape of one sample, e.g. (3, 32, 32)") from err
        return summed_output(out, "SynFlow")

    def scores(self, mask: torch.Tensor) -> tuple[torch.Tensor, float]:
        """(S, R): S = |θ|⊙m ⊙ ∂R/∂(|θ|⊙m), flat, and the synaptic flow R itself.

        S is a buffer that the next call overwrites."""
        w = torch.mul(self.abs_theta, mask, out=self._weights)
        leaves = {n: v.detach().requires_grad_() for n, v in self.layout.views(w).items()}
        r = self.flow(leaves)
        value = float(r.detach())
        if value == float("inf") or value != value:
            raise LmechError("SynFlow's R overflowed float64 (the |θ| network's gain "
                             "exceeds 1e308); rescale the model's weights toward a gain of "
                             "about 1 per layer before pruning")
        grads = torch.autograd.grad(r, list(leaves.values()), allow_unused=True)
        outs = self.layout.views(self._scores).values()
        for g, leaf, out in zip(grads, leaves.values(), outs, strict=True):
            if g is None:  # a layer the forward pass never used carries no flow
                out.zero_()
            else:
                torch.mul(g, leaf.detach(), out=out)
        if not self._checked:
            self._checked = True
            if bool(mask.all()) and not bool(self._scores.any()):  # nothing pruned, no flow
                raise LmechError("SynFlow's scores are all 0 on the unpruned network: a "
                                 "layer whose weights are all zero (zero initialisation) "
                                 "carries no flow, or R underflowed float64 (weights far "
                                 "below 1 in every layer); initialise every layer nonzero, "
                                 "at a gain of about 1")
        return self._scores, value
