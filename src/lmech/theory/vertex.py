"""Finite-width corrections at initialisation: the four-point vertex V, the excess kurtosis
and the 1/n shift of the kernel.

Definition (PDLT §4.3; docs/theory/init.md, §Four-point vertex): the connected four-point
function of layer-l preactivations is
E[z_i1 z_i2 z_i3 z_i4]_conn = (1/n_{l−1})[δ_i1i2 δ_i3i4 V^(l) + 2 perms],
so one neuron's excess kurtosis is κ^(l) = 3V^(l)/(n_{l−1}K^(l)²) + O(1/n²).

Given layer l, z^(l+1) is Gaussian with the random covariance
Ĝ_αβ = C_b + (C_W/n_l) Σⱼ σ(z_α,j)σ(z_β,j), and V^(l+1)/n_l = Cov(Ĝ, Ĝ). Expanding
<σσ>_Ĝ to first order in the fluctuation of Ĝ^(l) gives (PDLT eq. 4.90):

    V^(l+1)_(pq) = C_W² [<σ_pσ_q> − <σ_p><σ_q>]_{K^(l)} + (n_l/n_{l−1}) C_W² Σ_rs J_pr V^(l)_rs J_qs

with p, q, r, s running over the pairs (αβ) of inputs, σ_(αβ) = σ(z_α)σ(z_β) and
J_pr = ∂<σ_p>_K/∂K_r. With one input J = χ∥/C_W and

    V^(l+1) = C_W²[<σ⁴> − <σ²>²]_{K^(l)} + χ∥(K^(l))² (n_l/n_{l−1}) V^(l),   V¹ = 0.

To second order the same expansion shifts the mean kernel: with g(K) = <σ²>_K,
E z^(l+1)² − K^(l+1) ≡ δ^(l+1) = χ∥(K^(l)) δ^(l) + (C_W/2) g''(K^(l)) V^(l)/n_{l−1}
(PDLT's next-to-leading-order kernel K^{1}, eq. 4.115, single input), zero for
scale-invariant σ.

Exact result for scale-invariant σ with C_b = 0: Ĝ^(l+1) = Ĝ^(l)·(C_W/n)Σⱼ xⱼ² s(xⱼ)² with
xⱼ iid N(0, 1), so E[Ĝ²] grows by exactly (1 + c/n_l) per layer, c = 3A₄/A₂² − 1, and
κ^(l) = 3[Π_{j<l}(1 + c/n_j) − 1] at any width (ReLU: c = 5; linear: c = 2).

Source: Roberts, Yaida & Hanin, *The Principles of Deep Learning Theory*
(arXiv:2106.10165), §4.3, §5.4 and eqs. 4.90, 4.115; docs/theory/init.md.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.polynomial.legendre import leggauss

from lmech.errors import LmechError
from lmech.theory.activations import Activation, get_activation
from lmech.theory.criticality import chi_parallel
from lmech.theory.gaussian import (
    gaussian_expectation,
    gaussian_expectation_2d,
    sigma_power_expectation,
    sigma_sigma_expectation,
)
from lmech.theory.kernels import kernel_recursion, kernel_recursion_gram

__all__ = [
    "excess_kurtosis",
    "four_point_vertex",
    "four_point_vertex_pair",
    "kernel_finite_width_shift",
    "kernel_finite_width_shift_pair",
    "scale_invariant_excess_kurtosis",
]

PAIRS = ((0, 0), (0, 1), (1, 1))
"""The pairs (αβ) of two inputs indexing the pair vertex: (11), (12), (22)."""


def _widths(width, depth: int) -> np.ndarray:
    """Hidden widths n_1 … n_{L−1} as floats (an int means all equal)."""
    w = np.full(max(depth - 1, 0), width, dtype=np.float64) if np.ndim(width) == 0 else \
        np.asarray(width, dtype=np.float64)
    if w.shape != (max(depth - 1, 0),):
        raise LmechError(f"width must be one int or depth − 1 = {depth - 1} hidden widths, "
                         f"got {width!r}")
    if np.any(w < 1) or np.any(w != np.round(w)):
        raise LmechError(f"width must be integers >= 1, got {width!r}")
    return w


def four_point_vertex(activation, depth: int, width, C_W: float, C_b: float,
                      K1: float) -> np.ndarray:
    """V⁽¹⁾ … V⁽ᴸ⁾ of a single input, shape ``(depth,)`` (V⁽¹⁾ = 0).

    Args:
        width: the hidden widths n_1 … n_{L−1}, or one int for all.

    Example:
        >>> four_point_vertex("relu", 3, 100, 2.0, 0.0, 1.0).tolist()  # 5(l−1)K² for ReLU
        [0.0, 5.0, 10.0]
    """
    act = get_activation(activation)
    n = _widths(width, depth)
    K = kernel_recursion(act, depth, C_W, C_b, K1)
    V = np.zeros(int(depth))
    for layer in range(1, int(depth)):
        k = K[layer - 1]
        source = C_W**2 * float(sigma_power_expectation(act, k, 4)
                                - sigma_power_expectation(act, k, 2) ** 2)
        ratio = n[layer - 1] / n[layer - 2] if layer >= 2 else 0.0
        chi = float(chi_parallel(act, k, C_W)) if k > 0 else 0.0
        V[layer] = source + chi**2 * ratio * V[layer - 1]
    return V


def excess_kurtosis(activation, depth: int, width: int, C_W: float, C_b: float,
                    K1: float) -> np.ndarray:
    """Leading-order excess kurtosis κ^(l) = 3V^(l)/(n K^(l)²) of a preactivation of each
    layer 1 … depth over the ensemble of initialisations, equal hidden widths n.

    Example:
        >>> excess_kurtosis("relu", 3, 100, 2.0, 0.0, 1.0).round(12).tolist()  # 15(l−1)/n
        [0.0, 0.15, 0.3]
    """
    if np.ndim(width) != 0:
        raise LmechError(f"width must be one int (equal hidden widths), got {width!r}")
    V = four_point_vertex(activation, depth, width, C_W, C_b, K1)
    K = kernel_recursion(activation, depth, C_W, C_b, K1)
    if np.any(K <= 0):
        raise LmechError("the kernel vanishes: the kurtosis is undefined")
    return 3 * V / (width * K * K)


def scale_invariant_excess_kurtosis(activation, depth: int, width) -> np.ndarray:
    """Exact excess kurtosis at any width of a scale-invariant MLP with C_b = 0:
    κ^(l) = 3[Π_{j=1}^{l−1}(1 + c/n_j) − 1], c = 3A₄/A₂² − 1 (any C_W, any input).

    Example:
        >>> scale_invariant_excess_kurtosis("relu", 3, 5).tolist()  # 3[(1 + 5/5)² − 1]
        [0.0, 3.0, 9.0]
    """
    act = get_activation(activation)
    if act.slopes is None:
        raise LmechError(f"activation {act.name!r} is not scale-invariant; allowed: relu, "
                         "leaky_relu, linear")
    n = _widths(width, int(depth))
    ap, am = act.slopes
    a2, a4 = (ap**2 + am**2) / 2, (ap**4 + am**4) / 2
    c = 3 * a4 / a2**2 - 1
    return 3 * (np.concatenate([[1.0], np.cumprod(1 + c / n)]) - 1)


def _g2(act: Activation, k: float) -> float:
    """g''(K) with g(K) = <σ²>_K, by the score function: E[σ²(s² + (K − 2z²)/(2K³))],
    s = (z² − K)/(2K²)."""
    if act.slopes is not None:
        return 0.0
    f = act.numpy
    return float(gaussian_expectation(
        lambda z: f(z) ** 2 * (((z * z - k) / (2 * k * k)) ** 2 + (k - 2 * z * z) / (2 * k**3)),
        k))


def kernel_finite_width_shift(activation, depth: int, width, C_W: float, C_b: float,
                              K1: float) -> np.ndarray:
    """The O(1/n) shift δ^(l) = E z^(l)² − K^(l) of each layer's variance, shape ``(depth,)``.

    δ^(l+1) = χ∥(K^(l)) δ^(l) + (C_W/2) g''(K^(l)) V^(l)/n_{l−1}, δ¹ = δ² = 0, with
    g(K) = <σ²>_K; it vanishes for scale-invariant σ.

    Example:
        >>> kernel_finite_width_shift("relu", 4, 32, 2.0, 0.0, 1.0).tolist()
        [0.0, 0.0, 0.0, 0.0]
    """
    act = get_activation(activation)
    n = _widths(width, depth)
    K = kernel_recursion(act, depth, C_W, C_b, K1)
    V = four_point_vertex(act, depth, width, C_W, C_b, K1)
    d = np.zeros(int(depth))
    for layer in range(2, int(depth)):
        k = K[layer - 1]
        chi = float(chi_parallel(act, k, C_W))
        d[layer] = chi * d[layer - 1] + C_W / 2 * _g2(act, k) * V[layer - 1] / n[layer - 2]
    return d


def _homogeneous_2d(f, K11: float, K12: float, K22: float, degree: int) -> float:
    """E f(u, v) for f positively homogeneous of `degree` with kinks on u = 0 and v = 0:
    E r^degree · (1/2π)∫ f(ω(φ)) dφ in polar whitened coordinates, split at the kinks."""
    s1, s2 = math.sqrt(K11), math.sqrt(K22)
    rho = max(-1.0, min(1.0, K12 / (s1 * s2))) if s1 * s2 > 0 else 0.0
    perp = math.sqrt(1 - rho * rho)
    cuts = [-math.pi / 2, math.pi / 2, math.atan2(-rho, perp), math.atan2(rho, -perp)]
    edges = np.unique(np.mod(np.array(cuts + [0.0]), 2 * math.pi))
    edges = np.append(edges, 2 * math.pi) if edges[-1] < 2 * math.pi else edges
    x, w = leggauss(24)
    mid, half = (edges[1:] + edges[:-1]) / 2, (edges[1:] - edges[:-1]) / 2
    phi = (mid[:, None] + half[:, None] * x).ravel()
    wts = (half[:, None] * w).ravel()
    u = s1 * np.cos(phi)
    v = s2 * (rho * np.cos(phi) + perp * np.sin(phi))
    radial = 2 ** (degree / 2) * math.gamma(1 + degree / 2)  # E r^d, r ~ chi(2)
    return radial * float(f(u, v) @ wts) / (2 * math.pi)


def _fourth_moments(act: Activation, K: np.ndarray) -> np.ndarray:
    """M_pq = <σ_p σ_q> for the pairs p, q of two inputs, shape (3, 3)."""
    f = act.numpy
    M = np.empty((3, 3))
    for i, (a, b) in enumerate(PAIRS):
        for j, (c, d) in enumerate(PAIRS):
            powers = [(a, b, c, d).count(0), (a, b, c, d).count(1)]
            g = lambda u, v, p=powers: f(u) ** p[0] * f(v) ** p[1]  # noqa: E731
            if act.slopes is not None:
                M[i, j] = _homogeneous_2d(g, K[0, 0], K[0, 1], K[1, 1], 4)
            else:
                M[i, j] = float(gaussian_expectation_2d(g, K[0, 0], K[0, 1], K[1, 1]))
    return M


def _pair_means(act: Activation, k11: float, k12: float, k22: float) -> np.ndarray:
    bound = math.sqrt(k11 * k22)  # a finite-difference step may leave the PSD cone
    k12 = min(max(k12, -bound), bound)
    return np.array([float(sigma_sigma_expectation(act, k11, k11, k11)),
                     float(sigma_sigma_expectation(act, k11, k12, k22)),
                     float(sigma_sigma_expectation(act, k22, k22, k22))])


def _jacobian(act: Activation, K: np.ndarray) -> np.ndarray:
    """J_pr = ∂<σ_p>/∂K_r by central differences (step 1e-5 of the scale: error ~1e-10)."""
    base = np.array([K[0, 0], K[0, 1], K[1, 1]])
    h = 1e-5 * max(K[0, 0], K[1, 1])
    J = np.empty((3, 3))
    for r in range(3):
        up, down = base.copy(), base.copy()
        up[r] += h
        down[r] -= h
        J[:, r] = (_pair_means(act, *up) - _pair_means(act, *down)) / (2 * h)
    return J


def four_point_vertex_pair(activation, depth: int, width, C_W: float, C_b: float,
                           K1) -> np.ndarray:
    """The vertex V^(l)_(pq) of two inputs, shape ``(depth, 3, 3)``, pairs (11), (12), (22).

    `K1` is the 2×2 first-layer kernel; `width` the hidden widths n_1 … n_{L−1} or one int.
    Entry (11),(11) equals the single-input vertex of input 1.
    """
    act = get_activation(activation)
    n = _widths(width, depth)
    K = kernel_recursion_gram(act, depth, C_W, C_b, K1)
    if K.shape[1:] != (2, 2):
        raise LmechError(f"K1 must be 2×2 for a pair of inputs, got shape {K.shape[1:]}")
    if np.linalg.eigvalsh(K[0]).min() < -1e-12:
        raise LmechError("K1 must be positive semi-definite")
    V = np.zeros((int(depth), 3, 3))
    for layer in range(1, int(depth)):
        k = K[layer - 1]
        m = _pair_means(act, k[0, 0], k[0, 1], k[1, 1])
        source = C_W**2 * (_fourth_moments(act, k) - np.outer(m, m))
        ratio = n[layer - 1] / n[layer - 2] if layer >= 2 else 0.0
        J = _jacobian(act, k) if layer >= 2 else np.zeros((3, 3))
        V[layer] = source + ratio * C_W**2 * J @ V[layer - 1] @ J.T
    return V


def _hessian(act: Activation, K: np.ndarray) -> np.ndarray:
    """H_p,rs = ∂²<σ_p>/∂K_r∂K_s by central second differences (step 1e-3 of the scale:
    truncation ~1e-6, rounding ~1e-13/1e-6 relative; ample for a 1/n correction)."""
    base = np.array([K[0, 0], K[0, 1], K[1, 1]])
    h = 1e-3 * max(K[0, 0], K[1, 1])
    H = np.empty((3, 3, 3))
    for r in range(3):
        for s in range(r, 3):
            vals = []
            for a, b in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                k = base.copy()
                k[r] += a * h
                k[s] += b * h
                vals.append(_pair_means(act, *k))
            H[:, r, s] = H[:, s, r] = (vals[0] - vals[1] - vals[2] + vals[3]) / (4 * h * h)
    return H


def kernel_finite_width_shift_pair(activation, depth: int, width, C_W: float, C_b: float,
                                   K1) -> np.ndarray:
    """The O(1/n) shift of the kernel of two inputs, shape ``(depth, 3)`` over (11, 12, 22).

    δ_p^(l+1) = C_W Σ_r J_pr δ_r^(l) + (C_W/2) Σ_rs H_p,rs V^(l)_rs/n_{l−1}, the second-order
    expansion of <σ_p>_Ĝ around K^(l) with Cov(Ĝ_r, Ĝ_s) = V_rs/n_{l−1}; J and H are the
    first and second derivatives of <σ_p>_K in the entries K_r. Entry (11) equals
    `kernel_finite_width_shift` of input 1 (to the finite-difference accuracy).
    """
    act = get_activation(activation)
    n = _widths(width, depth)
    K = kernel_recursion_gram(act, depth, C_W, C_b, K1)
    V = four_point_vertex_pair(act, depth, width, C_W, C_b, K1)
    d = np.zeros((int(depth), 3))
    for layer in range(2, int(depth)):
        k = K[layer - 1]
        J, H = _jacobian(act, k), _hessian(act, k)
        d[layer] = C_W * J @ d[layer - 1] + C_W / 2 * np.einsum(
            "prs,rs->p", H, V[layer - 1]) / n[layer - 2]
    return d
