"""Susceptibilities, fixed points, depth scales and critical points (docs/theory/init.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lmech.errors import LmechError
from lmech.theory import (
    chi_parallel,
    chi_perp,
    critical_point,
    depth_scales,
    fixed_point,
    get_activation,
    kernel_recursion,
)
from lmech.theory.gaussian import sigma_power_expectation


def test_theory_check_point_tanh() -> None:
    """tanh, C_W = 1.5, C_b = 0.2: K* = 0.69324, χ⊥ = 0.79698, χ∥ = 0.37742."""
    fp = depth_scales("tanh", 1.5, 0.2)
    assert fp.K_star == pytest.approx(0.69324, abs=1e-5)
    assert fp.chi_perp == pytest.approx(0.79698, abs=1e-5)
    assert fp.chi_parallel == pytest.approx(0.37742, abs=1e-5)
    assert fp.xi_perp == pytest.approx(-1 / math.log(fp.chi_perp))


@pytest.mark.parametrize("name", ["tanh", "gelu", "sin", "softplus"])
def test_chi_parallel_is_the_slope_of_the_kernel_map(name: str) -> None:
    """χ∥ = dK^(l+1)/dK^(l): score-function formula vs a central difference (error ~h²)."""
    act, cw, k, h = get_activation(name), 1.3, 0.8, 1e-4
    f = lambda q: cw * float(sigma_power_expectation(act, q, 2))  # noqa: E731
    assert chi_parallel(act, k, cw) == pytest.approx((f(k + h) - f(k - h)) / (2 * h), rel=1e-7)


def test_small_kernel_limits_for_tanh() -> None:
    """docs/theory/init.md, §Reference values: at C_W = 1, χ∥(1e-4) = 1 − 4K = 0.99960
    and χ⊥(1e-4) = 0.99980."""
    assert chi_parallel("tanh", 1e-4, 1.0) == pytest.approx(0.99960, abs=2e-7)
    assert chi_perp("tanh", 1e-4, 1.0) == pytest.approx(0.99980, abs=2e-7)


@pytest.mark.parametrize("K", [0.37, 5.0])
def test_scale_invariant_class(K: float) -> None:
    for name, slope in [("relu", 0.0), ("leaky_relu", 0.2), ("linear", 1.0)]:
        act = get_activation(name, slope=slope) if name == "leaky_relu" else get_activation(name)
        cp = critical_point(act)
        assert cp.universality_class == "scale-invariant" and cp.C_b == 0.0
        assert cp.C_W == pytest.approx(2 / (1 + slope**2), rel=1e-15)
        assert chi_parallel(act, K, cp.C_W) == pytest.approx(1.0, abs=1e-15)
        assert chi_perp(act, K, cp.C_W) == pytest.approx(1.0, abs=1e-15)


@pytest.mark.parametrize(("name", "C_W", "a1"), [("tanh", 1.0, -2.0), ("erf", math.pi / 4, -2.0),
                                                 ("sin", 1.0, -1.0)])
def test_k_star_zero_class(name: str, C_W: float, a1: float) -> None:
    cp = critical_point(name)
    assert cp.universality_class == "K*=0" and cp.C_b == 0.0 and cp.K_star == 0.0
    assert cp.C_W == pytest.approx(C_W, rel=1e-7)
    assert cp.a1 == pytest.approx(a1, rel=1e-5)
    K = kernel_recursion(name, 10_000, cp.C_W, 0.0, 1.0)
    assert (-a1) * 10_000 * K[-1] == pytest.approx(1.0, abs=2e-3)  # K ≈ 1/(−a₁l)


@pytest.mark.parametrize("name", ["gelu", "swish"])
def test_half_stable_critical_points_with_positive_bias(name: str) -> None:
    cp = critical_point(name)
    assert cp.universality_class == "half-stable" and cp.C_b > 0 and cp.K_star > 0
    assert chi_parallel(name, cp.K_star, cp.C_W) == pytest.approx(1.0, abs=1e-9)
    assert chi_perp(name, cp.K_star, cp.C_W) == pytest.approx(1.0, abs=1e-9)
    step = lambda q: cp.C_b + cp.C_W * float(  # noqa: E731
        sigma_power_expectation(get_activation(name), q, 2))
    assert step(cp.K_star) == pytest.approx(cp.K_star, rel=1e-10)
    # f(K) − K keeps one sign on both sides of K*, and the two activations differ in which
    eps = 1e-3 * cp.K_star
    below, above = step(cp.K_star - eps) - cp.K_star + eps, step(cp.K_star + eps) - cp.K_star - eps
    assert np.sign(below) == np.sign(above)
    side = "above" if below < 0 else "below"
    assert f"attracts from {side}" in cp.stability
    assert chi_perp(name, 1.1 * cp.K_star, cp.C_W) != pytest.approx(1.0, abs=1e-4)


def test_gelu_and_swish_attract_from_opposite_sides() -> None:
    assert "from above" in critical_point("gelu").stability
    assert "from below" in critical_point("swish").stability


def test_gelu_critical_kernel_solves_the_recipe_in_closed_form() -> None:
    """The root found numerically equals (3 + √17)/2, the value PDLT quotes for GELU."""
    assert critical_point("gelu").K_star == pytest.approx((3 + math.sqrt(17)) / 2, rel=1e-10)


@pytest.mark.parametrize("name", ["sigmoid", "softplus"])
def test_no_criticality_is_stated(name: str) -> None:
    cp = critical_point(name)
    assert not cp.exists and "no criticality" in cp.stability and math.isnan(cp.C_W)


def test_fixed_points() -> None:
    assert fixed_point("relu", 1.0, 0.5) == pytest.approx(1.0)  # C_b/(1 − C_W/2)
    assert fixed_point("tanh", 1.0, 0.0) == 0.0
    with pytest.raises(LmechError, match="grows without bound"):
        fixed_point("relu", 3.0, 0.0)
    with pytest.raises(LmechError, match="C_W must be > 0"):
        fixed_point("tanh", -1.0, 0.0)
