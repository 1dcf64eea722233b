"""Eigenlearning: closed forms, limits, the conservation law, and brute-force kernel regression."""

from __future__ import annotations

import numpy as np
import pytest

from lmech.errors import LmechError
from lmech.theory import (
    eigenlearning_kappa,
    eigenlearning_test_error,
    kernel_eigensystem,
    learnabilities,
    overfitting_coefficient,
)


def test_flat_spectrum_closed_form() -> None:
    """M equal eigenvalues λ, no ridge: M λ/(λ + κ) = n gives κ = λ(M/n − 1)."""
    lam = np.full(50, 0.3)
    for n in (5, 10, 49):
        assert eigenlearning_kappa(lam, n) == pytest.approx(0.3 * (50 / n - 1), rel=1e-12)


def test_conservation_of_learnability(rng) -> None:
    """Σ_i L_i = n − δ/κ for any spectrum and ridge."""
    lam = np.sort(rng.exponential(size=300))[::-1]
    for n, ridge in [(20, 0.0), (20, 0.5), (150, 3.0)]:
        kappa = eigenlearning_kappa(lam, n, ridge)
        assert learnabilities(lam, kappa).sum() == pytest.approx(n - ridge / kappa, rel=1e-10)


def test_large_ridge_limit() -> None:
    """κ ≫ λ: the equation linearises to (Σλ + δ)/κ = n, and E₀ → 1."""
    lam = 1.0 / np.arange(1, 101) ** 2
    ridge = 1e6
    kappa = eigenlearning_kappa(lam, 10, ridge)
    assert kappa == pytest.approx((lam.sum() + ridge) / 10, rel=1e-6)
    assert overfitting_coefficient(lam, 10, kappa) == pytest.approx(1.0, abs=1e-10)


def test_vectorised_over_n() -> None:
    lam = 1.0 / np.arange(1, 201) ** 1.5
    v = 1.0 / np.arange(1, 201)
    ns = np.array([5.0, 20.0, 80.0])
    together = eigenlearning_test_error(lam, v, ns, ridge=1e-3, noise=0.01)
    one_by_one = [eigenlearning_test_error(lam, v, n, ridge=1e-3, noise=0.01) for n in ns]
    np.testing.assert_allclose(together, one_by_one, rtol=1e-12)
    assert np.all(np.diff(together) < 0), "more data, less error"


def test_matches_kernel_ridge_regression(rng) -> None:
    """Oracle: KRR on a discrete population with a random orthonormal eigenbasis.

    400 training draws of n = 60 points; the mean test error has a relative standard error
    of about 2 %, and finite-n effects stay within the declared 5 % at n >= 32
    (docs/theory/kernels.md, §What is neglected), so the bound is 5 % + 3 standard errors.
    """
    pop, modes, n, ridge, noise = 1000, 400, 60, 1e-3, 0.01
    lam = np.arange(1, modes + 1) ** -1.5
    v = np.arange(1, modes + 1) ** -1.0
    q, _ = np.linalg.qr(rng.standard_normal((pop, modes)))
    phi = np.sqrt(pop) * q  # E_p[φ_i φ_j] = δ_ij under the uniform population
    gram = phi * lam @ phi.T  # (pop, pop)
    f = phi @ v
    errors = []
    for _ in range(400):
        idx = rng.integers(pop, size=n)
        y = f[idx] + np.sqrt(noise) * rng.standard_normal(n)
        alpha = np.linalg.solve(gram[np.ix_(idx, idx)] + ridge * np.eye(n), y)
        errors.append(np.mean((gram[:, idx] @ alpha - f) ** 2) + noise)
    errors = np.array(errors)
    se = errors.std(ddof=1) / np.sqrt(errors.size)
    theory = eigenlearning_test_error(lam, v, n, ridge=ridge, noise=noise)
    assert abs(errors.mean() - theory) < 0.05 * theory + 3 * se


def test_bad_input() -> None:
    with pytest.raises(LmechError, match="eigenvalues must be >= 0"):
        eigenlearning_kappa([1.0, -0.1, 0.5], 1)
    with pytest.raises(LmechError, match="ridge 0 needs more than n"):
        eigenlearning_kappa([1.0, 0.5], 2)
    with pytest.raises(LmechError, match="n must be > 0"):
        eigenlearning_kappa([1.0, 0.5], 0, ridge=1.0)
    with pytest.raises(LmechError, match="ridge must be"):
        eigenlearning_kappa([1.0, 0.5], 1, ridge=-1.0)
    with pytest.raises(LmechError, match="one entry per eigenvalue"):
        eigenlearning_test_error([1.0, 0.5, 0.2], [1.0], 1)


@pytest.mark.parametrize("alpha, beta", [(1.5, 2.0), (1.5, 3.0)])
def test_ridgeless_power_law_exponent(alpha: float, beta: float) -> None:
    """λ_k = k^−α, v_k² = k^−β, no ridge or noise: E ∝ n^−min(2α, β−1) at large n."""
    k = np.arange(1, 200_001, dtype=np.float64)
    e = eigenlearning_test_error(k**-alpha, k ** (-beta / 2), [1000, 4000], ridge=1e-12)
    assert np.log(e[1] / e[0]) / np.log(4) == pytest.approx(-min(2 * alpha, beta - 1), abs=0.05)


def test_kernel_eigensystem(rng) -> None:
    """A Gram matrix built from a known eigensystem gives it back (λ = eig/N, v = uᵀf/√N)."""
    n_pop, modes = 200, 50
    q, _ = np.linalg.qr(rng.standard_normal((n_pop, modes)))
    phi = np.sqrt(n_pop) * q
    lam = np.sort(rng.uniform(0.1, 1.0, modes))[::-1]
    v = rng.standard_normal(modes)
    got_lam, got_v = kernel_eigensystem((phi * lam) @ phi.T, phi @ v)
    np.testing.assert_allclose(got_lam[:modes], lam, rtol=1e-10)
    np.testing.assert_allclose(got_lam[modes:], 0.0, atol=1e-12)
    np.testing.assert_allclose(np.abs(got_v[:modes]), np.abs(v), rtol=1e-8)


def test_kernel_eigensystem_refuses_a_non_psd_matrix() -> None:
    with pytest.raises(LmechError, match="not positive semi-definite"):
        kernel_eigensystem(np.array([[1.0, 2.0], [2.0, 1.0]]), [1.0, 0.0])
    with pytest.raises(LmechError, match="not symmetric"):
        kernel_eigensystem(np.array([[1.0, 0.5], [0.0, 1.0]]), [1.0, 0.0])
    with pytest.raises(LmechError, match="square"):
        kernel_eigensystem(np.ones((2, 3)), [1.0, 0.0])
