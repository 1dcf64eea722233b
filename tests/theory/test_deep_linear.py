"""Saxe's two-layer linear network solution: closed forms, limits, and the discrete map."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from lmech.errors import LmechError
from lmech.theory import (
    deep_discrete_learning_time,
    deep_mode_learning_time,
    saxe_discrete_mode_strength,
    saxe_finite_step_logodds_bound,
    saxe_learning_time,
    saxe_mode_strength,
    shallow_discrete_learning_time,
    shallow_mode_strength,
)


def test_limits() -> None:
    s, u0 = np.array([3.0, 2.0, 0.5]), 1e-3
    np.testing.assert_allclose(saxe_mode_strength(0.0, s, u0), u0, rtol=1e-12)
    np.testing.assert_allclose(saxe_mode_strength(1e3, s, u0), s, rtol=1e-12)
    np.testing.assert_allclose(shallow_mode_strength(1e3, s, u0), s, rtol=1e-12)


def test_solves_the_mode_ode() -> None:
    """τ du/dt = 2u(s − u), by central differences (error O(h²) ≈ 1e-8 here)."""
    t, h, s, u0, tau = np.linspace(0.1, 6, 50), 1e-4, 2.0, 1e-3, 0.7
    du = (saxe_mode_strength(t + h, s, u0, tau) - saxe_mode_strength(t - h, s, u0, tau)) / (2 * h)
    u = saxe_mode_strength(t, s, u0, tau)
    np.testing.assert_allclose(tau * du, 2 * u * (s - u), rtol=1e-6, atol=1e-9)


def test_shallow_solves_its_ode() -> None:
    t, h, s, u0 = np.linspace(0.1, 6, 50), 1e-4, 2.0, 1e-3
    du = (shallow_mode_strength(t + h, s, u0) - shallow_mode_strength(t - h, s, u0)) / (2 * h)
    np.testing.assert_allclose(du, s - shallow_mode_strength(t, s, u0), rtol=1e-6)


def test_half_times_match_reference_values() -> None:
    """docs/theory/deep_linear.md, §Reference values: s = (3, 2, 1, 0.5), u0 = 1e-4, τ = 1."""
    t = saxe_learning_time(np.array([3.0, 2.0, 1.0, 0.5]), 1e-4)
    np.testing.assert_allclose(t, [1.7182, 2.4759, 4.6051, 8.5170], atol=1e-4)


def test_learning_time_inverts_the_trajectory() -> None:
    s, u0 = 1.3, 2e-3
    for uf in (0.1, 0.65, 1.2):
        t = saxe_learning_time(s, u0, uf, tau=2.0)
        assert saxe_mode_strength(t, s, u0, tau=2.0) == pytest.approx(uf, rel=1e-12)


def test_quoted_time_is_twice_too_long() -> None:
    """The often quoted (τ/s) ln(s/u0) is 2× Saxe's (τ/2s) ln(s/u0) as u0 → 0."""
    s, u0 = 2.0, 1e-12
    assert (np.log(s / u0) / s) / saxe_learning_time(s, u0) == pytest.approx(2.0, rel=1e-10)


def test_discrete_map_tends_to_the_flow() -> None:
    """Gradient descent converges to gradient flow at first order in η."""
    s, u0, t_end = 2.0, 1e-3, 3.0
    errors = []
    for eta in (0.02, 0.01, 0.005):
        steps = int(round(t_end / eta))
        u = saxe_discrete_mode_strength(steps, s, u0, eta)
        errors.append(np.max(np.abs(u - saxe_mode_strength(np.arange(steps + 1) * eta, s, u0))))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    np.testing.assert_allclose(orders, 1.0, atol=0.1)


@pytest.mark.parametrize(
    ("eta", "spectrum", "u0"),
    [(0.002, (3.0, 2.0, 1.0, 0.5), 1e-3), (0.01, (3.0, 1.5), 1e-3), (0.05, (3.0, 1.0), 1e-2),
     (0.1, (2.0,), 1e-4), (0.0005, (4.0, 0.25), 1e-3)],
)
def test_finite_step_bound_covers_the_exact_discrete_gap(eta, spectrum, u0) -> None:
    """The first-order bound B(t) caps |u_GD − u_flow| all along (rounding aside)."""
    s = np.array(spectrum)
    steps = int((1.5 * saxe_learning_time(s.min(), u0) + 4 / s.min()) / eta)
    t = np.arange(steps + 1)[:, None] * eta
    exact = saxe_discrete_mode_strength(steps, s, u0, eta)
    flow = saxe_mode_strength(t, s, u0)
    bound = flow * (s - flow) / s * saxe_finite_step_logodds_bound(t, s, u0, eta)
    assert np.all(np.abs(exact - flow) <= bound + 1e-12 * s)
    # and it is not vacuous: before u reaches s/3 (no cancellation yet) it is attained to
    # within a factor 2
    early = (flow < s / 4) & (t > 0)
    assert np.all(np.abs(exact - flow)[early] >= 0.5 * bound[early])


def test_bound_integral_matches_quadrature() -> None:
    s, u0, eta = 2.0, 1e-3, 0.01
    t = np.linspace(0, 6, 60001)
    integrand = np.abs(3 * saxe_mode_strength(t, s, u0) - s)
    quad = eta * s * np.concatenate([[0.0], np.cumsum((integrand[1:] + integrand[:-1]) / 2)
                                     * (t[1] - t[0])])
    np.testing.assert_allclose(saxe_finite_step_logodds_bound(t, s, u0, eta), quad, atol=1e-7)


@pytest.mark.parametrize(
    "call",
    [lambda: saxe_mode_strength(1.0, -1.0, 1e-3), lambda: saxe_mode_strength(1.0, 1.0, 2.0),
     lambda: saxe_learning_time(1.0, 1e-3, uf=1.5),
     lambda: saxe_discrete_mode_strength(3, 1.0, 1e-3, 0.0)],
)
def test_bad_inputs(call) -> None:
    with pytest.raises(LmechError):
        call()


def _depth3_closed_form(s: float, u_from: float, u_to: float) -> float:
    """(1/3)∫ du/(u^{4/3}(s − u)) with u = v³: ∫ dv/(v²(s − v³)), by partial fractions
    (c = s^{1/3}, s − v³ = (c − v)(v² + cv + c²))."""
    c = s ** (1 / 3)

    def antiderivative(v: float) -> float:
        f = (-np.log(c - v) / (3 * c) + np.log(v * v + c * v + c * c) / (6 * c)
             - np.arctan((2 * v + c) / (np.sqrt(3) * c)) / (np.sqrt(3) * c))
        return -1 / (s * v) + f / s

    return antiderivative(u_to ** (1 / 3)) - antiderivative(u_from ** (1 / 3))


@pytest.mark.parametrize("s", [0.5, 1.0, 4.0])
def test_depth_three_time_matches_its_closed_form(s) -> None:
    """Two routes: quadrature in ln u against the partial-fraction antiderivative."""
    t = deep_mode_learning_time(s, 1e-3 * s, s / 2, 3)
    assert float(t) == pytest.approx(_depth3_closed_form(s, 1e-3 * s, s / 2), rel=1e-9)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_deep_time_inverts_the_mode_ode(depth) -> None:
    """Integrating τ du/dt = D u^{2−2/D}(s − u) for the predicted time lands on u_to."""
    s, u_from, u_to, tau = 2.0, 0.1, 1.5, 0.8
    t = float(deep_mode_learning_time(s, u_from, u_to, depth, tau))
    sol = solve_ivp(lambda _, u: depth * u ** (2 - 2 / depth) * (s - u) / tau, (0, t),
                    [u_from], rtol=1e-11, atol=1e-13)
    assert sol.y[0, -1] == pytest.approx(u_to, rel=1e-7)


def test_depth_one_and_two_reduce_to_known_forms() -> None:
    s, u0, uf = np.array([3.0, 1.0]), np.array([0.3, 0.1]), np.array([1.5, 0.5])
    np.testing.assert_allclose(deep_mode_learning_time(s, u0, uf, 1),
                               np.log((s - u0) / (s - uf)), rtol=1e-10)
    np.testing.assert_allclose(deep_mode_learning_time(s, u0, uf, 2),
                               saxe_learning_time(s, u0, uf), rtol=1e-12)


@pytest.mark.parametrize("depth", [2, 3])
def test_discrete_time_tends_to_the_flow(depth) -> None:
    """The GD map's crossing time approaches the flow's as η → 0, with an O(η) gap."""
    s = np.array([4.0, 1.0, 0.5])
    flow = deep_mode_learning_time(s, 0.1 * s, s / 2, depth)
    gaps = [np.max(np.abs(deep_discrete_learning_time(s, 0.1 * s, s / 2, depth, eta) - flow)
                   / flow) for eta in (0.02, 0.01, 0.005)]
    assert gaps[2] < 0.01
    assert gaps[1] / gaps[0] == pytest.approx(0.5, abs=0.1)  # first order in η
    assert gaps[2] / gaps[1] == pytest.approx(0.5, abs=0.1)


def test_discrete_time_agrees_with_the_depth_two_map() -> None:
    """Oracle: the D = 2 crossing time from iterating `saxe_discrete_mode_strength`."""
    s, eta = 2.0, 0.01
    u = saxe_discrete_mode_strength(2000, s, 0.2, eta)
    k = int(np.argmax(u >= 1.0))
    odds = np.log(u / (s - u))
    expected = eta * (k - 1 + (0 - odds[k - 1]) / (odds[k] - odds[k - 1]))
    assert float(deep_discrete_learning_time(s, 0.2, 1.0, 2, eta)) == pytest.approx(
        expected, rel=1e-12)


def test_shallow_discrete_time() -> None:
    """Direct iteration of u ← u + η(s − u), and the flow limit ln((s − u0)/(s − uf))."""
    s, eta = 3.0, 0.05
    u, k = 0.3, 0
    while u + eta * (s - u) < 1.5:
        u, k = u + eta * (s - u), k + 1
    t = float(shallow_discrete_learning_time(s, 0.3, 1.5, eta))
    assert eta * k <= t <= eta * (k + 1)
    assert float(shallow_discrete_learning_time(s, 0.3, 1.5, 1e-7)) == pytest.approx(
        np.log(2.7 / 1.5), rel=1e-6)


@pytest.mark.parametrize(
    "call",
    [lambda: deep_mode_learning_time(1.0, 0.5, 0.2, 3),
     lambda: deep_mode_learning_time(1.0, 0.1, 0.5, 0),
     lambda: deep_discrete_learning_time(1.0, 0.1, 1.2, 3, 0.01),
     lambda: deep_discrete_learning_time(1.0, 0.1, 0.5, 3, -0.1),
     lambda: shallow_discrete_learning_time(1.0, 0.1, 0.5, 1.5)],
)
def test_deep_bad_inputs(call) -> None:
    with pytest.raises(LmechError):
        call()
