"""Four-point vertex, excess kurtosis and the 1/n kernel shift (docs/theory/init.md)."""

from __future__ import annotations

import numpy as np
import pytest

from lmech.errors import LmechError
from lmech.theory import (
    excess_kurtosis,
    four_point_vertex,
    four_point_vertex_pair,
    kernel_finite_width_shift,
    kernel_recursion,
    scale_invariant_excess_kurtosis,
)


def test_theory_table_leading_and_exact_values() -> None:
    """docs/theory/init.md, §Reference values: L = 10, x = 1 with n₀ = n so K¹ = C_W."""
    assert excess_kurtosis("tanh", 10, 32, 1.0, 0.0, 1.0)[-1] == pytest.approx(0.518, abs=5e-4)
    assert excess_kurtosis("tanh", 10, 128, 1.0, 0.0, 1.0)[-1] == pytest.approx(0.1295, abs=5e-5)
    assert excess_kurtosis("relu", 10, 32, 2.0, 0.0, 2.0)[-1] == pytest.approx(4.22, abs=5e-3)
    assert scale_invariant_excess_kurtosis("relu", 10, 32)[-1] == pytest.approx(8.08, abs=5e-3)
    assert scale_invariant_excess_kurtosis("relu", 10, 128)[-1] == pytest.approx(1.235, abs=5e-4)


def test_scale_invariant_closed_forms() -> None:
    """V^(l)/(nK²) = (3A₄/A₂² − 1)(l−1)/n: ReLU 5, linear 2; exact result expands to it."""
    layer = np.arange(1, 8)
    relu = four_point_vertex("relu", 7, 64, 2.0, 0.0, 0.7)
    np.testing.assert_allclose(relu, 5 * (layer - 1) * 0.49, rtol=1e-13)
    linear = four_point_vertex("linear", 7, 64, 1.0, 0.0, 2.0)
    np.testing.assert_allclose(linear, 2 * (layer - 1) * 4, rtol=1e-13)
    n = 1e7
    exact = scale_invariant_excess_kurtosis("relu", 7, int(n))
    lead = excess_kurtosis("relu", 7, int(n), 2.0, 0.0, 1.0)
    # next order: relative c(l − 1)/(2n) ≤ 12.5/n here
    np.testing.assert_allclose(exact[1:], lead[1:], rtol=13 / n)


def test_k_star_zero_class_slow_approach_to_two_thirds() -> None:
    """(V/K²)/l = 0.552 at l = 10 and 0.648 at l = 100 for tanh (n = 1), → 2/3."""
    V = four_point_vertex("tanh", 1000, 1, 1.0, 0.0, 1.0)
    K = kernel_recursion("tanh", 1000, 1.0, 0.0, 1.0)
    ratio = V / K**2 / np.arange(1, 1001)
    np.testing.assert_allclose(ratio[[9, 99, 999]], [0.552, 0.648, 0.664], atol=1.5e-3)


def test_unequal_widths() -> None:
    """V^(l+1) = source + χ∥²(n_l/n_{l−1})V^(l): for ReLU, V³ = 5K²(1 + n₂/n₁)."""
    V = four_point_vertex("relu", 3, [10, 40], 2.0, 0.0, 1.0)
    assert V[2] == pytest.approx(5 * (1 + 4))
    with pytest.raises(LmechError, match="hidden widths"):
        four_point_vertex("relu", 3, [10], 2.0, 0.0, 1.0)
    with pytest.raises(LmechError, match="integers >= 1"):
        four_point_vertex("relu", 3, 0, 2.0, 0.0, 1.0)


@pytest.mark.parametrize("name", ["relu", "tanh"])
def test_pair_vertex_diagonal_is_the_single_input_vertex(name: str) -> None:
    K1 = np.array([[1.0, 0.6], [0.6, 1.2]])
    pair = four_point_vertex_pair(name, 5, 50, 1.5, 0.2, K1)
    for a, p in ((0, 0), (1, 2)):
        single = four_point_vertex(name, 5, 50, 1.5, 0.2, K1[a, a])
        np.testing.assert_allclose(pair[:, p, p], single, rtol=1e-8)
    np.testing.assert_allclose(pair, pair.transpose(0, 2, 1), rtol=1e-8, atol=1e-12)


def test_pair_vertex_of_a_linear_network_is_wick() -> None:
    """Linear σ, C_b = 0, C_W = 1: the vertex follows from Wick's theorem:
    source_(ab)(cd) = K_acK_bd + K_adK_bc and V^(l) = (l−1)·source."""
    K1 = np.array([[1.0, 0.3], [0.3, 2.0]])
    V = four_point_vertex_pair("linear", 4, 16, 1.0, 0.0, K1)
    pairs = ((0, 0), (0, 1), (1, 1))
    src = np.array([[K1[a, c] * K1[b, d] + K1[a, d] * K1[b, c] for c, d in pairs]
                    for a, b in pairs])
    np.testing.assert_allclose(V[3], 3 * src, rtol=1e-8)


def test_kernel_shift() -> None:
    """Zero for scale-invariant σ; for tanh at n = 32, L = 10 it is −0.0033, the MC shift
    (docs/theory/init.md, §The 1/n kernel shift: E z² = 0.0547 against K = 0.0580)."""
    np.testing.assert_array_equal(kernel_finite_width_shift("relu", 5, 8, 2.0, 0.0, 1.0), 0.0)
    d = kernel_finite_width_shift("tanh", 10, 32, 1.0, 0.0, 1.0)
    K = kernel_recursion("tanh", 10, 1.0, 0.0, 1.0)
    assert K[-1] + d[-1] == pytest.approx(0.0548, abs=3e-4)
    d_wide = kernel_finite_width_shift("tanh", 10, 3200, 1.0, 0.0, 1.0)
    assert d_wide[-1] == pytest.approx(d[-1] / 100, rel=1e-10)


def test_pair_shift_diagonal_is_the_single_input_shift() -> None:
    from lmech.theory import kernel_finite_width_shift_pair

    K1 = np.array([[1.0, 0.5], [0.5, 1.0]])
    pair = kernel_finite_width_shift_pair("tanh", 6, 64, 1.0, 0.0, K1)
    single = kernel_finite_width_shift("tanh", 6, 64, 1.0, 0.0, 1.0)
    np.testing.assert_allclose(pair[:, 0], single, rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(pair[:, 2], single, rtol=1e-5, atol=1e-12)
