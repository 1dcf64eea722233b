"""Stacked forwards for the engine: any module, each member with its own pruning masks.

`StackedForward(template, masks)` is a ``forward(params, batch)`` for
`lmech.ensemble.train`: member m runs `template` (through ``torch.func.functional_call``
under ``torch.vmap``) with parameters ``params[name][m] ⊙ masks[name][m]`` for every
masked name. A pruned weight then receives zero gradient, so no optimiser moves it away
from zero in the forward pass (its stored value never matters).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from lmech.errors import LmechError

__all__ = ["StackedForward"]


class StackedForward:
    """``forward(params, batch) -> (M, B, …)`` of `template` with per-member masks.

    Args:
        template: the architecture (its own weights are not used).
        masks: name → ``(M, *shape)`` 0/1 tensor; unmasked parameters are used as they are.
        input_dims: the dimensions of one sample, to tell a shared batch ``(B, …)`` from
            one per member ``(M, B, …)``.

    Example:
        >>> net = nn.Linear(3, 2, bias=False)
        >>> fwd = StackedForward(net, {"weight": torch.zeros(4, 2, 3)}, input_dims=1)
        >>> fwd({"weight": torch.ones(4, 2, 3)}, (torch.ones(5, 3),)).abs().sum().item()
        0.0
    """

    def __init__(self, template: nn.Module, masks: dict[str, torch.Tensor] | None = None, *,
                 input_dims: int) -> None:
        self.template = template
        self.masks = dict(masks or {})
        self.input_dims = input_dims
        names = dict(template.named_parameters())
        unknown = sorted(set(self.masks) - set(names))
        if unknown:
            raise LmechError(f"masks name {', '.join(unknown)}, which are not parameters of "
                             f"{type(template).__name__}")

    def masked(self, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The parameters each member computes with: masked where a mask is given."""
        return {k: v * self.masks[k] if k in self.masks else v for k, v in params.items()}

    def __call__(self, params: dict[str, torch.Tensor], batch) -> torch.Tensor:
        x = batch[0]
        per_member = x.dim() == self.input_dims + 2
        call = torch.vmap(lambda p, xb: functional_call(self.template, p, (xb,)),
                          in_dims=(0, 0 if per_member else None))
        return call(self.masked(params), x)
