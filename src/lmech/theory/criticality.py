"""Susceptibilities, fixed points, depth scales and the critical point of a deep MLP.

Single-input kernel map f(K) = C_b + C_W <σ²>_K (PDLT ch. 5):

    χ∥(K) ≡ f'(K) = (C_W/2K²) <σ²(z)(z² − K)>_K = C_W <σ'² + σσ''>_K     (PDLT eq. 5.10)
    χ⊥(K) ≡ C_W <σ'(z)²>_K                                               (PDLT eq. 5.50)

Near a fixed point K* = f(K*), a perturbation of the norm decays as χ∥(K*)^l and the
distance of two nearby inputs as χ⊥(K*)^l, so the depth scales are ξ = −1/ln χ.
Criticality is χ∥(K*) = χ⊥(K*) = 1, found class by class:

- scale-invariant σ (a₊z, a₋z): C_b = 0, C_W = 1/A₂, every K is a fixed point;
- K* = 0 class (σ(0) = 0, σ₁ = σ'(0) ≠ 0, a₁ = σ₃/σ₁ + (3/4)(σ₂/σ₁)² < 0): C_b = 0,
  C_W = 1/σ₁², K^(l) ≈ 1/(−a₁ l);
- otherwise a K* > 0 solving <σ'²>_K = <σ²(z² − K)>_K/(2K²), with C_W = 1/<σ'²>_{K*}
  and C_b = K* − C_W<σ²>_{K*} ≥ 0 (GELU, SWISH). There f'(K*) = 1 and generically
  f''(K*) ≠ 0, so f(K) − K has one sign on both sides: the point is half-stable.

Source: Roberts, Yaida & Hanin, *The Principles of Deep Learning Theory* (arXiv:2106.10165),
§5.1–5.4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from lmech.errors import LmechError
from lmech.theory.activations import get_activation
from lmech.theory.gaussian import (
    derivative_square_expectation,
    sigma_derivative,
    sigma_power_expectation,
    sigma_square_slope,
)
from lmech.theory.kernels import check_network

__all__ = [
    "CriticalPoint",
    "FixedPoint",
    "chi_parallel",
    "chi_perp",
    "critical_point",
    "depth_scales",
    "fixed_point",
]


def chi_parallel(activation, K, C_W: float) -> np.ndarray:
    """χ∥(K) = (C_W/2K²)<σ²(z² − K)>_K, the slope of the single-input kernel map (K > 0).

    Example:
        >>> float(chi_parallel("relu", 0.37, 2.0))
        1.0
    """
    K = np.asarray(K, dtype=np.float64)
    if np.any(K <= 0):
        raise LmechError(f"K must be > 0, got {K}")
    return C_W * sigma_square_slope(get_activation(activation), K)


def chi_perp(activation, K, C_W: float) -> np.ndarray:
    """χ⊥(K) = C_W<σ'(z)²>_K, the growth of a small distance between two equal-norm inputs.

    Example:
        >>> round(float(chi_perp("tanh", 0.69324, 1.5)), 4)
        0.797
    """
    return C_W * derivative_square_expectation(get_activation(activation), K)


@dataclass(frozen=True)
class FixedPoint:
    """A fixed point K* of the kernel map and the depth scales around it.

    Attributes:
        K_star: K* = C_b + C_W<σ²>_{K*}.
        chi_parallel, chi_perp: χ∥(K*), χ⊥(K*).
        xi_parallel, xi_perp: depth scales 1/|ln χ| (inf at χ = 1).
    """

    K_star: float
    chi_parallel: float
    chi_perp: float
    xi_parallel: float
    xi_perp: float


def _xi(chi: float) -> float:
    return math.inf if abs(math.log(chi)) < 1e-14 else 1.0 / abs(math.log(chi))


def fixed_point(activation, C_W: float, C_b: float, K0: float = 1.0) -> float:
    """The fixed point K* that the single-input recursion reaches from K0.

    Raises:
        LmechError: the kernel grows without bound (no finite fixed point).

    Example:
        >>> round(fixed_point("tanh", 1.5, 0.2), 5)
        0.69324
    """
    act = get_activation(activation)
    check_network(1, C_W, C_b)
    if act.slopes is not None:
        slope = C_W * (act.slopes[0] ** 2 + act.slopes[1] ** 2) / 2
        if abs(slope - 1) < 1e-14:
            return float(K0) if C_b == 0 else _diverges(act.name)
        return C_b / (1 - slope) if slope < 1 else _diverges(act.name)
    step = lambda k: C_b + C_W * float(sigma_power_expectation(act, k, 2))  # noqa: E731
    k = float(K0)
    for _ in range(4000):
        new = step(k)
        if not math.isfinite(new) or new > 1e8:
            _diverges(act.name)
        if abs(new - k) <= 1e-15 * max(1.0, k):
            return new
        k = new
    if k < 1e-3:  # a slow (power-law) approach to K* = 0
        return 0.0 if abs(step(0.0)) < 1e-14 else k
    lo, hi = k * 0.5, k * 2.0
    g = lambda q: step(q) - q  # noqa: E731
    if g(lo) * g(hi) < 0:
        return float(optimize.brentq(g, lo, hi, xtol=1e-15, rtol=1e-14))
    return k


def _diverges(name: str):
    raise LmechError(f"the kernel of {name} grows without bound at these C_W, C_b: "
                     "no finite fixed point")


def depth_scales(activation, C_W: float, C_b: float, K0: float = 1.0) -> FixedPoint:
    """The fixed point reached from K0, its susceptibilities and depth scales ξ = 1/|ln χ|.

    Example:
        >>> fp = depth_scales("tanh", 1.5, 0.2)
        >>> round(fp.chi_perp, 4), round(fp.xi_perp, 3)
        (0.797, 4.407)
    """
    k = fixed_point(activation, C_W, C_b, K0)
    if k == 0.0:
        act = get_activation(activation)
        d0 = float(sigma_derivative(act)(np.array(0.0)))
        cpar = cperp = C_W * d0 * d0
    else:
        cpar, cperp = float(chi_parallel(activation, k, C_W)), float(chi_perp(activation, k, C_W))
    return FixedPoint(k, cpar, cperp, _xi(cpar), _xi(cperp))


@dataclass(frozen=True)
class CriticalPoint:
    """Where χ∥ = χ⊥ = 1: the initialisation hyperparameters and the universality class.

    Attributes:
        activation: the activation's name.
        C_b, C_W: the critical bias and weight variances (nan when there is none).
        K_star: the critical fixed point (nan for scale-invariant σ: every K is fixed).
        universality_class: "scale-invariant", "K*=0", "half-stable" or "none".
        stability: how the kernel flows near K*, in words.
        a1: for the K*=0 class, a₁ in K^(l+1) = K + a₁K² + …; else nan.
    """

    activation: str
    C_b: float
    C_W: float
    K_star: float
    universality_class: str
    stability: str
    a1: float = math.nan

    @property
    def exists(self) -> bool:
        return self.universality_class != "none"


def _taylor(act) -> tuple[float, float, float, float]:
    """σ(0), σ₁, σ₂, σ₃ by central differences of σ' (error ~1e-8 at h = 1e-3)."""
    d, h = sigma_derivative(act), 1e-3
    dp, d0, dm = (float(d(np.array(v))) for v in (h, 0.0, -h))
    return float(act.numpy(np.array(0.0))), d0, (dp - dm) / (2 * h), (dp - 2 * d0 + dm) / h**2


def critical_point(activation) -> CriticalPoint:
    """The critical initialisation (C_b, C_W), its fixed point K* and universality class.

    Example:
        >>> critical_point("relu").C_W, critical_point("tanh").universality_class
        (2.0, 'K*=0')
    """
    act = get_activation(activation)
    if act.slopes is not None:
        a2 = (act.slopes[0] ** 2 + act.slopes[1] ** 2) / 2
        if a2 == 0:
            return _none(act.name, "σ is identically zero")
        return CriticalPoint(act.name, 0.0, 1.0 / a2, math.nan, "scale-invariant",
                             "marginal: every K is a fixed point, χ∥ = χ⊥ = 1")
    s0, s1, s2, s3 = _taylor(act)
    if abs(s0) < 1e-12 and abs(s1) > 1e-8:
        a1 = s3 / s1 + 0.75 * (s2 / s1) ** 2
        if a1 < -1e-6:
            return CriticalPoint(act.name, 0.0, 1.0 / s1**2, 0.0, "K*=0",
                                 f"attracts from above, K^(l) ≈ 1/({-a1:.4g}·l)", a1)
    return _nonzero_critical_point(act)


def _none(name: str, why: str) -> CriticalPoint:
    return CriticalPoint(name, math.nan, math.nan, math.nan, "none", f"no criticality: {why}")


def _nonzero_critical_point(act) -> CriticalPoint:
    def mismatch(k: float) -> float:  # χ∥ − χ⊥ at the C_W that makes χ⊥ = 1, divided by C_W
        return float(sigma_square_slope(act, k) - derivative_square_expectation(act, k))

    grid = np.geomspace(1e-3, 1e3, 121)
    vals = np.array([mismatch(k) for k in grid])
    for i in np.flatnonzero(np.sign(vals[:-1]) * np.sign(vals[1:]) < 0):
        k = float(optimize.brentq(mismatch, grid[i], grid[i + 1], xtol=1e-14, rtol=1e-13))
        c_w = 1.0 / float(derivative_square_expectation(act, k))
        c_b = k - c_w * float(sigma_power_expectation(act, k, 2))
        if c_b >= -1e-12:
            return CriticalPoint(act.name, max(c_b, 0.0), c_w, k, "half-stable",
                                 _half_stability(act, k, c_w, max(c_b, 0.0)))
    return _none(act.name, "no K* > 0 with χ∥ = χ⊥ = 1 and C_b ≥ 0 (searched 1e-3 … 1e3)")


def _half_stability(act, k: float, c_w: float, c_b: float) -> str:
    eps = 1e-3 * k  # f − K ≈ f''(K*)(K − K*)²/2 only very near K* (f''' is large)
    g = [c_b + c_w * float(sigma_power_expectation(act, q, 2)) - q for q in (k - eps, k + eps)]
    if g[0] > 0 and g[1] > 0:
        return "half-stable: attracts from below (K < K* flows up to K*), repels above"
    if g[0] < 0 and g[1] < 0:
        return "half-stable: attracts from above (K > K* flows down to K*), repels below"
    return "stable" if g[0] > 0 else "unstable"
