"""A grid of MLPs of several widths and depths inside every member of one ensemble (private).

Each member holds one network per entry of the grid (width-n plain MLPs, depth-L residual
MLPs), under μP or the standard parametrisation, for Adam. Per weight and per member:
the initial std σ_W and forward factor a of the parametrisation, and its Adam
learning-rate multiplier c, realised as in `lmech.models.scaled_mlp` (stored weight W/c,
forward factor a·c). The widths' numbers come from
`lmech.measure.mu_parametrisation.mlp_mup_table` (TP5 Table 8, zero readout); the depths'
from `residual_multiplier` and `depth_lr_multiplier` (Depth-μP, branch × √(L₀/L)).

The standard parametrisation here has the same zero readout, so that at the base width
and depth both are the same network (TP5 §5: μP is defined relative to the base model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from lmech.ensemble import Ensemble, derive
from lmech.measure.mu_parametrisation import (
    depth_lr_multiplier,
    mlp_mup_table,
    residual_multiplier,
)
from lmech.models.scaled_mlp import ScaledMLP, ScaledMLPConfig

PARAMETRISATIONS = ("mup", "sp")


@dataclass(frozen=True)
class GridNet:
    """One network of the grid and its base (the width or depth it is compared with)."""

    name: str
    config: ScaledMLPConfig
    base_width: int
    base_depth: int


def width_net(n_in: int, width: int, depth: int, base_width: int, n_out: int = 1) -> GridNet:
    """A plain MLP of `depth` hidden layers of `width`, in μP relative to `base_width`."""
    return GridNet(f"w{width}", ScaledMLPConfig(n_in, width, depth, n_out), base_width, depth)


def depth_net(n_in: int, width: int, depth: int, base_depth: int, n_out: int = 1) -> GridNet:
    """A residual MLP of `depth` blocks of `width`, in Depth-μP relative to `base_depth`."""
    return GridNet(f"L{depth}", ScaledMLPConfig(n_in, width, depth, n_out, residual=True),
                   width, base_depth)


def _numbers(net: GridNet, parametrisation: str) -> dict[str, tuple[float, float, float]]:
    """Per weight (and ``branch``): (init std of W, forward factor a, Adam LR multiplier c)."""
    c = net.config
    prefix = net.name
    if not c.residual:
        table = mlp_mup_table(c.n_in, c.width, c.depth, c.n_out, base_width=net.base_width,
                              optimizer="adam", zero_readout=True)
        out = {}
        for k in range(c.depth + 1):
            mup = table[f"layers.{k}.weight"]
            fan_in = c.sizes[k]
            if parametrisation == "mup":
                out[f"{prefix}.{k}"] = (mup.init_std, mup.forward_multiplier, mup.lr_multiplier)
            else:
                std = 0.0 if k == c.depth else 1 / math.sqrt(fan_in)
                out[f"{prefix}.{k}"] = (std, 1.0, 1.0)
        return out
    scaled = parametrisation == "mup"
    beta = residual_multiplier(c.depth, net.base_depth) if scaled else 1.0
    lr = depth_lr_multiplier(c.depth, net.base_depth, "adam") if scaled else 1.0
    last = c.depth + 1
    out = {f"{prefix}.{k}": (0.0 if k == last else 1 / math.sqrt(c.sizes[k]), 1.0,
                             lr if 0 < k < last else 1.0) for k in range(last + 1)}
    out[f"{prefix}.branch"] = (0.0, beta, 1.0)
    return out


class Grid:
    """The networks of the grid, one of each in every member.

    Args:
        nets: the grid's networks.
        parametrisations: ``(M,)`` each member's, "mup" or "sp".
    """

    def __init__(self, nets: list[GridNet], parametrisations: list[str]) -> None:
        self.nets = nets
        self.models = [ScaledMLP(n.config, n.name) for n in nets]
        self.parametrisations = parametrisations

    def ensemble(self, seed: int, member_ids: list[int], device: str = "cpu") -> Ensemble:
        """Initial parameters (stored weights W/c) of every member, member i drawn from
        the generator of (seed, "init", i), in float32."""
        params: dict[str, list[torch.Tensor]] = {}
        for i, p in zip(member_ids, self.parametrisations, strict=True):
            gen = torch.Generator().manual_seed(derive(seed, "init", i))
            for net, model in zip(self.nets, self.models, strict=True):
                numbers = _numbers(net, p)
                for k, (name, shape) in enumerate(model.shapes().items()):
                    std, _, lr = numbers[f"{net.name}.{k}"]
                    w = torch.randn(shape, generator=gen, dtype=torch.float64) * (std / lr)
                    params.setdefault(name, []).append(w.float())
        stacked = {k: torch.stack(v).to(device) for k, v in params.items()}
        return Ensemble(nn.Identity(), stacked, member_ids, input_shape=(self.n_in,))

    @property
    def n_in(self) -> int:
        return self.nets[0].config.n_in

    def multipliers(self, device: str = "cpu") -> dict[str, torch.Tensor]:
        """Forward factors a·c per weight (and β per residual net), ``(M,)`` each."""
        out: dict[str, list[float]] = {}
        for p in self.parametrisations:
            for net in self.nets:
                for name, (_, a, c) in _numbers(net, p).items():
                    out.setdefault(name, []).append(a * c)
        return {k: torch.tensor(v, dtype=torch.float32, device=device) for k, v in out.items()}

    def outputs(self, params, multipliers, x: torch.Tensor,
                record: dict[str, list] | None = None) -> dict[str, torch.Tensor]:
        """Each network's outputs ``(M, B, n_out)`` (and, with `record`, its layers')."""
        out = {}
        for net, model in zip(self.nets, self.models, strict=True):
            layers = None if record is None else record.setdefault(net.name, [])
            out[net.name] = model(params, multipliers, x, layers)
        return out
