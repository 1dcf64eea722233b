"""The gradient and Hessian identities a symmetry implies, evaluated on a model and batch.

For the loss L on a batch, with g = ∇L and H = ∇²L (Kunin et al. 2021, Table 1):

    translation   ⟨g_A, 1⟩ = 0                      H·(1_A, 0) = 0
    scale         ⟨g_A, θ_A⟩ = 0                    H·(θ_A, 0) = −(g_A, 0)
    rescale       ⟨g_in, θ_in⟩ = ⟨g_out, θ_out⟩      H·(θ_in, −θ_out, 0) = −(g_in, −g_out, 0)

(the Hessian identities are the derivatives of the gradient identities, which hold at
every θ). Each check returns a relative residual: 0 when the identity holds, O(1) when not.

Source: Kunin, Sagastuy-Brena, Ganguli, Yamins & Tanaka, ICLR 2021 (arXiv:2012.04728),
§3 (gradient geometry) and Table 1 (Hessian geometry).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from lmech.measure.noether import Symmetry, resolve

__all__ = ["GeometryCheck", "gradient_geometry", "hessian_identity"]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class GeometryCheck:
    """One identity evaluated numerically.

    Attributes:
        symmetry: the group checked.
        identity: ``"gradient"`` or ``"hessian"``.
        residual: relative violation (see the module docstring); ~1e-16 in float64 when
            the symmetry is exact, ~ε/σ² for a normalisation with ε.
    """

    symmetry: Symmetry
    identity: str
    residual: float


@contextmanager
def _buffers_kept(model: nn.Module) -> Iterator[None]:
    """Running statistics (BatchNorm) are restored: a check never changes the model."""
    saved = {n: b.detach().clone() for n, b in model.named_buffers()}
    try:
        yield
    finally:
        with torch.no_grad():
            for n, b in model.named_buffers():
                b.copy_(saved[n])


def gradient_geometry(
    model: nn.Module, loss_fn: LossFn, inputs, targets, symmetries: Iterable[Symmetry]
) -> list[GeometryCheck]:
    """The gradient identity of each symmetry at the current parameters, on one batch.

    Args:
        model: the network (its mode — train/eval — is used as it is).
        loss_fn: ``loss_fn(model(inputs), targets)`` → scalar loss.
        symmetries: groups, e.g. from :func:`lmech.tools.detect`.

    Raises:
        LmechError: a symmetry names a parameter the model does not have.
    """
    symmetries = list(symmetries)
    groups = [resolve(model, s.params) for s in symmetries]
    flat = [p for g in groups for p in g]
    with _buffers_kept(model):  # restored after the backward pass, which reads them
        loss = loss_fn(model(inputs), targets)
        grads = torch.autograd.grad(loss, flat, allow_unused=True)
    out, i = [], 0
    for sym, params in zip(symmetries, groups, strict=True):
        g = grads[i:i + len(params)]
        i += len(params)
        out.append(GeometryCheck(sym, "gradient", _gradient_residual(sym, params, g)))
    return out


def hessian_identity(
    model: nn.Module, loss_fn: LossFn, inputs, targets, symmetry: Symmetry
) -> GeometryCheck:
    """The Hessian identity of `symmetry`: ‖H v − w‖ / (‖H v‖ + ‖w‖) over all parameters.

    v is the symmetry's generator (1_A, θ_A or (θ_in, −θ_out)) and w the identity's
    right-hand side (0, −g_A, −(g_in, −g_out)); H v by double backward. For translation
    (w = 0) the scale is ‖H u‖ for u = 1_A with alternating signs, a generic direction.

    Raises:
        LmechError: the symmetry names a parameter the model does not have.
    """
    group = resolve(model, symmetry.params)
    params = [p for p in model.parameters() if p.requires_grad]
    in_group = {id(p): i for i, p in enumerate(group)}
    signs = symmetry.signs
    v = []
    for p in params:
        if id(p) not in in_group:
            v.append(torch.zeros_like(p))
        elif symmetry.kind == "translation":
            v.append(torch.ones_like(p))
        else:
            v.append(signs[in_group[id(p)]] * p.detach())
    with _buffers_kept(model):  # restored after both backward passes, which read them
        loss = loss_fn(model(inputs), targets)
        grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
        grads = [torch.zeros_like(p) if g is None else g
                 for p, g in zip(params, grads, strict=True)]
        dot = sum((g * x).sum() for g, x in zip(grads, v, strict=True))
        hv = torch.autograd.grad(dot, params, allow_unused=True, retain_graph=True)
        if symmetry.kind == "translation":  # w = 0: measure against a generic direction
            u = [x * _alternating(x) for x in v]
            dot_u = sum((g * x).sum() for g, x in zip(grads, u, strict=True))
            hu = torch.autograd.grad(dot_u, params, allow_unused=True)
            ref = sum(float(h.double().pow(2).sum()) for h in hu if h is not None) ** 0.5
    num = den_h = den_w = 0.0
    for p, h, g in zip(params, hv, grads, strict=True):
        h = torch.zeros_like(p) if h is None else h.detach()
        w = torch.zeros_like(p)
        if id(p) in in_group and symmetry.kind != "translation":
            w = -signs[in_group[id(p)]] * g.detach()
        num += float((h - w).double().pow(2).sum())
        den_h += float(h.double().pow(2).sum())
        den_w += float(w.double().pow(2).sum())
    den = ref if symmetry.kind == "translation" else den_h**0.5 + den_w**0.5
    return GeometryCheck(symmetry, "hessian", num**0.5 / den if den > 0 else 0.0)


def _alternating(x: torch.Tensor) -> torch.Tensor:
    """±1 by flat index parity: a direction of the same support with no symmetry."""
    signs = 1.0 - 2.0 * (torch.arange(x.numel(), device=x.device) % 2)
    return signs.reshape(x.shape).to(x.dtype)


def _gradient_residual(symmetry: Symmetry, params, grads) -> float:
    """Relative violation of the symmetry's gradient identity (0 when it holds exactly).

    translation: ⟨g, 1⟩/(‖g‖ √n); scale: ⟨g, θ⟩/(‖g‖ ‖θ‖);
    rescale: (⟨g_in, θ_in⟩ − ⟨g_out, θ_out⟩)/(‖g_in‖‖θ_in‖ + ‖g_out‖‖θ_out‖).
    """
    g = [torch.zeros_like(p) if gr is None else gr for p, gr in zip(params, grads, strict=True)]
    with torch.no_grad():
        if symmetry.kind == "translation":
            total = sum(x.double().sum() for x in g)
            n = sum(x.numel() for x in g)
            norm = torch.sqrt(sum(x.double().pow(2).sum() for x in g)) * n**0.5
            return float(total / norm) if norm > 0 else 0.0
        dots = [float((x.double() * p.double()).sum()) for x, p in zip(g, params, strict=True)]
        gn = [float(x.double().pow(2).sum()) for x in g]
        pn = [float(p.double().pow(2).sum()) for p in params]
        if symmetry.kind == "scale":
            den = (sum(gn) * sum(pn)) ** 0.5
            return sum(dots) / den if den > 0 else 0.0
        n_in = len(symmetry.incoming)
        side = [slice(0, n_in), slice(n_in, None)]
        num = sum(dots[side[0]]) - sum(dots[side[1]])
        den = sum((sum(gn[s]) * sum(pn[s])) ** 0.5 for s in side)
        return num / den if den > 0 else 0.0
