"""Synaptic saliency S = θ ⊙ ∂R/∂θ of any scalar R, and the sums conservation speaks of.

For a network whose activations are positively homogeneous (ReLU, max-pool, the identity)
and which has no biases, every synaptic saliency is conserved (Tanaka, Kunin, Yamins &
Ganguli 2020, Theorems 1–2):

- at each hidden neuron (a convolution channel counts its kernel positions and all image
  positions), the saliency of the weights entering it equals that of the weights leaving
  it: Σ_in S = z·∂R/∂z summed over the neuron's positions = Σ_out S;
- every layer of a plain (sequential) network has the same total, ⟨x, ∂R/∂x⟩ at the
  input and ⟨f, ∂R/∂f⟩ at the output, by Euler's theorem for a function homogeneous of
  degree one in each layer's weights.

`saliency` computes S in float64 on a copy of the model; `layer_totals` and
`neuron_balance` are the two sums, for a chain of prunable layers in which each layer's
output channels are the next layer's input channels (VGG-like networks, MLPs).

Source: H. Tanaka, D. Kunin, D. L. K. Yamins & S. Ganguli, NeurIPS 2020
(arXiv:2006.05467), §4, Theorems 1 and 2. See docs/theory/pruning.md, §Synaptic saliency
and its conservation.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
from torch import nn

from lmech.errors import LmechError
from lmech.measure._pruning_nets import prunable_names

__all__ = ["layer_totals", "neuron_balance", "saliency"]


def saliency(model: nn.Module, objective: Callable[[nn.Module, dict], torch.Tensor]
             ) -> dict[str, torch.Tensor]:
    """S = θ ⊙ ∂R/∂θ (signed, float64) of every prunable weight, R = objective(net, w).

    Args:
        model: any ``nn.Module``; never modified (a float64 copy is used).
        objective: ``objective(net, weights) -> R``, a scalar, where ``net`` is the float64
            copy and ``weights`` maps each prunable weight's name to the tensor to use
            (call ``torch.func.functional_call(net, weights, (x,))``).

    Returns:
        ``{name: S}`` in each weight's shape, in module order.

    Example (R = the summed output of a 2-layer linear net: each layer's total is R):
        >>> from torch.func import functional_call
        >>> net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Linear(2, 1, bias=False))
        >>> ones = torch.ones(1, 2, dtype=torch.float64)
        >>> s = saliency(net, lambda m, w: functional_call(m, w, (ones,)).sum())
        >>> r = float(net(torch.ones(1, 2)).sum().detach())
        >>> [abs(float(v.sum()) - r) < 1e-6 for v in s.values()]
        [True, True]
    """
    names = prunable_names(model)
    if not names:
        raise LmechError(f"{type(model).__name__} has no prunable weight (Linear or Conv)")
    net = copy.deepcopy(model).double()
    params = dict(net.named_parameters())
    leaves = {n: params[n].detach().clone().requires_grad_() for n in names}
    r = objective(net, leaves)
    if not isinstance(r, torch.Tensor) or r.numel() != 1:
        raise LmechError("objective must return a scalar tensor R")
    grads = torch.autograd.grad(r, list(leaves.values()), allow_unused=True,
                                materialize_grads=True)
    return {n: (w.detach() * g) for (n, w), g in zip(leaves.items(), grads, strict=True)}


def layer_totals(scores: dict[str, torch.Tensor]) -> dict[str, float]:
    """Σ S over each layer, summed exactly (``math.fsum``), so the only rounding left is
    that of the scores themselves."""
    return {n: math.fsum(s.reshape(-1).tolist()) for n, s in scores.items()}


def neuron_balance(scores: dict[str, torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """For each hidden layer of a chain, (incoming, outgoing) saliency per neuron.

    Layer l's weight has its output neurons (channels) on axis 0; layer l + 1's has its
    inputs on axis 1, as ``C_l`` channels each repeated over kernel or flattened image
    positions. Returns one pair of ``(C_l,)`` float64 tensors per consecutive pair of
    layers: Σ over each neuron's incoming weights, Σ over its outgoing ones.

    Raises:
        LmechError: layer l + 1's input size is not a multiple of layer l's outputs.
    """
    items = list(scores.items())
    pairs = []
    for (name, s), (after, t) in zip(items[:-1], items[1:], strict=True):
        c = s.shape[0]
        if t.dim() < 2 or t[0].numel() % c or (t.dim() > 2 and t.shape[1] != c):
            raise LmechError(f"{after} does not read {name}'s {c} outputs as its inputs")
        incoming = s.reshape(c, -1).sum(1)
        outgoing = t.reshape(t.shape[0], c, -1).sum((0, 2))  # channel-major inputs
        pairs.append((incoming, outgoing))
    return pairs
