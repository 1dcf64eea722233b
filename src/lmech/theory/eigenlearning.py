"""Learning curves of kernel ridge regression from the kernel's eigensystem (eigenlearning).

Setting (docs/theory/kernels.md, §Setting and conventions): kernel
K(x, x') = Σ_i λ_i φ_i(x) φ_i(x') with E_p[φ_i φ_j] = δ_ij
(λ_i are the eigenvalues of the integral operator under the data distribution p, ≈ the
Gram-matrix eigenvalues divided by n), target f = Σ_i v_i φ_i, noisy labels y = f(x) + ε
with Var ε = σ², and the predictor f̂(x) = k(x, X)(K_XX + δ I_n)⁻¹ y with the ridge δ added
to the raw n × n Gram matrix. The theory's symbols map to these names:

    κ      `eigenlearning_kappa`          Σ_i λ_i/(λ_i + κ) + δ/κ = n   (unique κ > 0)
    L_i    `learnabilities`               L_i = λ_i/(λ_i + κ),  Σ_i L_i = n − δ/κ
    E₀     `overfitting_coefficient`      E₀ = n/(n − Σ_i L_i²)
    E      `eigenlearning_test_error`     E = E₀ [Σ_i (1 − L_i)² v_i² + σ²]  (noisy test labels)

Source: J. B. Simon, M. Dickens, D. Karkada, M. R. DeWeese, "The eigenlearning framework",
TMLR 2023 (arXiv:2110.03922), eqs. 4–8; equivalent to B. Bordelon, A. Canatar,
C. Pehlevan, ICML 2020 (arXiv:2002.02561), eq. 5, and Canatar et al., Nat. Commun. 2021.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from lmech.errors import LmechError

__all__ = [
    "eigenlearning_kappa",
    "eigenlearning_test_error",
    "kernel_eigensystem",
    "learnabilities",
    "overfitting_coefficient",
]


def _spectrum(eigenvalues) -> np.ndarray:
    lam = np.asarray(eigenvalues, dtype=np.float64).reshape(-1)
    if lam.size == 0 or not np.all(np.isfinite(lam)):
        raise LmechError("eigenvalues must be a non-empty array of finite numbers")
    if np.any(lam < 0):
        raise LmechError(
            "eigenvalues must be >= 0 (a kernel is positive semi-definite), "
            f"got min {lam.min():.3g}"
        )
    return lam


def _kappa_one(lam: np.ndarray, n: float, ridge: float) -> float:
    if n <= 0:
        raise LmechError(f"number of samples n must be > 0, got {n}")
    positive = int(np.count_nonzero(lam > 0))
    if ridge == 0 and positive <= n:
        raise LmechError(
            f"ridge 0 needs more than n = {n:g} modes with eigenvalue > 0, got {positive}; "
            "use a ridge > 0"
        )

    def excess(log_kappa: float) -> float:
        kappa = np.exp(log_kappa)
        return float(np.sum(lam / (lam + kappa)) + ridge / kappa - n)

    # The left side falls monotonically from +inf (or `positive` > n) to 0 as κ grows.
    hi = np.log(max(lam.max(), ridge, 1e-300)) + np.log(1e3 + ridge)
    lo = hi - 10.0
    while excess(lo) < 0:
        lo -= 10.0
        if lo < -745:
            raise LmechError("eigenlearning: κ underflows; the spectrum is too steep for this n")
    while excess(hi) > 0:
        hi += 10.0
    return float(np.exp(optimize.brentq(excess, lo, hi, xtol=1e-14, rtol=1e-14)))


def eigenlearning_kappa(eigenvalues, n, ridge: float = 0.0) -> np.ndarray:
    """The effective (renormalised) ridge κ solving Σ_i λ_i/(λ_i + κ) + δ/κ = n.

    Source: Simon et al. 2023 (arXiv:2110.03922), eq. 4.

    Args:
        eigenvalues: operator eigenvalues λ_i >= 0, shape ``(M,)``.
        n: number of training samples (scalar or array); need not be an integer.
        ridge: δ >= 0 added to the raw Gram matrix. With δ = 0 there must be more than n
            modes with λ_i > 0.

    Returns:
        κ > 0 with the shape of `n`.

    Example:
        >>> round(float(eigenlearning_kappa([1.0, 1.0, 1.0, 1.0], 2)), 12)  # 4/(1+κ) = 2
        1.0
    """
    lam = _spectrum(eigenvalues)
    if ridge < 0 or not np.isfinite(ridge):
        raise LmechError(f"ridge must be a finite number >= 0, got {ridge}")
    ns = np.asarray(n, dtype=np.float64)
    out = np.array([_kappa_one(lam, float(v), float(ridge)) for v in ns.reshape(-1)])
    return out.reshape(ns.shape)


def learnabilities(eigenvalues, kappa) -> np.ndarray:
    """Learnability of each eigenmode, L_i = λ_i/(λ_i + κ).

    Source: Simon et al. 2023, eq. 5.

    Args:
        eigenvalues: shape ``(M,)``.
        kappa: κ > 0, scalar or shape ``(...,)``; the result has shape ``(..., M)``.
    """
    lam = _spectrum(eigenvalues)
    kappa = np.asarray(kappa, dtype=np.float64)
    if np.any(kappa <= 0):
        raise LmechError(f"kappa must be > 0, got {kappa}")
    return lam / (lam + kappa[..., None])


def overfitting_coefficient(eigenvalues, n, kappa) -> np.ndarray:
    """E₀ = n/(n − Σ_i L_i²), the factor by which noise and bias are amplified.

    Source: Simon et al. 2023, eq. 7.
    """
    ls = learnabilities(eigenvalues, kappa)
    n = np.asarray(n, dtype=np.float64)
    return n / (n - np.sum(ls**2, axis=-1))


def eigenlearning_test_error(
    eigenvalues, coefficients, n, ridge: float = 0.0, noise: float = 0.0
) -> np.ndarray:
    """Predicted test mean squared error of kernel ridge regression with n samples.

        E = E₀ [Σ_i (1 − L_i)² v_i² + σ²]

    measured against noisy test labels; against the clean target subtract σ².

    Source: Simon et al. 2023 (arXiv:2110.03922), eq. 8; Bordelon et al. 2020, eq. 5.

    Args:
        eigenvalues: operator eigenvalues λ_i, shape ``(M,)``.
        coefficients: the target's eigen-coefficients v_i, shape ``(M,)``.
        n: number(s) of training samples, scalar or shape ``(k,)``.
        ridge: δ >= 0 on the raw Gram matrix.
        noise: label-noise variance σ² >= 0.

    Returns:
        E with the shape of `n`.

    Example:
        >>> lam, v = np.array([1.0, 1.0, 1.0, 1.0]), np.array([1.0, 0.0, 0.0, 0.0])
        >>> float(eigenlearning_test_error(lam, v, 2))  # L = 1/2, E₀ = 2: 2·(1/2)² = 0.5
        0.5
    """
    lam = _spectrum(eigenvalues)
    v = np.asarray(coefficients, dtype=np.float64).reshape(-1)
    if v.shape != lam.shape:
        raise LmechError(
            f"coefficients must have one entry per eigenvalue ({lam.size}), got {v.size}"
        )
    if noise < 0:
        raise LmechError(f"noise variance must be >= 0, got {noise}")
    kappa = eigenlearning_kappa(lam, n, ridge)
    ls = learnabilities(lam, kappa)  # (..., M)
    e0 = overfitting_coefficient(lam, n, kappa)
    return e0 * (np.sum((1 - ls) ** 2 * v**2, axis=-1) + noise)


def kernel_eigensystem(gram, target) -> tuple[np.ndarray, np.ndarray]:
    """Operator eigenvalues and target coefficients of a kernel on a finite population.

    With p uniform on N points, the integral operator is K/N: its eigenvalues are
    λ_i = eig(K)/N (descending), its eigenfunctions φ_i = √N u_i (orthonormal under p),
    and the target's coefficients v_i = E_p[φ_i f] = u_iᵀf/√N.

    Args:
        gram: ``(N, N)`` symmetric kernel matrix K(x_a, x_b) of the population.
        target: ``(N,)`` target values f(x_a).

    Returns:
        (λ, v), each ``(N,)``; eigenvalues within rounding of 0 are set to 0.

    Raises:
        LmechError: the matrix is not square and symmetric, or not positive semi-definite
            (an eigenvalue below −1e-9 · the largest).
    """
    k = np.asarray(gram, dtype=np.float64)
    f = np.asarray(target, dtype=np.float64).reshape(-1)
    if k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] != f.size:
        raise LmechError(
            f"gram must be a square (N, N) matrix and target (N,), got {k.shape} and {f.shape}"
        )
    if not np.allclose(k, k.T, rtol=1e-10, atol=1e-12 * np.abs(k).max()):
        raise LmechError("the kernel matrix is not symmetric")
    eig, vec = np.linalg.eigh(k)
    if eig[0] < -1e-9 * max(eig[-1], 0.0) or eig[-1] <= 0:
        raise LmechError(
            "the kernel matrix is not positive semi-definite: smallest eigenvalue "
            f"{eig[0]:.3g}, largest {eig[-1]:.3g}"
        )
    n = f.size
    lam = np.clip(eig[::-1], 0.0, None) / n
    v = vec[:, ::-1].T @ f / np.sqrt(n)
    return lam, v
