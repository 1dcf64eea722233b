"""Gaussian expectations of elementwise activations, in one and two dimensions.

Notation (THEORY.md §1): <f>_K = E f(z), z ~ N(0, K); for a pair, (u, v) ~ N(0, [[K11, K12],
[K12, K22]]). Closed forms where they exist:

- scale-invariant σ(z) = a₊z (z > 0), a₋z (z < 0), through the arc-cosine kernel
  J(K12) = √(K11K22)/(2π)·[sin θ + (π − θ) cos θ], cos θ = K12/√(K11K22):
  <σ(u)σ(v)> = (a₊² + a₋²) J(K12) − 2a₊a₋ J(−K12),
  <σ'(u)σ'(v)> = (a₊² + a₋²)(π − θ)/(2π) + 2a₊a₋ θ/(2π),
  <σ²>_K = A₂K, <σ⁴>_K = 3A₄K², A_k = (a₊^k + a₋^k)/2
  (Cho & Saul 2009, arc-cosine kernels; PDLT §5.2);
- erf: <erf(u)erf(v)> = (2/π) arcsin(2K12/√((1+2K11)(1+2K22))),
  <erf'(u)erf'(v)> = (4/π)/√((1+2K11)(1+2K22) − 4K12²) (Williams 1997).

Everything else by quadrature in the whitened coordinates u = √K11 x,
v = √K22(ρx + √(1−ρ²) y): a composite Gauss–Legendre rule on [−L, L] whose panels are at
most 2 wide in x and in z = √K x, so the rule resolves both the Gaussian and the
activation's own scale. For activations analytic in a strip (tanh, GELU, …) this is
accurate to ~1e-13 (tested against adaptive quadrature); for a kink it converges only
algebraically, which is why the kinked activations have closed forms.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.polynomial.legendre import leggauss

from lmech.errors import LmechError
from lmech.theory.activations import Activation, get_activation

__all__ = [
    "dsigma_dsigma_expectation",
    "gaussian_expectation",
    "gaussian_expectation_2d",
    "sigma_sigma_expectation",
    "sigma_derivative",
]

_GL_X, _GL_W = leggauss(12)
_HALF_RANGE_1D = 12.0  # φ(12) ≈ 5e-32: the tails beyond are below float64 resolution
_HALF_RANGE_2D = 10.0  # e^{-50}: negligible against 1e-13 for polynomially bounded f
_MAX_NODES = 4_000
PANEL = 2.0  # 12 Gauss–Legendre nodes per panel: ~1e-13 for a pole π/2 from the real axis


def _composite_nodes(scale: float, half_range: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of ∫_{−L}^{L} g(x) φ(x) dx, panels ≤ min(2, 2/scale) wide."""
    width = min(PANEL, PANEL / max(scale, 1e-300))
    panels = int(min(math.ceil(2 * half_range / width), _MAX_NODES // _GL_X.size))
    edges = np.linspace(-half_range, half_range, panels + 1)
    mid, half = (edges[1:] + edges[:-1]) / 2, (edges[1:] - edges[:-1]) / 2
    x = (mid[:, None] + half[:, None] * _GL_X[None, :]).ravel()
    w = (half[:, None] * _GL_W[None, :]).ravel() * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    return x, w


def _finite(values: np.ndarray, what: str) -> np.ndarray:
    if not np.all(np.isfinite(values)):
        raise LmechError(f"activation: {what} returned non-finite values; an activation must "
                         "be finite on the real line")
    return values


def gaussian_expectation(f: Callable[[np.ndarray], np.ndarray], K) -> np.ndarray:
    """<f>_K = E f(z), z ~ N(0, K), for each variance in `K` (any shape, K ≥ 0).

    Example:
        >>> round(float(gaussian_expectation(lambda z: z**4, 2.0)), 12)
        12.0
    """
    K = np.asarray(K, dtype=np.float64)
    if np.any(K < 0):
        raise LmechError(f"variance K must be >= 0, got min {K.min()}")
    x, w = _composite_nodes(math.sqrt(float(K.max(initial=0.0))), _HALF_RANGE_1D)
    z = np.sqrt(K)[..., None] * x  # (*K.shape, nodes)
    return _finite(np.asarray(f(z), dtype=np.float64), "f") @ w


def gaussian_expectation_2d(f: Callable[[np.ndarray, np.ndarray], np.ndarray], K11, K12,
                            K22) -> np.ndarray:
    """E f(u, v) with (u, v) ~ N(0, [[K11, K12], [K12, K22]]), elementwise over the arrays.

    Example:
        >>> round(float(gaussian_expectation_2d(lambda u, v: u * u * v * v, 1.0, 0.5, 2.0)), 12)
        2.5
    """
    K11, K12, K22 = np.broadcast_arrays(*(np.asarray(k, dtype=np.float64) for k in (K11, K12,
                                                                                   K22)))
    if np.any(K11 < 0) or np.any(K22 < 0):
        raise LmechError("variances K11 and K22 must be >= 0")
    s1, s2 = np.sqrt(K11), np.sqrt(K22)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.clip(np.where(s1 * s2 > 0, K12 / (s1 * s2), 0.0), -1.0, 1.0)
    if np.any(np.abs(K12) > s1 * s2 * (1 + 1e-9) + 1e-300):
        raise LmechError("the 2×2 kernel must be positive semi-definite: |K12| <= √(K11·K22)")
    perp = np.sqrt(1.0 - rho * rho)
    x, wx = _composite_nodes(float(max(s1.max(initial=0), s2.max(initial=0))), _HALF_RANGE_2D)
    y, wy = _composite_nodes(float((s2 * perp).max(initial=0)), _HALF_RANGE_2D)
    out = np.empty(K11.shape)
    flat = [a.reshape(-1) for a in (s1, s2, rho, perp)]
    res = out.reshape(-1)
    chunk = max(1, 2_000_000 // (x.size * y.size))
    for start in range(0, res.size, chunk):
        a1, a2, r, p = (a[start:start + chunk, None, None] for a in flat)
        u = a1 * x[None, :, None]
        v = a2 * (r * x[None, :, None] + p * y[None, None, :])
        vals = _finite(np.asarray(f(np.broadcast_to(u, v.shape), v), dtype=np.float64), "f")
        res[start:start + chunk] = np.einsum("nij,i,j->n", vals, wx, wy)
    return out


def sigma_derivative(activation) -> Callable[[np.ndarray], np.ndarray]:
    """σ' on numpy arrays: closed form for named activations, else torch autograd of the
    callable, else a fourth-order central difference (error ~ h⁴σ⁽⁵⁾ with h = 1e-3)."""
    act = get_activation(activation)
    if act.derivative is not None:
        return act.derivative

    def by_autograd(x: np.ndarray) -> np.ndarray:
        import torch

        t = torch.as_tensor(np.asarray(x, dtype=np.float64)).requires_grad_()
        (grad,) = torch.autograd.grad(act.torch(t).sum(), t)
        return grad.detach().numpy()

    def by_differences(x: np.ndarray) -> np.ndarray:
        h, f = 1e-3, act.numpy
        return (8 * (f(x + h) - f(x - h)) - (f(x + 2 * h) - f(x - 2 * h))) / (12 * h)

    try:
        by_autograd(np.array([0.1, -0.3]))
        return by_autograd
    except Exception:  # a numpy-only callable
        return by_differences


def _arccos_terms(K11, K12, K22):
    norm = np.sqrt(K11 * K22)
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = np.clip(np.where(norm > 0, K12 / norm, 1.0), -1.0, 1.0)
    theta = np.arccos(cos)
    return norm, cos, theta


def _j(norm, cos, theta):
    return norm / (2 * math.pi) * (np.sqrt(1.0 - cos * cos) + (math.pi - theta) * cos)


def sigma_sigma_expectation(activation, K11, K12, K22) -> np.ndarray:
    """<σ(u)σ(v)> over the 2×2 Gaussian with entries K11, K12, K22 (arrays broadcast).

    Closed forms for scale-invariant activations (arc-cosine) and erf; quadrature otherwise.

    Example:
        >>> round(float(sigma_sigma_expectation("relu", 1.0, 1.0, 1.0)), 15)
        0.5
    """
    act = get_activation(activation)
    K11, K12, K22 = (np.asarray(k, dtype=np.float64) for k in (K11, K12, K22))
    if act.slopes is not None:
        ap, am = act.slopes
        norm, cos, theta = _arccos_terms(K11, K12, K22)
        # J(−K12): θ → π − θ, cos → −cos
        return (ap**2 + am**2) * _j(norm, cos, theta) - 2 * ap * am * _j(norm, -cos,
                                                                          math.pi - theta)
    if act.name == "erf":
        arg = 2 * K12 / np.sqrt((1 + 2 * K11) * (1 + 2 * K22))
        return 2 / math.pi * np.arcsin(np.clip(arg, -1.0, 1.0))
    f = act.numpy
    return gaussian_expectation_2d(lambda u, v: f(u) * f(v), K11, K12, K22)


def dsigma_dsigma_expectation(activation, K11, K12, K22) -> np.ndarray:
    """<σ'(u)σ'(v)> over the 2×2 Gaussian with entries K11, K12, K22 (arrays broadcast).

    Example:
        >>> round(float(dsigma_dsigma_expectation("relu", 1.0, 0.0, 1.0)), 15)
        0.25
    """
    act = get_activation(activation)
    K11, K12, K22 = (np.asarray(k, dtype=np.float64) for k in (K11, K12, K22))
    if act.slopes is not None:
        ap, am = act.slopes
        _, _, theta = _arccos_terms(K11, K12, K22)
        return ((ap**2 + am**2) * (math.pi - theta) + 2 * ap * am * theta) / (2 * math.pi)
    if act.name == "erf":
        return 4 / math.pi / np.sqrt((1 + 2 * K11) * (1 + 2 * K22) - 4 * K12 * K12)
    d = sigma_derivative(act)
    return gaussian_expectation_2d(lambda u, v: d(u) * d(v), K11, K12, K22)


def sigma_power_expectation(activation: Activation, K, power: int) -> np.ndarray:
    """<σ^power>_K for power 2 or 4 (closed forms for scale-invariant σ and erf², else
    quadrature)."""
    K = np.asarray(K, dtype=np.float64)
    if activation.slopes is not None:
        ap, am = activation.slopes
        a = (ap**power + am**power) / 2
        return a * K if power == 2 else 3 * a * K * K
    if activation.name == "erf" and power == 2:
        return 2 / math.pi * np.arcsin(2 * K / (1 + 2 * K))
    f = activation.numpy
    return gaussian_expectation(lambda z: f(z) ** power, K)


def derivative_square_expectation(activation: Activation, K) -> np.ndarray:
    """<σ'(z)²>_K (closed forms for scale-invariant σ and erf, else 1-D quadrature)."""
    K = np.asarray(K, dtype=np.float64)
    if activation.slopes is not None:
        return np.full(K.shape, (activation.slopes[0] ** 2 + activation.slopes[1] ** 2) / 2)
    if activation.name == "erf":
        return 4 / math.pi / np.sqrt(1 + 4 * K)
    d = sigma_derivative(activation)
    return gaussian_expectation(lambda z: d(z) ** 2, K)
