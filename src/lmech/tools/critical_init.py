"""Critical initialisation of a user's MLP, and the summary behind `lmech critical`.

At criticality (χ∥ = χ⊥ = 1) the kernel of the preactivations neither explodes nor
vanishes exponentially with depth, and two inputs' correlation approaches its fixed point
only as a power law, so signals and gradients propagate through many layers (PDLT ch. 5;
Schoenholz et al. 2017). `critical_` sets every ``nn.Linear`` of a module to
W ~ N(0, C_W/fan_in), b ~ N(0, C_b) with the activation's critical (C_b, C_W).

Source: Roberts, Yaida & Hanin, *The Principles of Deep Learning Theory*
(arXiv:2106.10165), §5.1–5.3; Schoenholz et al., "Deep Information Propagation", ICLR 2017
(arXiv:1611.01232).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from lmech.errors import LmechError
from lmech.theory import (
    ACTIVATIONS,
    Activation,
    CriticalPoint,
    chi_parallel,
    chi_perp,
    critical_point,
    get_activation,
    kernel_recursion,
)
from lmech.theory.vertex import four_point_vertex
from lmech.tools.png_path import writable_png

__all__ = ["critical_", "critical_summary", "plot_flows", "theory_activation"]

_MODULES: dict[type, str] = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid",
                             nn.SiLU: "swish", nn.Identity: "linear"}
_FUNCTIONS: dict[object, str] = {
    torch.relu: "relu", F.relu: "relu", torch.tanh: "tanh", F.tanh: "tanh",
    torch.sigmoid: "sigmoid", F.sigmoid: "sigmoid", F.gelu: "gelu", F.silu: "swish",
    F.softplus: "softplus", torch.erf: "erf", torch.special.erf: "erf", torch.sin: "sin",
    F.leaky_relu: "leaky_relu",
}
ALLOWED = ("a name ({names}), an lmech Activation, a torch activation module (nn.ReLU(), "
           "nn.LeakyReLU(0.1), …) or function (torch.relu, F.gelu, …), or an elementwise "
           "callable on numpy arrays or torch tensors")


def theory_activation(activation) -> Activation:
    """The theory's `Activation` for what a user passes as an activation.

    A name or an `Activation` is looked up as `lmech.theory.get_activation` does. Torch's
    own activations map to the named ones, with their parameters (``nn.LeakyReLU(0.1)`` is
    leaky_relu with slope 0.1), so that scale-invariant ones keep their closed forms. Any
    other elementwise callable on numpy arrays or torch tensors (e.g. ``nn.GELU("tanh")``
    or ``nn.ELU()``) is wrapped; its Gaussian expectations are then found by quadrature.

    Raises:
        LmechError: unknown name, or something that is not an elementwise activation.

    Example:
        >>> theory_activation(nn.LeakyReLU(0.1)).name, theory_activation(torch.tanh).name
        ('leaky_relu(0.1)', 'tanh')
    """
    if isinstance(activation, str | Activation):
        return get_activation(activation)
    if isinstance(activation, nn.Module):
        named = _named_module(activation)
        if named is not None:
            return get_activation(named[0], **named[1])
        return _on_tensors(activation, type(activation).__name__)
    if callable(activation):
        try:
            name = _FUNCTIONS.get(activation)
        except TypeError:  # an unhashable callable is not one of torch's functions
            name = None
        if name is not None:
            return get_activation(name)
        if _elementwise(activation, np.linspace(-2.0, 2.0, 5)):
            return get_activation(activation)
        return _on_tensors(activation, getattr(activation, "__name__", "custom"))
    raise LmechError(f"activation must be {ALLOWED.format(names=', '.join(ACTIVATIONS))}; "
                     f"got {type(activation).__name__}")


def _named_module(module: nn.Module) -> tuple[str, dict] | None:
    if type(module) in _MODULES:
        return _MODULES[type(module)], {}
    if isinstance(module, nn.LeakyReLU):
        return "leaky_relu", {"slope": float(module.negative_slope)}
    if isinstance(module, nn.GELU) and module.approximate == "none":
        return "gelu", {}
    if isinstance(module, nn.Softplus) and module.beta == 1:
        return "softplus", {}
    return None


def _elementwise(fn, x) -> bool:
    """Whether `fn` maps `x` to finite values of its shape, each from its own entry."""
    try:
        y = np.asarray(fn(x), dtype=np.float64)
        one = np.concatenate([np.asarray(fn(x[i:i + 1]), dtype=np.float64).reshape(-1)
                              for i in range(len(x))])
    except Exception:  # any failure means: not usable on this kind of array
        return False
    return y.shape == x.shape and bool(np.all(np.isfinite(y))) and np.allclose(y, one)


def _on_tensors(fn, name: str) -> Activation:
    probe = torch.linspace(-2.0, 2.0, 5, dtype=torch.float64)
    if not _elementwise(lambda t: fn(t).detach() if torch.is_tensor(t) else fn(t), probe):
        raise LmechError(
            f"activation {name} is not an elementwise function of numpy arrays or torch "
            f"tensors; allowed: {ALLOWED.format(names=', '.join(ACTIVATIONS))}"
        )

    def on_numpy(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return fn(torch.as_tensor(np.asarray(x, dtype=np.float64))).numpy()

    return Activation(name, on_numpy, fn)


def critical_(module: nn.Module, activation, *, generator: torch.Generator | None = None,
              last_layer: bool = True) -> CriticalPoint:
    """Initialise every ``nn.Linear`` in `module` at the critical point of `activation`.

    Weights W ~ N(0, C_W/fan_in), biases b ~ N(0, C_b), in place. The effect:
    preactivation variances stay O(1) at every depth (exactly constant for scale-invariant
    σ; K ~ 1/(−a₁l) for the K*=0 class; near K* for GELU/SWISH) instead of exploding or
    vanishing as χ∥^l.

    Args:
        module: any ``nn.Module``; its ``nn.Linear`` layers (each at least 1 wide, in and
            out) are initialised, in definition order.
        activation: the activation the module uses: a name (relu, tanh, gelu, …), an
            `Activation`, a torch activation module (``nn.ReLU()``, ``nn.LeakyReLU(0.1)``)
            or function (``torch.relu``, ``F.gelu``), or an elementwise callable on numpy
            arrays or torch tensors (see :func:`theory_activation`).
        generator: a ``torch.Generator``, the source of randomness (default: a fresh
            unseeded one).
        last_layer: also initialise the last ``nn.Linear`` (the readout).

    Returns:
        the critical point used.

    Raises:
        LmechError: `module` is not an ``nn.Module`` or has no ``nn.Linear``, a layer has
            zero width, `generator` is not a ``torch.Generator``, the activation is not
            one of the allowed kinds, or it has no criticality.

    Example:
        >>> net = nn.Sequential(nn.Linear(8, 64), nn.Tanh(), nn.Linear(64, 1))
        >>> critical_(net, nn.Tanh(), generator=torch.Generator().manual_seed(0)).C_W
        1.0
    """
    if not isinstance(module, nn.Module):
        raise LmechError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise LmechError(f"generator must be a torch.Generator (e.g. "
                         f"torch.Generator().manual_seed(0)) or None, got {generator!r}")
    linears = [(name, m) for name, m in module.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise LmechError(f"module {type(module).__name__} has no nn.Linear layer to initialise")
    for name, layer in linears:
        if layer.in_features < 1 or layer.out_features < 1:
            raise LmechError(f"layer {name or type(module).__name__!r} ({layer}) has zero "
                             f"width; every nn.Linear needs in_features and out_features ≥ 1")
    cp = critical_point(theory_activation(activation))
    if not cp.exists:
        raise LmechError(f"activation {cp.activation!r} has no critical point: {cp.stability}")
    gen = generator if generator is not None else torch.Generator()
    for _, layer in linears if last_layer else linears[:-1]:
        with torch.no_grad():
            std = math.sqrt(cp.C_W / layer.in_features)
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen,
                                           device=gen.device) * std)
            if layer.bias is not None:
                layer.bias.copy_(torch.randn(layer.bias.shape, generator=gen,
                                             device=gen.device) * math.sqrt(cp.C_b))
    return cp


def critical_summary(activation) -> dict:
    """Critical point, class, susceptibilities at K* and depth scales, as plain values.

    The susceptibilities are evaluated at K* (for scale-invariant σ, where every K is fixed,
    at K = 1; for the K*=0 class, in the limit K → 0); the depth scales ξ = 1/|ln χ| are
    infinite at criticality — the point of it. `activation`: as for :func:`critical_`.
    """
    act = theory_activation(activation)
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


def plot_flows(activation, path: str | Path, *, depth: int = 50, width: int = 100) -> Path:
    """Draw K^(l) and the normalised vertex V/(nK²) against depth at criticality to `path`.

    Returns the path written (a ``.png``; checked before anything is computed).

    Raises:
        LmechError: `path` cannot take a PNG (see `writable_png`), or the activation has no
            critical point.
    """
    path = writable_png(path)
    act = theory_activation(activation)
    cp = critical_point(act)
    if not cp.exists:
        raise LmechError(f"activation {cp.activation!r} has no critical point: {cp.stability}")
    k1 = 1.0 if math.isnan(cp.K_star) or cp.K_star == 0.0 else cp.K_star
    K = kernel_recursion(act, depth, cp.C_W, cp.C_b, k1)
    V = four_point_vertex(act, depth, width, cp.C_W, cp.C_b, k1)
    layers = np.arange(1, depth + 1)
    fig = Figure(figsize=(9, 3.5), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.plot(layers, K)
    left.set(xlabel="layer l", ylabel="kernel K^(l)", yscale="log",
             title=f"{cp.activation}: C_W={cp.C_W:.4g}, C_b={cp.C_b:.4g}")
    right.plot(layers, V / (width * K * K))
    right.set(xlabel="layer l", ylabel=f"V/(nK²), n={width}",
              title=f"class: {cp.universality_class}")
    try:
        fig.savefig(path, format="png", dpi=100)
    except OSError as err:
        raise LmechError(f"cannot write the figure to {path}: {err.strerror}") from None
    return path
