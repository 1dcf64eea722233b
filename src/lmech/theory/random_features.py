"""Test loss of linear random-feature regression on data with a power-law spectrum.

Setting (docs/theory/scaling.md, §Random features): latent inputs x ∈ ℝᴹ, x ~ N(0, Λ),
Λ = diag(λ_1 … λ_M); a linear teacher y = w·x with w ~ N(0, σ_w² I_M); N random features
z = F x with F ∈ ℝ^{N×M} of iid N(0, 1/N) entries; the student f(x) = θ·z is fitted to P
samples by ridge regression, θ = argmin Σ_μ (y_μ − θ·z_μ)² + γ‖θ‖² (γ → 0: the minimum-norm
interpolant). The test loss L = E_x (y − f(x))², averaged over w, F and the samples, is in
the limit of large N, P, M (deterministic equivalents)

    κ₂ = κ₁ (1 − df₁/N),        df₁ + γ/κ₂ = P,
    df₁ = Σ_i λ_i/(λ_i + κ₁),   df₂ = Σ_i λ_i²/(λ_i + κ₁)²,   S = Σ_i λ_i/(λ_i + κ₁)²,

    L = σ_w² N P κ₁² S / [N P − (N + P) df₂ − df₁² + 2 df₁ df₂].

Without ridge df₁ = min(N, P) and L = σ_w² N P κ₁² S / (|N − P| (min(N, P) − df₂)): symmetric
in N and P, divergent at N = P (the interpolation peak), and as P → ∞ (N → ∞) it becomes
the eigenlearning error of N (P) samples. The symbols map to these names:

    κ₁   `random_feature_kappa`       effective ridge on the latent spectrum
    L    `random_feature_test_error`  the test loss above

Derivation: conditional on F the features are Gaussian, so ridge regression on them is
eigenlearning with n = P (docs/theory/kernels.md) on the feature covariance FΛFᵀ, with the
part of y the features cannot express acting as label noise; the traces over F are then the
deterministic equivalents of a sample covariance of N Gaussian vectors (ΛF ᵀF Λ shares its
spectrum with FΛFᵀ). Source: A. Maloney, D. A. Roberts & J. Sully, "A solvable model of
neural scaling laws" (arXiv:2210.16859), §4 (the same model and its symmetric N ↔ P result);
A. Atanasov, J. A. Zavatone-Veth & C. Pehlevan, "Scaling and renormalization in
high-dimensional regression" (arXiv:2405.00592), §VI (linear random features); F. Bach,
SIAM J. Math. Data Sci. 6 (2024) (arXiv:2303.01372).
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from lmech.errors import LmechError

__all__ = ["random_feature_kappa", "random_feature_test_error"]


def _spectrum(eigenvalues) -> np.ndarray:
    lam = np.asarray(eigenvalues, dtype=np.float64).reshape(-1)
    if lam.size == 0 or not np.all(np.isfinite(lam)) or np.any(lam <= 0):
        raise LmechError("eigenvalues must be a non-empty array of finite numbers > 0")
    return lam


def _degrees(lam: np.ndarray, kappa: float) -> float:
    return float(np.sum(lam / (lam + kappa)))


def _kappa_at(lam: np.ndarray, target: float) -> float:
    """κ with Σ λ_i/(λ_i + κ) = target (0 < target < M), by bisection in log κ."""
    lo, hi = np.log(lam.min()) - 60.0, np.log(lam.max()) + 60.0
    return float(np.exp(optimize.brentq(lambda t: _degrees(lam, np.exp(t)) - target, lo, hi,
                                        xtol=1e-13, rtol=1e-13)))


def _kappa_one(lam: np.ndarray, n: float, p: float, ridge: float) -> float:
    m = lam.size
    if n <= 0 or p <= 0:
        raise LmechError(f"n_features and n_samples must be > 0, got {n:g} and {p:g}")
    if ridge == 0:
        if n == p:
            raise LmechError(f"without ridge the test loss diverges at N = P = {n:g}; give "
                             "N ≠ P or a ridge > 0")
        if min(n, p) >= m:
            raise LmechError(f"without ridge min(N, P) = {min(n, p):g} must be below the "
                             f"latent dimension M = {m}")
        return _kappa_at(lam, min(n, p))
    # κ₁ > κ_N (where df₁ = N, so that κ₂ > 0); the left side falls from +∞ to −P.
    floor = np.log(_kappa_at(lam, n)) if n < m else np.log(lam.min()) - 60.0

    def excess(t: float) -> float:
        k1 = np.exp(t)
        df1 = _degrees(lam, k1)
        return df1 + ridge / (k1 * (1 - df1 / n)) - p

    lo, hi = floor + 1e-12, np.log(lam.max()) + 60.0
    while excess(hi) > 0:
        hi += 20.0
    return float(np.exp(optimize.brentq(excess, lo, hi, xtol=1e-13, rtol=1e-13)))


def random_feature_kappa(eigenvalues, n_features, n_samples, ridge: float = 0.0
                         ) -> np.ndarray:
    """κ₁, the effective ridge on the latent spectrum, for N features and P samples.

    Solves κ₂ = κ₁(1 − df₁(κ₁)/N), df₁(κ₁) + γ/κ₂ = P; without ridge df₁(κ₁) = min(N, P).

    Args:
        eigenvalues: latent spectrum λ_i > 0, shape ``(M,)``.
        n_features: N (scalar or array); n_samples: P (broadcast against N).
        ridge: γ >= 0 on the raw P × P (or N × N) Gram matrix.

    Example:
        >>> lam = 1.0 / np.arange(1, 201) ** 2
        >>> k = random_feature_kappa(lam, 20, 50)
        >>> round(float(np.sum(lam / (lam + k))), 9)  # df₁ = min(N, P)
        20.0
    """
    lam = _spectrum(eigenvalues)
    if ridge < 0 or not np.isfinite(ridge):
        raise LmechError(f"ridge must be a finite number >= 0, got {ridge}")
    n, p = np.broadcast_arrays(np.asarray(n_features, dtype=np.float64),
                               np.asarray(n_samples, dtype=np.float64))
    out = [_kappa_one(lam, float(a), float(b), float(ridge))
           for a, b in zip(n.reshape(-1), p.reshape(-1), strict=True)]
    return np.array(out).reshape(n.shape)


def random_feature_test_error(eigenvalues, n_features, n_samples, ridge: float = 0.0,
                              teacher_variance: float = 1.0) -> np.ndarray:
    """The test loss L(N, P) of ridge regression on N linear random features, P samples.

        L = σ_w² N P κ₁² S / [N P − (N + P) df₂ − df₁² + 2 df₁ df₂]

    with κ₁ from `random_feature_kappa`, df₁ = Σ λ/(λ + κ₁), df₂ = Σ λ²/(λ + κ₁)²,
    S = Σ λ/(λ + κ₁)². Source: Maloney, Roberts & Sully (arXiv:2210.16859), §4; the module
    docstring gives the setting and the derivation.

    Args:
        eigenvalues: latent spectrum λ_i > 0, shape ``(M,)``.
        n_features: N; n_samples: P (scalars or arrays, broadcast together).
        ridge: γ >= 0; teacher_variance: σ_w² > 0, the variance of each teacher weight.

    Returns:
        L with the broadcast shape of N and P.

    Example:
        >>> lam = 1.0 / np.arange(1, 401) ** 2
        >>> a, b = random_feature_test_error(lam, [20, 80], [80, 20])
        >>> bool(np.isclose(a, b))  # without ridge, N and P play the same role
        True
    """
    lam = _spectrum(eigenvalues)
    if teacher_variance <= 0:
        raise LmechError(f"teacher_variance must be > 0, got {teacher_variance}")
    kappa = random_feature_kappa(lam, n_features, n_samples, ridge)
    n, p = np.broadcast_arrays(np.asarray(n_features, dtype=np.float64),
                               np.asarray(n_samples, dtype=np.float64))
    k = kappa[..., None]
    df1 = np.sum(lam / (lam + k), axis=-1)
    df2 = np.sum(lam**2 / (lam + k) ** 2, axis=-1)
    s = np.sum(lam / (lam + k) ** 2, axis=-1)
    denominator = n * p - (n + p) * df2 - df1**2 + 2 * df1 * df2
    return teacher_variance * n * p * kappa**2 * s / denominator
