"""Normalisation layers made linear and positive, for SynFlow's |θ| network.

A normalisation layer y = γ ⊙ (x − μ)/σ + β is not linear in x, and its centring turns the
positive signals of the |θ| network negative (where ReLU then cuts paths that exist). For
SynFlow each one becomes y = |γ| ⊙ x/σ + |β|, without centring and with σ held constant
in the derivative, so the network stays a positive linear map (affine with biases). Two
choices of σ (`NORM_MODES`):

- ``"flow"``: σ is the root mean square of the layer's own input in the |θ| network,
  over the dimensions the layer normalises (BatchNorm: each channel over batch and space;
  InstanceNorm: each channel of each sample; GroupNorm: each group; LayerNorm, RMSNorm:
  each sample's trailing dimensions). This is the scale the layer applies when the network
  trains, so parallel branches that each end in a normalisation carry comparable flow.
  It is also a per-layer rescaling that keeps R from overflowing in deep networks.
- ``"running"``: BatchNorm (and InstanceNorm that tracks statistics) divides by its
  running σ = √(running_var + ε), as in evaluation mode (what Tanaka et al.'s code does;
  the identity at initialisation); the other layers keep σ = 1.

``shifts=False`` drops β (the path network of the layer-collapse check).
"""

from __future__ import annotations

import torch
from torch import nn

from lmech.errors import LmechError

NORM_MODES = ("flow", "running")
_BATCH = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
_INSTANCE = (nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)
_TRAILING = (nn.LayerNorm, nn.RMSNorm)
NORM_LAYERS = _BATCH + _INSTANCE + (nn.GroupNorm,) + _TRAILING


def _inverse_rms(x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """1/√(mean x²) over `dims` (0 where x is all zero), computed without overflow and
    detached from the graph."""
    x = x.detach()
    peak = x.abs().amax(dim=dims, keepdim=True)
    safe = torch.where(peak > 0, peak, torch.ones_like(peak))
    rms = safe * (x / safe).square().mean(dim=dims, keepdim=True).sqrt()
    return torch.where(peak > 0, rms.reciprocal(), torch.zeros_like(rms))


class PositiveNorm(nn.Module):
    """y = scale ⊙ x/σ + shift, with σ as `kind` and the mode say (module docstring)."""

    def __init__(self, kind: str, scale: torch.Tensor | None, shift: torch.Tensor | None,
                 flow: bool, trailing: int = 0, groups: int = 1) -> None:
        super().__init__()
        self.register_buffer("scale", scale)
        self.register_buffer("shift", shift)
        self.kind, self.flow, self.trailing, self.groups = kind, flow, trailing, groups

    def _affine(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        # trailing-dimension layers broadcast as stored; the rest are per channel (dim 1)
        return t if self.kind == "layer" else t.view(1, -1, *([1] * (x.dim() - 2)))

    def _normalised(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "group":
            grouped = x.reshape(x.shape[0], self.groups, -1)
            return (grouped * _inverse_rms(grouped, (2,))).view_as(x)
        dims = {"batch": (0, *range(2, x.dim())), "instance": tuple(range(2, x.dim())),
                "layer": tuple(range(x.dim() - self.trailing, x.dim()))}[self.kind]
        return x * _inverse_rms(x, dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.flow:
            x = self._normalised(x)
        if self.scale is not None:
            x = x * self._affine(self.scale, x)
        if self.shift is not None:
            x = x + self._affine(self.shift, x)
        return x


def positive_norm(norm: nn.Module, mode: str, shifts: bool = True) -> PositiveNorm:
    """The `PositiveNorm` standing for the normalisation layer `norm`."""
    weight = getattr(norm, "weight", None)
    bias = getattr(norm, "bias", None) if shifts else None
    scale = weight.detach().abs() if isinstance(weight, torch.Tensor) else None
    shift = bias.detach().abs() if isinstance(bias, torch.Tensor) else None
    kind = ("batch" if isinstance(norm, _BATCH) else "instance" if isinstance(norm, _INSTANCE)
            else "group" if isinstance(norm, nn.GroupNorm) else "layer")
    flow = mode == "flow"
    var = getattr(norm, "running_var", None)
    if not flow and isinstance(var, torch.Tensor):  # evaluation mode: the running σ
        inv_sigma = (var.detach().abs() + norm.eps).rsqrt()
        scale = inv_sigma if scale is None else scale * inv_sigma
    trailing = len(getattr(norm, "normalized_shape", ()))
    return PositiveNorm(kind, scale, shift, flow, trailing, getattr(norm, "num_groups", 1))


def linearise_norms(net: nn.Module, mode: str = "flow", shifts: bool = True) -> None:
    """Replace, in place in `net`, every normalisation layer by its `PositiveNorm`."""
    if mode not in NORM_MODES:
        raise LmechError(f"unknown normalisation mode {mode!r}; allowed: "
                         f"{', '.join(NORM_MODES)}")
    for name, module in list(net.named_modules()):
        if isinstance(module, NORM_LAYERS):
            parent, _, attr = name.rpartition(".")
            setattr(net.get_submodule(parent), attr, positive_norm(module, mode, shifts))
