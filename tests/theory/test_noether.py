"""Noether-charge dynamics: exact discrete forms against brute-force SGD on a toy
scale-invariant loss, continuous forms as their small-step limits, equilibrium formulas."""

from __future__ import annotations

import numpy as np
import pytest

from lmech.errors import LmechError
from lmech.theory.noether import (
    adamw_angular_update,
    equilibrium_angular_update,
    equilibrium_norm_balance,
    equilibrium_norm_sq,
    gradient_flow_charge,
    modified_flow_charge,
    oscillator_charge,
    oscillator_coefficients,
    quadratic_charge_momentum,
    quadratic_charge_sgd,
    sgd_time,
    translation_charge_sgd,
)


class Sphere:
    """L(θ) = ½‖A θ/‖θ‖ − b‖² with a fresh noisy b each step: exactly scale-invariant."""

    def __init__(self, rng: np.random.Generator, dim: int = 12, noise: float = 1.0) -> None:
        self.rng, self.a, self.noise = rng, rng.normal(size=(16, dim)), noise

    def grad(self, theta: np.ndarray) -> np.ndarray:
        n = np.linalg.norm(theta)
        u = theta / n
        b = 1.0 + self.noise * self.rng.normal(size=16)
        gu = self.a.T @ (self.a @ u - b)
        return (gu - u * (u @ gu)) / n  # (dim,), ⟨g, θ⟩ = 0


def _heavy_ball(loss: Sphere, theta, steps, lr, wd, beta, damp):
    """PyTorch SGD by hand; returns charges, ‖g_k‖², ‖v_{k+1}‖², ⟨θ_k, θ_{k+1}⟩ terms."""
    v = None
    q, grad_sq, kin, cos = [theta @ theta], [], [], []
    for _ in range(steps):
        g = loss.grad(theta)
        d_p = g + wd * theta
        v = d_p.copy() if v is None else beta * v + (1 - damp) * d_p  # fresh buffer: no d
        new = theta - lr * (v if beta > 0 else d_p)
        cos.append(theta @ new / np.linalg.norm(theta) / np.linalg.norm(new))
        grad_sq.append(g @ g)
        kin.append((v if beta > 0 else d_p) @ (v if beta > 0 else d_p))
        theta = new
        q.append(theta @ theta)
    return np.array(q), np.array(grad_sq), np.array(kin), np.array(cos)


def test_sgd_charge_is_exact_on_a_scale_invariant_loss(rng) -> None:
    """Oracle: brute-force SGD + weight decay vs Q_{k+1} = (1 − ηλ)² Q_k + η² ‖g_k‖²."""
    q, grad_sq, _, _ = _heavy_ball(Sphere(rng), rng.normal(size=12) * 2, 2000, 0.1, 1e-3, 0, 0)
    pred = quadratic_charge_sgd(q[0], grad_sq, 0.1, 1e-3)
    np.testing.assert_allclose(pred, q, rtol=1e-12)
    decay_only = quadratic_charge_sgd(q[0], 0 * grad_sq, 0.1, 1e-3)
    assert np.max(np.abs(decay_only / q - 1)) > 0.1  # the source term matters


@pytest.mark.parametrize("beta,damp", [(0.9, 0.0), (0.5, 0.3)])
def test_momentum_charge_is_exact(rng, beta, damp) -> None:
    """Oracle: heavy ball with dampening and PyTorch's undampened first step."""
    q, _, kin, _ = _heavy_ball(Sphere(rng), rng.normal(size=12), 1500, 0.05, 5e-3, beta, damp)
    pred = quadratic_charge_momentum(q[0], kin, 0.05, 5e-3, beta, damp)
    np.testing.assert_allclose(pred, q, rtol=1e-11)


def test_momentum_form_reduces_to_sgd_form_without_momentum(rng) -> None:
    """Two code paths: β = 0 with source ‖g + λθ‖² equals the SGD form with ‖g‖²."""
    q, grad_sq, kin, _ = _heavy_ball(Sphere(rng), rng.normal(size=12), 300, 0.1, 1e-2, 0, 0)
    np.testing.assert_allclose(quadratic_charge_momentum(q[0], kin, 0.1, 1e-2, 0.0),
                               quadratic_charge_sgd(q[0], grad_sq, 0.1, 1e-2), rtol=1e-12)


def test_translation_charge(rng) -> None:
    """Closed form (1 − ηλ)^k without momentum; brute force with momentum and dampening."""
    k = np.arange(51)
    np.testing.assert_allclose(translation_charge_sgd(2.0, 0.1, 0.3, steps=50),
                               2.0 * (1 - 0.03) ** k, rtol=1e-13)
    np.testing.assert_allclose(translation_charge_sgd(2.0, 0.1, 0.0, 0.9, steps=50), 2.0)
    theta, v, xs = rng.normal(size=10), None, []
    for _ in range(200):
        g = rng.normal(size=10)
        g -= g.mean()  # ⟨g, 1⟩ = 0
        d_p = g + 0.02 * theta
        v = d_p.copy() if v is None else 0.8 * v + 0.6 * d_p
        xs.append(theta.sum())
        theta = theta - 0.1 * v
    xs.append(theta.sum())
    np.testing.assert_allclose(translation_charge_sgd(xs[0], 0.1, 0.02, 0.8, 0.4, steps=200),
                               xs, rtol=1e-10, atol=1e-12)


def test_gradient_flow_limits() -> None:
    assert gradient_flow_charge(5.0, 3.0, 0.0) == 3.0
    np.testing.assert_allclose(gradient_flow_charge(2.0, 1.0, 0.1, degree=1), np.exp(-0.2))
    np.testing.assert_allclose(gradient_flow_charge(2.0, 1.0, 0.1), np.exp(-0.4))
    with pytest.raises(LmechError, match="degree"):
        gradient_flow_charge(1.0, 1.0, 0.1, degree=3)


def test_modified_flow_is_the_small_step_limit(rng) -> None:
    """The continuous form approaches the exact discrete one as O(η)."""
    errors = []
    for lr in (0.02, 0.01):
        steps = int(20 / lr)
        q, grad_sq, _, _ = _heavy_ball(Sphere(rng, noise=0.0), np.ones(12), steps, lr, 0.05,
                                       0, 0)
        t = sgd_time(np.arange(steps + 1), lr)
        g = np.append(grad_sq, grad_sq[-1])
        errors.append(np.max(np.abs(modified_flow_charge(t, q[0], g, lr, 0.05) / q - 1)))
    assert errors[0] < 0.02 and errors[1] < 0.6 * errors[0], errors


def test_oscillator_matches_the_discrete_charge(rng) -> None:
    """The oscillator ODE (driven by 2‖v‖²/(1−d)²) tracks the exact heavy-ball charge, and
    better as η shrinks (η = 0.02 → 0.005: 0.3 % → 0.03 % here). Kept in the smooth regime:
    with strong decay and no gradient noise the norm collapses and the effective step
    η/‖θ‖² blows up, where no continuum description holds."""
    errors = []
    for lr in (0.02, 0.005):
        steps = int(10 / lr)
        q, _, kin, _ = _heavy_ball(Sphere(rng), 3 * np.ones(12), steps, lr, 0.005, 0.9, 0.1)
        t = sgd_time(np.arange(steps + 1), lr, 0.1)
        drive = 2 * np.concatenate([[kin[0]], kin]) / 0.9**2
        osc = oscillator_charge(t, q[0], 0.0, lr, 0.005, 0.9, 0.1, drive=drive)
        errors.append(np.max(np.abs(osc / q - 1)))
    assert errors[0] < 0.01 and errors[1] < errors[0] / 2, errors


def test_oscillator_free_solution_is_the_damped_closed_form() -> None:
    """Translation (degree 1, no drive), under- and over-damped:
    x = e^{−γt}(cos κt + (γ/κ) sin κt) with κ² = ω² − γ² (cosh/sinh when κ² < 0)."""
    t = np.linspace(0, 30, 301)
    lr, wd, beta = 0.1, 0.05, 0.9  # γ² = 0.28 < ω² = 0.53: under-damped
    _, gamma, omega2 = oscillator_coefficients(lr, wd, beta, degree=1)
    kappa = np.sqrt(omega2 - gamma**2)
    exact = np.exp(-gamma * t) * (np.cos(kappa * t) + gamma / kappa * np.sin(kappa * t))
    np.testing.assert_allclose(oscillator_charge(t, 1.0, 0.0, lr, wd, beta, degree=1), exact,
                               rtol=1e-9, atol=1e-12)
    lr, wd, beta = 0.1, 0.005, 0.9  # over-damped
    _, gamma, omega2 = oscillator_coefficients(lr, wd, beta, degree=1)
    kappa = np.sqrt(gamma**2 - omega2)
    exact = np.exp(-gamma * t) * (np.cosh(kappa * t) + gamma / kappa * np.sinh(kappa * t))
    np.testing.assert_allclose(oscillator_charge(t, 1.0, 0.0, lr, wd, beta, degree=1), exact,
                               rtol=1e-9)


def test_equilibrium_angle_closed_forms_and_limits() -> None:
    np.testing.assert_allclose(equilibrium_angular_update(0.1, 0.01), np.arccos(1 - 1e-3))
    small = equilibrium_angular_update(1e-3, 1e-4, momentum=0.9)
    np.testing.assert_allclose(small, np.sqrt(2e-7 / 1.9), rtol=1e-6)
    assert equilibrium_angular_update(0.1, 0.0) == 0.0
    # PyTorch ignores dampening without momentum
    assert equilibrium_angular_update(0.1, 0.01, 0.0, 0.5) == equilibrium_angular_update(0.1,
                                                                                           0.01)


@pytest.mark.parametrize("beta", [0.0, 0.9])
def test_equilibrium_angle_is_reached_whatever_the_noise(rng, beta) -> None:
    """Oracle: the window-averaged angle of toy SGD at equilibrium, for two noise levels.

    cos Δ̄ = Σ⟨θ_k, θ_{k+1}⟩ / √(Σ‖θ_k‖² Σ‖θ_{k+1}‖²) is exact at a steady state; the check
    allows 5 standard errors of the window mean (estimated from 10 sub-windows).
    """
    lr, wd = 0.1, 0.02
    for noise in (0.2, 3.0):
        loss = Sphere(rng, noise=noise)
        burn, window = int(12 * (1 - beta) / (lr * wd)), 20_000
        q, _, _, cos = _heavy_ball(loss, rng.normal(size=12) * 0.3, burn + window, lr, wd,
                                   beta, 0)
        # per-step ⟨θ_k, θ_{k+1}⟩ = cos_k √(Q_k Q_{k+1})
        dot = cos * np.sqrt(q[:-1] * q[1:])
        chunks = [slice(burn + i * window // 10, burn + (i + 1) * window // 10)
                  for i in range(10)]
        est = [np.arccos(dot[c].sum() / np.sqrt(q[:-1][c].sum() * q[1:][c].sum()))
               for c in chunks]
        se = np.std(est, ddof=1) / np.sqrt(len(est))
        assert abs(np.mean(est) - equilibrium_angular_update(lr, wd, beta)) < 5 * se + 1e-4


def test_equilibrium_norm_is_the_fixed_point() -> None:
    """β = 0: iterating Q ← (1 − ηλ)² Q + η² C/Q converges to Q*."""
    lr, wd, c, q = 0.2, 0.01, 3.0, 50.0
    for _ in range(20_000):
        q = (1 - lr * wd) ** 2 * q + lr**2 * c / q
    np.testing.assert_allclose(equilibrium_norm_sq(lr, wd, c), q, rtol=1e-10)
    with_momentum = equilibrium_norm_sq(0.2, 0.01, c, momentum=0.5)
    np.testing.assert_allclose(with_momentum, np.sqrt(0.2 * c / (0.01 * 0.5 * (2 - 0.002 / 1.5))))
    lead = equilibrium_norm_sq(1e-3, 1e-3, c, momentum=0.5)  # ηλ → 0: ηC/(2λ(1 − β))
    np.testing.assert_allclose(lead, np.sqrt(1e-3 * c / (2 * 1e-3 * 0.5)), rtol=1e-6)


def _tangent_noise(rng, theta, previous, anti: bool):
    """A gradient ⊥ θ of scale 1/‖θ‖ from white noise ξ_k (a random walk), or from
    ξ_k − ξ_{k−1} (anti-correlated from step to step)."""
    xi = rng.normal(size=theta.size)
    raw = xi - previous if anti else xi
    q = theta @ theta
    return (raw - (raw @ theta) / q * theta) / np.sqrt(q), xi


def _balance(rng, lr, wd, beta, anti=False, burn=1000, window=12_000):
    """λΣQ_k/(ηΣ‖g_k‖²) of PyTorch heavy ball on a scale-invariant toy, and its standard
    error from 12 consecutive blocks."""
    theta, v, prev = rng.normal(size=32), np.zeros(32), np.zeros(32)
    qs, gs = [], []
    for k in range(burn + window):
        g, prev = _tangent_noise(rng, theta, prev, anti)
        v = beta * v + g + wd * theta
        if k >= burn:
            qs.append(theta @ theta)
            gs.append(g @ g)
        theta = theta - lr * v
    blocks = [wd * np.sum(q) / (lr * np.sum(g)) for q, g in
              zip(np.array_split(qs, 12), np.array_split(gs, 12), strict=True)]
    return wd * np.sum(qs) / (lr * np.sum(gs)), np.std(blocks, ddof=1) / np.sqrt(12)


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9])
def test_norm_balance_is_the_random_walk_steady_state(rng, beta) -> None:
    """Independent route: heavy ball on white tangent noise settles at the balance, within
    5 block standard errors plus the window's boundary term (≲ 1e-3 here)."""
    lr, wd = 0.5, 0.04
    got, se = _balance(rng, lr, wd, beta)
    want = equilibrium_norm_balance(lr, wd, beta)
    assert abs(got / want - 1) < 5 * se / want + 1e-3, (got, want, se)


def test_anti_correlated_gradients_lower_the_norm_only_with_momentum(rng) -> None:
    """With ξ_k − ξ_{k−1} noise the momentum balance falls well below the random-walk value,
    while the β = 0 balance stays exact (it needs no assumption on the gradients)."""
    lr, wd = 0.5, 0.04
    got, se = _balance(rng, lr, wd, 0.9, anti=True)
    assert got < 0.8 * equilibrium_norm_balance(lr, wd, 0.9)
    got, se = _balance(rng, lr, wd, 0.0, anti=True)
    assert abs(got / equilibrium_norm_balance(lr, wd) - 1) < 5 * se + 1e-3


def test_adamw_angle_closed_forms_and_limits() -> None:
    np.testing.assert_allclose(adamw_angular_update(0.1, 0.2, 0.0), np.arccos(1 - 0.02))
    small = adamw_angular_update(1e-3, 1e-3, 0.9)  # √(2ηλ(1 − β₁)/(1 + β₁))
    np.testing.assert_allclose(small, np.sqrt(2e-6 * 0.1 / 1.9), rtol=1e-6)
    with pytest.raises(LmechError, match="β₁"):
        adamw_angular_update(0.1, 0.1, 1.0)


@pytest.mark.parametrize("beta1", [0.5, 0.9])
def test_adamw_angle_is_reached_on_isotropic_noise(rng, beta1) -> None:
    """Independent route: AdamW by hand (PyTorch's arithmetic) on white tangent noise, where
    Adam's preconditioner is isotropic up to its own estimation noise: the window angle
    agrees to 0.5 % (the block spread is ≈ 0.05 %; the rest allows for v's noise)."""
    lr, wd, b2, burn, window = 0.05, 0.5, 0.999, 600, 12_000
    theta, m, v = rng.normal(size=32), np.zeros(32), np.zeros(32)
    dot = q0 = q1 = 0.0
    for k in range(1, burn + window + 1):
        g, _ = _tangent_noise(rng, theta, None, anti=False)
        m = beta1 * m + (1 - beta1) * g
        v = b2 * v + (1 - b2) * g * g
        u = (m / (1 - beta1**k)) / (np.sqrt(v / (1 - b2**k)) + 1e-8)
        new = theta * (1 - lr * wd) - lr * u
        if k > burn:
            dot, q0, q1 = dot + theta @ new, q0 + theta @ theta, q1 + new @ new
        theta = new
    got = np.arccos(dot / np.sqrt(q0 * q1))
    np.testing.assert_allclose(got, adamw_angular_update(lr, wd, beta1), rtol=5e-3)


def test_bad_inputs() -> None:
    with pytest.raises(LmechError, match="momentum"):
        quadratic_charge_momentum(1.0, [1.0], 0.1, 0.0, 1.0)
    with pytest.raises(LmechError, match="lr"):
        quadratic_charge_sgd(1.0, [1.0], -0.1, 0.0)
    with pytest.raises(LmechError, match="steps"):
        translation_charge_sgd(1.0, 0.1, 0.1)
    with pytest.raises(LmechError, match="weight_decay"):
        equilibrium_norm_sq(0.1, 0.0, 1.0)
