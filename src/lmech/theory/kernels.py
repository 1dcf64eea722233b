"""Infinite-width kernels of a deep MLP at initialisation: NNGP kernel K and mean NTK Θ.

Setting (PDLT ch. 4; docs/theory/init.md, §Conventions):
z¹ᵢ = bᵢ + Σⱼ Wᵢⱼxⱼ, z^(l+1)ᵢ = bᵢ + Σⱼ Wᵢⱼσ(z^(l)ⱼ),
W ~ N(0, C_W/n_{l−1}), b ~ N(0, C_b); n₀ is the input dimension.

    K¹_αβ = C_b + C_W x_α·x_β/n₀
    K^(l+1)_αβ = C_b + C_W <σ(z_α)σ(z_β)>_{K^(l)}                    (PDLT eq. 4.118)

Mean NTK with bias step λ_b and weight step λ_W/n_{l−1} (PDLT eq. 8.63;
docs/theory/init.md, §Mean NTK):

    Θ¹_αβ = λ_b + λ_W x_α·x_β/n₀
    Θ^(l+1)_αβ = λ_b + λ_W <σ_ασ_β>_{K^(l)} + C_W <σ'_ασ'_β>_{K^(l)} Θ^(l)_αβ

Source: Roberts, Yaida & Hanin, *The Principles of Deep Learning Theory* (arXiv:2106.10165),
§4.3 and §8.3; Lee et al. 2018 (NNGP), Jacot et al. 2018 (NTK).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from lmech.errors import LmechError
from lmech.theory.activations import Activation, get_activation
from lmech.theory.gaussian import (
    derivative_square_expectation,
    dsigma_dsigma_expectation,
    sigma_power_expectation,
    sigma_sigma_expectation,
)

__all__ = [
    "kernel_recursion",
    "kernel_recursion_gram",
    "nngp_kernel",
    "ntk_kernel",
    "ntk_recursion",
]


def check_network(depth: int, C_W: float, C_b: float) -> None:
    """Raise an LmechError naming the argument when depth, C_W or C_b is not allowed."""
    if isinstance(depth, bool) or int(depth) != depth or depth < 1:
        raise LmechError(f"depth must be an integer >= 1, got {depth!r}")
    if not (np.isfinite(C_W) and C_W > 0):
        raise LmechError(f"C_W must be > 0, got {C_W!r}")
    if not (np.isfinite(C_b) and C_b >= 0):
        raise LmechError(f"C_b must be >= 0, got {C_b!r}")


def kernel_recursion(activation, depth: int, C_W: float, C_b: float, K1: float) -> np.ndarray:
    """The single-input kernel K⁽¹⁾ … K⁽ᴸ⁾ of every layer, shape ``(depth,)``, layer 1 first.

    K^(l+1) = C_b + C_W <σ²>_{K^(l)}, starting from the first-layer kernel K1 = C_b + C_W|x|²/n₀.

    Example:
        >>> kernel_recursion("relu", 3, 2.0, 0.0, 1.5).tolist()
        [1.5, 1.5, 1.5]
    """
    act = get_activation(activation)
    check_network(depth, C_W, C_b)
    if not (np.isfinite(K1) and K1 >= 0):
        raise LmechError(f"K1 must be a variance >= 0, got {K1!r}")
    out = np.empty(int(depth))
    out[0] = K1
    for layer in range(1, int(depth)):
        out[layer] = C_b + C_W * float(sigma_power_expectation(act, out[layer - 1], 2))
        if not np.isfinite(out[layer]):
            raise LmechError(f"the kernel of {act.name} diverges by layer {layer + 1}")
    return out


def _pair_step(act: Activation, K11, K12, K22, C_W: float, C_b: float):
    return C_b + C_W * sigma_sigma_expectation(act, K11, K12, K22)


def kernel_recursion_gram(activation, depth: int, C_W: float, C_b: float, K1) -> np.ndarray:
    """The kernel of every layer for several inputs, shape ``(depth, n, n)``, layer 1 first.

    `K1` is the ``(n, n)`` first-layer Gram matrix C_b + C_W XXᵀ/n₀ (a pair of inputs: n = 2).

    Example:
        >>> K = kernel_recursion_gram("relu", 2, 2.0, 0.0, [[1.0, 0.0], [0.0, 1.0]])
        >>> round(float(K[1, 0, 1]), 12)  # 2·(1/2π)
        0.318309886184
    """
    act = get_activation(activation)
    check_network(depth, C_W, C_b)
    K1 = _check_gram(K1)
    out = np.empty((int(depth), *K1.shape))
    out[0] = K1
    for layer in range(1, int(depth)):
        K = out[layer - 1]
        d = np.diag(K)
        out[layer] = _pair_step(act, d[:, None], K, d[None, :], C_W, C_b)
    return out


def _check_gram(K1) -> np.ndarray:
    K1 = np.asarray(K1, dtype=np.float64)
    if K1.ndim != 2 or K1.shape[0] != K1.shape[1]:
        raise LmechError(f"K1 must be a square (n, n) Gram matrix, got shape {K1.shape}")
    if not np.allclose(K1, K1.T, rtol=1e-12, atol=1e-14) or np.any(np.diag(K1) < 0):
        raise LmechError("K1 must be symmetric with a non-negative diagonal")
    return K1


def ntk_recursion(activation, depth: int, C_W: float, C_b: float, K1: float, Theta1: float,
                  lambda_b: float = 1.0, lambda_W: float = 1.0) -> np.ndarray:
    """The single-input mean NTK Θ⁽¹⁾ … Θ⁽ᴸ⁾, shape ``(depth,)``, layer 1 first.

    Θ^(l+1) = λ_b + λ_W <σ²>_{K^(l)} + χ⊥(K^(l)) Θ^(l), χ⊥ = C_W <σ'²>_{K^(l)}.
    Θ1 = λ_b + λ_W|x|²/n₀.

    Example:
        >>> ntk_recursion("relu", 3, 2.0, 0.0, 2.0, 2.0).tolist()  # grows linearly in depth
        [2.0, 4.0, 6.0]
    """
    act = get_activation(activation)
    K = kernel_recursion(act, depth, C_W, C_b, K1)
    out = np.empty(int(depth))
    out[0] = Theta1
    for layer in range(1, int(depth)):
        k = K[layer - 1]
        chi_perp = C_W * float(derivative_square_expectation(act, k))
        out[layer] = (lambda_b + lambda_W * float(sigma_power_expectation(act, k, 2))
                      + chi_perp * out[layer - 1])
    return out


def _inputs(x1, x2, dtype) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(x1.detach().cpu() if torch.is_tensor(x1) else x1, dtype=np.float64)
    b = a if x2 is None else np.asarray(x2.detach().cpu() if torch.is_tensor(x2) else x2,
                                        dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise LmechError(f"inputs must be (n, d) arrays with the same d, got shapes "
                         f"{a.shape} and {b.shape}")
    if dtype not in (np.float32, np.float64):
        raise LmechError(f"dtype must be numpy.float32 or numpy.float64, got {dtype!r}")
    return a, b


def _scale_invariant_step(ap: float, am: float, s1, K12, s2, grad: bool, same=None):
    """<σσ> (and <σ'σ'> if grad) for σ = a₊z, a₋z, on packed entries K12 with standard
    deviations s1, s2 broadcast against it, in K12's dtype. `same` marks entries of an
    input with itself, whose cos θ is exactly 1 (arccos amplifies rounding there)."""
    cos = K12 / s1
    cos /= s2
    np.clip(cos, -1.0, 1.0, out=cos)
    if same is not None:
        cos[same] = 1.0
    theta = np.arccos(cos)
    sin = np.sqrt(np.maximum(1.0 - cos * cos, 0.0))
    both, cross = ap * ap + am * am, 2 * ap * am
    # J(c) = s1s2/2π (sin + (π−θ)cos), J(−c) = s1s2/2π (sin − θ cos)
    weight = (math.pi - theta) if cross == 0 else both * (math.pi - theta) + cross * theta
    if cross == 0:
        weight *= both
    dd = weight / (2 * math.pi) if grad else None
    ss = weight * cos
    ss += (both - cross) * sin
    ss *= s1
    ss *= s2 / (2 * math.pi)
    return ss, dd


def _kernels(x1, x2, depth, activation, C_W, C_b, with_ntk, lambda_b, lambda_W, dtype):
    act = get_activation(activation)
    check_network(depth, C_W, C_b)
    a, b = _inputs(x1, x2, dtype)
    n0, symmetric = a.shape[1], x2 is None
    dot = (a @ b.T / n0).astype(dtype)
    if symmetric:  # only the upper triangle is computed
        rows, cols = np.triu_indices(a.shape[0])
        dot = dot[rows, cols]
    else:
        rows, cols = np.arange(a.shape[0])[:, None], np.arange(b.shape[0])[None, :]
    q1, q2 = (a * a).sum(1) / n0, (b * b).sum(1) / n0
    d1 = kernel_recursion_gram_diagonal(act, depth, C_W, C_b, C_b + C_W * q1)  # (L, n1)
    d2 = d1 if symmetric else kernel_recursion_gram_diagonal(act, depth, C_W, C_b,
                                                             C_b + C_W * q2)
    K = C_b + C_W * dot
    same = (rows == cols) if symmetric else None
    if act.slopes is not None and C_b == 0 and not with_ntk:
        s1, s2 = np.sqrt(d1[0])[rows].astype(dtype), np.sqrt(d2[0])[cols].astype(dtype)
        rho = _correlation_flow(*act.slopes, np.clip(K / s1 / s2, -1.0, 1.0), int(depth) - 1,
                                same)
        K = rho * np.sqrt(d1[-1])[rows].astype(dtype) * np.sqrt(d2[-1])[cols].astype(dtype)
        return (_unpack(K, rows, cols) if symmetric else K), None
    theta = (lambda_b + lambda_W * dot) if with_ntk else None
    for layer in range(1, int(depth)):
        s1 = np.sqrt(d1[layer - 1])[rows].astype(dtype)
        s2 = np.sqrt(d2[layer - 1])[cols].astype(dtype)
        if act.slopes is not None:
            ss, dd = _scale_invariant_step(*act.slopes, s1, K, s2, with_ntk, same)
        else:
            k11, k22 = (s1 * s1).astype(np.float64), (s2 * s2).astype(np.float64)
            ss = sigma_sigma_expectation(act, k11, K, k22).astype(dtype)
            dd = dsigma_dsigma_expectation(act, k11, K, k22).astype(dtype) if with_ntk else None
        if with_ntk:
            theta = lambda_b + lambda_W * ss + C_W * dd * theta
        K = C_b + C_W * ss
    if symmetric:
        K, theta = _unpack(K, rows, cols), _unpack(theta, rows, cols) if with_ntk else None
    return K, theta


def _correlation_flow(ap: float, am: float, rho: np.ndarray, layers: int, same) -> np.ndarray:
    """Iterate the correlation map of a scale-invariant σ with C_b = 0 in place:
    ρ' = j(ρ)/j(1), j(ρ) = [(A − B) sin θ + (A(π − θ) + Bθ) cos θ]/2π, A = a₊² + a₋²,
    B = 2a₊a₋ (the norms factor out exactly, so no outer products are needed)."""
    both, cross = ap * ap + am * am, 2 * ap * am
    for _ in range(layers):
        theta = np.arccos(rho)
        sin = np.multiply(rho, rho)
        np.subtract(1.0, sin, out=sin)
        np.maximum(sin, 0.0, out=sin)
        np.sqrt(sin, out=sin)
        theta *= -(both - cross)
        theta += both * math.pi  # A(π − θ) + Bθ
        theta *= rho
        sin *= both - cross
        theta += sin
        theta *= 1.0 / (math.pi * both)  # / (2π j(1)), j(1) = A/2
        rho = theta
        if same is not None:
            rho[same] = 1.0
    return rho


def _unpack(packed: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    n = int(rows.max()) + 1
    out = np.empty((n, n), dtype=packed.dtype)
    out[rows, cols] = packed
    out[cols, rows] = packed
    return out


def kernel_recursion_gram_diagonal(activation, depth: int, C_W: float, C_b: float,
                                   K1) -> np.ndarray:
    """The single-input recursion for many inputs at once: K1 shape ``(n,)`` → ``(depth, n)``."""
    act = get_activation(activation)
    K1 = np.asarray(K1, dtype=np.float64)
    out = np.empty((int(depth), *K1.shape))
    out[0] = K1
    for layer in range(1, int(depth)):
        out[layer] = C_b + C_W * sigma_power_expectation(act, out[layer - 1], 2)
    return out


def nngp_kernel(x1, x2=None, *, depth: int, activation="relu", C_W: float = 2.0,
                C_b: float = 0.0, dtype=np.float64) -> np.ndarray:
    """The layer-`depth` NNGP kernel K^(L)(x1, x2) of an MLP, shape ``(n1, n2)``.

    Args:
        x1: ``(n1, d)`` inputs; x2: ``(n2, d)`` inputs (default: x1, giving the Gram matrix,
            of which only the upper triangle is computed).
        depth: layer L whose preactivation kernel is returned (1 = the first linear layer).
        activation, C_W, C_b: the network (docs/theory/init.md, §Conventions).
        dtype: numpy.float64 (default) or numpy.float32 (≈ 3× faster; agrees to ~1e-6
            relative for ReLU at depth 10). The diagonal recursion always runs in float64.

    Example:
        >>> x = np.eye(2) * np.sqrt(2.0)
        >>> nngp_kernel(x, depth=2).round(6).tolist()
        [[2.0, 0.63662], [0.63662, 2.0]]
    """
    K, _ = _kernels(x1, x2, depth, activation, C_W, C_b, False, 0.0, 0.0, dtype)
    return K


def ntk_kernel(x1, x2=None, *, depth: int, activation="relu", C_W: float = 2.0,
               C_b: float = 0.0, lambda_b: float = 1.0, lambda_W: float = 1.0,
               dtype=np.float64) -> np.ndarray:
    """The layer-`depth` mean NTK Θ^(L)(x1, x2) at infinite width, shape ``(n1, n2)``.

    Conventions as `nngp_kernel`, with bias step λ_b and weight step λ_W/n_{l−1}.

    Example:
        >>> x = np.ones((1, 4))
        >>> float(ntk_kernel(x, depth=3)[0, 0])  # ReLU at criticality: 2L
        6.0
    """
    _, theta = _kernels(x1, x2, depth, activation, C_W, C_b, True, lambda_b, lambda_W, dtype)
    return theta
