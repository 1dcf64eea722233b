"""Gaussian expectations: quadrature against adaptive quadrature, closed forms against both."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from lmech.errors import LmechError
from lmech.theory import (
    dsigma_dsigma_expectation,
    gaussian_expectation,
    gaussian_expectation_2d,
    get_activation,
    sigma_derivative,
    sigma_sigma_expectation,
)
from lmech.theory.vertex import _homogeneous_2d

SMOOTH = ["tanh", "erf", "sigmoid", "softplus", "gelu", "swish", "sin"]


def _adaptive(f, K: float) -> float:
    """E f(z) by adaptive quadrature (QUADPACK), relative accuracy ~1e-13."""
    s = math.sqrt(K)
    val, _ = integrate.quad(lambda x: f(s * x) * math.exp(-x * x / 2) / math.sqrt(2 * math.pi),
                            -40, 40, epsabs=1e-15, epsrel=1e-12, limit=2000, points=[0.0])
    return val


@pytest.mark.parametrize("name", SMOOTH)
@pytest.mark.parametrize("K", [1e-3, 0.3, 1.0, 5.0, 20.0])
@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
def test_one_dimensional_quadrature_is_accurate_to_1e_10(name: str, K: float) -> None:
    act = get_activation(name)
    f = lambda z: act(z) ** 2 * (z * z - K) + act(z)  # noqa: E731
    ref = _adaptive(f, K)
    assert abs(gaussian_expectation(f, K) - ref) <= 1e-10 * max(abs(ref), 1e-3)


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
@pytest.mark.parametrize("name", ["tanh", "gelu"])
@pytest.mark.parametrize("K", [(1.0, 0.5, 2.0), (0.3, -0.2, 0.4), (5.0, 2.0, 3.0)])
def test_two_dimensional_quadrature_is_accurate_to_1e_10(name: str, K) -> None:
    act = get_activation(name)
    k11, k12, k22 = K
    s1, s2 = math.sqrt(k11), math.sqrt(k22)
    rho = k12 / (s1 * s2)
    # reference: condition on x, integrate the inner Gaussian adaptively
    def inner(x: float) -> float:
        return act(s1 * x) * _adaptive(lambda y: act(s2 * (rho * x + math.sqrt(1 - rho**2) * y)),
                                      1.0) * math.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    ref, _ = integrate.quad(inner, -12, 12, epsabs=1e-14, epsrel=1e-12, limit=400)
    got = gaussian_expectation_2d(lambda u, v: act(u) * act(v), k11, k12, k22)
    assert abs(got - ref) <= 1e-10 * max(abs(ref), 1e-2)


def test_moments_of_a_gaussian_are_exact() -> None:
    assert gaussian_expectation(lambda z: z**4, 2.0) == pytest.approx(12.0, rel=1e-13)
    got = gaussian_expectation_2d(lambda u, v: u**3 * v, 1.5, 0.4, 0.7)
    assert got == pytest.approx(3 * 1.5 * 0.4, rel=1e-13)


@pytest.mark.parametrize("slope", [0.0, 0.1, -0.5, 1.0])
@pytest.mark.parametrize("K", [(1.0, 0.3, 2.0), (0.5, -0.49, 0.5), (2.0, 1.9, 2.0)])
def test_arc_cosine_closed_forms_match_polar_integration(slope: float, K) -> None:
    """Closed form vs the kink-aware polar integral (an independent code path)."""
    act = get_activation("leaky_relu", slope=slope)
    d = sigma_derivative(act)
    k11, k12, k22 = K
    ss = _homogeneous_2d(lambda u, v: act(u) * act(v), k11, k12, k22, 2)
    dd = _homogeneous_2d(lambda u, v: d(u) * d(v), k11, k12, k22, 0)
    assert sigma_sigma_expectation(act, *K) == pytest.approx(ss, rel=1e-12, abs=1e-14)
    assert dsigma_dsigma_expectation(act, *K) == pytest.approx(dd, rel=1e-12, abs=1e-14)


def test_relu_closed_form_values() -> None:
    # orthogonal inputs: <relu relu> = √(K11K22)/2π; identical: K/2; opposite: 0
    assert sigma_sigma_expectation("relu", 1.0, 0.0, 4.0) == pytest.approx(1 / math.pi)
    assert sigma_sigma_expectation("relu", 3.0, 3.0, 3.0) == pytest.approx(1.5)
    assert sigma_sigma_expectation("relu", 3.0, -3.0, 3.0) == pytest.approx(0.0, abs=1e-15)
    assert sigma_sigma_expectation("linear", 1.0, 0.37, 4.0) == pytest.approx(0.37)


@pytest.mark.parametrize("K", [(1.0, 0.5, 2.0), (0.2, 0.0, 0.3), (3.0, -2.9, 3.0)])
def test_erf_closed_forms_match_quadrature(K) -> None:
    erf = get_activation("erf")
    d = sigma_derivative(erf)
    q_ss = gaussian_expectation_2d(lambda u, v: erf(u) * erf(v), *K)
    q_dd = gaussian_expectation_2d(lambda u, v: d(u) * d(v), *K)
    assert sigma_sigma_expectation("erf", *K) == pytest.approx(q_ss, rel=1e-10)
    assert dsigma_dsigma_expectation("erf", *K) == pytest.approx(q_dd, rel=1e-10)


def test_derivative_of_a_callable_by_autograd_and_differences() -> None:
    x = np.linspace(-2, 2, 7)
    auto = sigma_derivative(lambda t: t * t * t)  # works on tensors: autograd
    np.testing.assert_allclose(auto(x), 3 * x * x, rtol=1e-14)
    numpy_only = sigma_derivative(lambda t: np.asarray(np.cos(np.asarray(t))))
    np.testing.assert_allclose(numpy_only(x), -np.sin(x), atol=1e-10)


def test_bad_input_raises_lmech_errors() -> None:
    with pytest.raises(LmechError, match="unknown activation 'relu6'"):
        sigma_sigma_expectation("relu6", 1.0, 0.0, 1.0)
    with pytest.raises(LmechError, match="activation.*non-finite"):
        sigma_sigma_expectation(lambda z: np.where(z > 3, np.inf, z), 1.0, 0.0, 1.0)
    with pytest.raises(LmechError, match="K must be >= 0"):
        gaussian_expectation(np.cos, -1.0)
    with pytest.raises(LmechError, match="positive semi-definite"):
        gaussian_expectation_2d(lambda u, v: u * v, 1.0, 2.0, 1.0)
