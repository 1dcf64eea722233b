"""Critical initialisation of a user's MLP, and the summary behind `lmech critical`.

At criticality (χ∥ = χ⊥ = 1, THEORY.md §1c) the kernel of the preactivations neither
explodes nor vanishes exponentially with depth, and two inputs' correlation approaches its
fixed point only as a power law, so signals and gradients propagate through many layers
(PDLT ch. 5; Schoenholz et al. 2017). `critical_` sets every ``nn.Linear`` of a module to
W ~ N(0, C_W/fan_in), b ~ N(0, C_b) with the activation's critical (C_b, C_W).

Source: Roberts, Yaida & Hanin, *The Principles of Deep Learning Theory*
(arXiv:2106.10165), §5.1–5.3.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lmech.errors import LmechError
from lmech.theory import (
    CriticalPoint,
    chi_parallel,
    chi_perp,
    critical_point,
    get_activation,
    kernel_recursion,
)
from lmech.theory.vertex import four_point_vertex

__all__ = ["critical_", "critical_summary", "plot_flows"]


def critical_(module: nn.Module, activation, *, generator: torch.Generator | None = None,
              last_layer: bool = True) -> CriticalPoint:
    """Initialise every ``nn.Linear`` in `module` at the critical point of `activation`.

    Weights W ~ N(0, C_W/fan_in), biases b ~ N(0, C_b) (THEORY.md §1 conventions), in place.
    The effect: preactivation variances stay O(1) at every depth (exactly constant for
    scale-invariant σ; K ~ 1/(−a₁l) for the K*=0 class; near K* for GELU/SWISH) instead of
    exploding or vanishing as χ∥^l.

    Args:
        module: any module; its ``nn.Linear`` layers are initialised, in definition order.
        activation: the activation the module uses (a name or an `Activation`).
        generator: the source of randomness (default: a fresh unseeded one).
        last_layer: also initialise the last ``nn.Linear`` (the readout).

    Returns:
        the critical point used.

    Raises:
        LmechError: the activation has no criticality, or `module` has no ``nn.Linear``.

    Example:
        >>> net = nn.Sequential(nn.Linear(8, 64), nn.Tanh(), nn.Linear(64, 1))
        >>> critical_(net, "tanh", generator=torch.Generator().manual_seed(0)).C_W
        1.0
    """
    cp = critical_point(activation)
    if not cp.exists:
        raise LmechError(f"activation {cp.activation!r} has no critical point: {cp.stability}")
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise LmechError("module has no nn.Linear layer to initialise")
    gen = generator if generator is not None else torch.Generator()
    for layer in linears if last_layer else linears[:-1]:
        with torch.no_grad():
            std = math.sqrt(cp.C_W / layer.in_features)
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen) * std)
            if layer.bias is not None:
                layer.bias.copy_(torch.randn(layer.bias.shape, generator=gen)
                                 * math.sqrt(cp.C_b))
    return cp


def critical_summary(activation) -> dict:
    """Critical point, class, susceptibilities at K* and depth scales, as plain values.

    The susceptibilities are evaluated at K* (for scale-invariant σ, where every K is fixed,
    at K = 1; for the K*=0 class, in the limit K → 0); the depth scales ξ = 1/|ln χ| are
    infinite at criticality — the point of it.
    """
    act = get_activation(activation)
    cp = critical_point(act)
    out = {"activation": cp.activation, "universality class": cp.universality_class,
           "stability": cp.stability}
    if not cp.exists:
        return out
    k = 1.0 if math.isnan(cp.K_star) else cp.K_star
    if k == 0.0:
        cpar = cperp = 1.0
    else:
        cpar, cperp = (float(chi_parallel(act, k, cp.C_W)), float(chi_perp(act, k, cp.C_W)))
    out.update({"C_b": cp.C_b, "C_W": cp.C_W, "K*": cp.K_star, "chi_parallel(K*)": cpar,
                "chi_perp(K*)": cperp, "xi_parallel": _xi(cpar), "xi_perp": _xi(cperp)})
    if not math.isnan(cp.a1):
        out["a1"] = cp.a1
    return out


def _xi(chi: float) -> float:
    return math.inf if abs(math.log(chi)) < 1e-9 else 1 / abs(math.log(chi))


def plot_flows(activation, path: Path, *, depth: int = 50, width: int = 100) -> Path:
    """Draw K^(l) and the normalised vertex V/(nK²) against depth at criticality to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    act = get_activation(activation)
    cp = critical_point(act)
    if not cp.exists:
        raise LmechError(f"activation {cp.activation!r} has no critical point: {cp.stability}")
    k1 = 1.0 if math.isnan(cp.K_star) or cp.K_star == 0.0 else cp.K_star
    K = kernel_recursion(act, depth, cp.C_W, cp.C_b, k1)
    V = four_point_vertex(act, depth, width, cp.C_W, cp.C_b, k1)
    layers = np.arange(1, depth + 1)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    axes[0].plot(layers, K)
    axes[0].set(xlabel="layer l", ylabel="kernel K^(l)", yscale="log",
                title=f"{cp.activation}: C_W={cp.C_W:.4g}, C_b={cp.C_b:.4g}")
    axes[1].plot(layers, V / (width * K * K))
    axes[1].set(xlabel="layer l", ylabel=f"V/(nK²), n={width}",
                title=f"class: {cp.universality_class}")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
