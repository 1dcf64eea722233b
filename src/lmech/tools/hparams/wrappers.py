"""The two module wrappers μP needs: the readout's 1/m_in multiplier and the 1/√L residual
branch. Both are ordinary ``nn.Module``s holding a plain float (no buffer, no hook): the
model trains with ``torch.optim``, saves with ``state_dict`` (the wrapped layer's keys gain
a ``.layer.`` or ``.branch.`` segment) and compiles.

Source: Yang, Hu et al., "Tensor Programs V" (arXiv:2203.03466), Table 8 (output
multiplier); Yang, Yu, Zhu & Hayou, "Tensor Programs VI" (arXiv:2310.02244) (branch
multiplier L^{-1/2}).
"""

from __future__ import annotations

import torch
from torch import nn

from lmech.errors import LmechError
from lmech.measure.mu_parametrisation import residual_multiplier

__all__ = ["Readout", "ResidualBranch", "canonical_name", "module_name", "parameter_owners"]


class Readout(nn.Module):
    """A readout layer fed ``multiplier · x``: ``layer(multiplier · x)``.

    For a Linear or Conv readout this is ``multiplier · W x + b``: the weight is scaled
    (μP's 1/m_in, Table 8) and the bias is not, as the table wants for a ``fixed`` bias.

    Example:
        >>> head = Readout(nn.Linear(4, 1, bias=False), 0.25)
        >>> head(torch.ones(1, 4)).item() == 0.25 * head.layer(torch.ones(1, 4)).item()
        True
    """

    def __init__(self, layer: nn.Module, multiplier: float) -> None:
        super().__init__()
        if not isinstance(layer, nn.Module):
            raise LmechError(f"Readout wraps an nn.Module, got {type(layer).__name__}")
        self.layer = layer
        self.multiplier = float(multiplier)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x * self.multiplier)

    def extra_repr(self) -> str:
        return f"multiplier={self.multiplier:.6g}"


class ResidualBranch(nn.Module):
    """A residual branch scaled by √(L₀/L): ``√(L₀/L) · branch(x)``, to be added to the
    stream by the caller (x + ResidualBranch(f, L, L₀)(x)).

    Build it inside ``model_fn(width, depth)``; `mup_param_groups` multiplies the Adam
    learning rate of the parameters inside by √(L₀/L) too (Depth-μP). The same effect
    without the wrapper: ``x + residual_multiplier(L, L₀) * f(x)``, with the Adam LR
    factor applied by hand.

    Example:
        >>> blk = ResidualBranch(nn.Linear(4, 4), depth=16, base_depth=4)
        >>> blk.multiplier
        0.5
    """

    def __init__(self, branch: nn.Module, depth: int, base_depth: int) -> None:
        super().__init__()
        if not isinstance(branch, nn.Module):
            raise LmechError(f"ResidualBranch wraps an nn.Module, got {type(branch).__name__}")
        self.branch = branch
        self.depth = depth
        self.base_depth = base_depth
        self.multiplier = residual_multiplier(depth, base_depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.multiplier * self.branch(x)

    def extra_repr(self) -> str:
        return f"depth={self.depth}, base_depth={self.base_depth}"


def canonical_name(name: str, readouts: set[str]) -> str:
    """`name` with the ``layer`` segment that `Readout` adds removed."""
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        if parts[i] == "layer" and ".".join(parts[:i]) in readouts:
            del parts[i]
    return ".".join(parts)


def parameter_owners(model: nn.Module
                     ) -> list[tuple[str, nn.Module, str, nn.Parameter]]:
    """(name without `Readout` segments, owning module, local name, parameter) for every
    parameter under every name it has (tied parameters repeat)."""
    readouts = {n for n, m in model.named_modules() if isinstance(m, Readout)}
    out = []
    for owner, module in model.named_modules(remove_duplicate=False):
        for local, p in module.named_parameters(recurse=False):
            full = f"{owner}.{local}" if owner else local
            out.append((canonical_name(full, readouts), module, local, p))
    return out


def module_name(name: str, model: nn.Module) -> str:
    """A module's name without `Readout` segments (for records keyed across parametrisations)."""
    return canonical_name(name, {n for n, m in model.named_modules() if isinstance(m, Readout)})
