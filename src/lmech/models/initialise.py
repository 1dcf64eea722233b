"""PyTorch's default initialisation of a module, drawn from an explicit generator.

Per module type, the distributions of ``reset_parameters`` in torch.nn:

- ``nn.Linear``, ``nn.Conv1d/2d/3d``: weight and bias U(−1/√fan_in, 1/√fan_in)
  (kaiming_uniform with a = √5 gives this bound for the weight);
- ``nn.Embedding``: weight N(0, 1);
- ``nn.LayerNorm``, ``nn.GroupNorm``: weight 1, bias 0.

Any other parameter is an error (named), never silently left as built. Draws follow the
order of ``named_parameters``, each from `generator`, so the same generator state gives the
same parameters.

Source: the ``reset_parameters`` methods of torch.nn.Linear, Conv2d, Embedding, LayerNorm
(PyTorch documentation).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lmech.errors import LmechError

__all__ = ["default_parameters"]

_UNIFORM = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORMS = (nn.LayerNorm, nn.GroupNorm)


def default_parameters(module: nn.Module, generator: torch.Generator,
                       dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """``{name: tensor}`` for every parameter of `module`, as its type's default init.

    Example:
        >>> net = nn.Sequential(nn.Embedding(5, 3), nn.LayerNorm(3), nn.Linear(3, 2))
        >>> p = default_parameters(net, torch.Generator().manual_seed(0))
        >>> p["1.weight"].tolist(), bool(p["2.weight"].abs().max() <= 1 / math.sqrt(3))
        ([1.0, 1.0, 1.0], True)
    """
    owners = dict(module.named_modules())
    out = {}
    for name, p in module.named_parameters():
        owner_name, _, kind = name.rpartition(".")
        owner = owners[owner_name]
        if isinstance(owner, _UNIFORM):
            bound = 1 / math.sqrt(owner.weight[0].numel())
            t = (torch.rand(p.shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound
        elif isinstance(owner, nn.Embedding):
            t = torch.randn(p.shape, generator=generator, dtype=torch.float64)
        elif isinstance(owner, _NORMS):
            t = torch.ones(p.shape) if kind == "weight" else torch.zeros(p.shape)
        else:
            raise LmechError(f"no default initialisation for parameter {name!r} of a "
                             f"{type(owner).__name__}; known: Linear, Conv, Embedding, "
                             "LayerNorm, GroupNorm")
        out[name] = t.to(dtype)
    return out
