"""Noether charges of loss symmetries and their dynamics under PyTorch SGD (neural mechanics).

A symmetry of the loss in a parameter group A gives a charge that gradient flow conserves;
finite learning rate, weight decay and momentum break the conservation in a way that is
exactly computable (docs/theory/symmetry.md):

    translation  L(θ_A + c·1) = L       charge x = ⟨θ_A, 1⟩            (degree 1)
    scale        L(α θ_A) = L           charge Q = ‖θ_A‖²              (degree 2)
    rescale      L(α θ_A1, θ_A2/α) = L  charge Q = ‖θ_A1‖² − ‖θ_A2‖²  (degree 2)

Optimiser convention (PyTorch SGD, weight decay λ, momentum β, dampening d):
v_{k+1} = β v_k + (1 − d)(g_k + λ θ_k), θ_{k+1} = θ_k − η v_{k+1}; PyTorch's first step
with a fresh buffer is v_1 = g_0 + λ θ_0 (no dampening). Time is t = η (1 − d) k.

The discrete forms below are exact consequences of the update and the symmetry's gradient
identity (⟨g_A, θ_A⟩ = 0, ⟨g_A, 1⟩ = 0, ⟨g_A1, θ_A1⟩ = ⟨g_A2, θ_A2⟩); the continuous forms
are their small-step limits (the modified flow, and the damped driven oscillator
m Q̈ + (1 − β) Q̇ + degree·λ Q = 2m ‖θ̇‖² with m = η (1 − d)(1 + β)/2).

Source: Kunin, Sagastuy-Brena, Ganguli, Yamins & Tanaka, "Neural Mechanics", ICLR 2021
(arXiv:2012.04728), §4–5 and App. (modified equation of motion); Tanaka & Kunin, "Noether's
Learning Dynamics", NeurIPS 2021 (arXiv:2105.02716). The equilibrium formulas are derived
here from the exact recursion (see `equilibrium_angular_update`).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import expm

from lmech.errors import LmechError

__all__ = [
    "adamw_angular_update",
    "equilibrium_angular_update",
    "equilibrium_norm_balance",
    "equilibrium_norm_sq",
    "gradient_flow_charge",
    "modified_flow_charge",
    "oscillator_charge",
    "oscillator_coefficients",
    "quadratic_charge_momentum",
    "quadratic_charge_sgd",
    "sgd_time",
    "translation_charge_sgd",
]


def _hyper(values, steps: int, name: str) -> np.ndarray:
    arr = np.broadcast_to(np.asarray(values, dtype=np.float64), (steps,)).copy()
    if np.any(~np.isfinite(arr)) or np.any(arr < 0):
        raise LmechError(f"{name} must be finite and >= 0, got {values!r}")
    return arr


def _check_momentum(momentum: float, dampening: float) -> None:
    if not 0.0 <= momentum < 1.0:
        raise LmechError(f"momentum β must be in [0, 1), got {momentum}")
    if not 0.0 <= dampening < 1.0:
        raise LmechError(f"dampening d must be in [0, 1), got {dampening}")


def sgd_time(steps, lr, dampening: float = 0.0) -> np.ndarray:
    """Continuous time of step k: t = η (1 − d) k (Kunin et al. 2021, §5)."""
    _check_momentum(0.0, dampening)
    return np.asarray(steps, dtype=np.float64) * lr * (1.0 - dampening)


def quadratic_charge_sgd(q0: float, grad_sq, lr, weight_decay) -> np.ndarray:
    """Exact trajectory of a scale or rescale charge under SGD without momentum.

        Q_{k+1} = (1 − η_k λ_k)² Q_k + η_k² G_k

    with G_k = ‖g_A,k‖² (scale) or ‖g_A1,k‖² − ‖g_A2,k‖² (rescale); exact because the
    cross term −2η(1 − ηλ)⟨g, θ⟩ vanishes by the symmetry. With G = 0 it is the
    source-free (gradient-flow) answer, pure decay (1 − ηλ)^{2k} Q_0.

    Source: Kunin et al. 2021, §5; docs/theory/symmetry.md, §Exact discrete updates.

    Args:
        q0: the charge before the first step.
        grad_sq: ``(K,)`` source G_k of each step.
        lr, weight_decay: scalars or ``(K,)`` per-step η_k, λ_k.
    Returns:
        ``(K + 1,)`` charges Q_0 … Q_K.

    Example:
        >>> quadratic_charge_sgd(1.0, [1.0, 1.0], 0.1, 0.0).round(6).tolist()
        [1.0, 1.01, 1.02]
    """
    g = np.asarray(grad_sq, dtype=np.float64).reshape(-1)
    eta, lam = _hyper(lr, g.size, "lr"), _hyper(weight_decay, g.size, "weight_decay")
    out = np.empty(g.size + 1)
    out[0] = q0
    for k in range(g.size):
        out[k + 1] = (1.0 - eta[k] * lam[k]) ** 2 * out[k] + eta[k] ** 2 * g[k]
    return out


def quadratic_charge_momentum(
    q0: float,
    kinetic_sq,
    lr,
    weight_decay,
    momentum: float,
    dampening: float = 0.0,
    *,
    p0: float = 0.0,
    fresh_buffer: bool = True,
) -> np.ndarray:
    """Exact trajectory of a scale or rescale charge under heavy-ball SGD.

    With p_k = ⟨θ_k, v_k⟩ (difference of the two sides for rescale) and the kinetic
    source K_{k+1} = ‖v_{k+1}‖² (difference for rescale):

        c_{k+1} = β p_k + (1 − d) λ Q_k      (= ⟨θ_k, v_{k+1}⟩, using ⟨g, θ⟩ = 0)
        Q_{k+1} = Q_k − 2η c_{k+1} + η² K_{k+1}
        p_{k+1} = c_{k+1} − η K_{k+1}

    PyTorch's fresh buffer (v_1 = g_0 + λθ_0) makes the first c_1 = λ Q_0. This is the
    discrete form of the damped driven oscillator Q̈ + 2γQ̇ + ω²Q = 2‖θ̇‖²
    (`oscillator_charge`). With K = 0 it gives the source-free answer.

    Source: derived here from the PyTorch update; its continuum limit is Kunin et al.
    2021, eq. for the momentum charge (docs/theory/symmetry.md, §Exact discrete updates).

    Args:
        q0: the charge Q_0; p0: ⟨θ_0, v_0⟩ (0 for a fresh buffer).
        kinetic_sq: ``(K,)`` K_1 … K_K.
        lr, weight_decay: scalars or ``(K,)``; momentum β, dampening d: scalars.
        fresh_buffer: the optimiser has no momentum buffer yet (first step undampened).
    Returns:
        ``(K + 1,)`` charges.
    """
    _check_momentum(momentum, dampening)
    dampening = dampening if momentum > 0 else 0.0  # PyTorch ignores d without momentum
    kin = np.asarray(kinetic_sq, dtype=np.float64).reshape(-1)
    eta, lam = _hyper(lr, kin.size, "lr"), _hyper(weight_decay, kin.size, "weight_decay")
    out = np.empty(kin.size + 1)
    out[0], p = q0, p0
    for k in range(kin.size):
        damp = 1.0 if (k == 0 and fresh_buffer) else 1.0 - dampening
        c = momentum * p + damp * lam[k] * out[k]
        out[k + 1] = out[k] - 2.0 * eta[k] * c + eta[k] ** 2 * kin[k]
        p = c - eta[k] * kin[k]
    return out


def translation_charge_sgd(
    x0: float,
    lr,
    weight_decay,
    momentum: float = 0.0,
    dampening: float = 0.0,
    *,
    steps: int | None = None,
    s0: float = 0.0,
    fresh_buffer: bool = True,
) -> np.ndarray:
    """Exact trajectory of a translation charge x = ⟨θ_A, 1⟩ under PyTorch SGD.

    The gradient drops out (⟨g_A, 1⟩ = 0), leaving a source-free linear recursion with
    s_k = ⟨v_k, 1⟩:

        s_{k+1} = β s_k + (1 − d) λ x_k,      x_{k+1} = x_k − η s_{k+1}

    (first step undampened for a fresh buffer). Without momentum x_k = (1 − ηλ)^k x_0;
    without weight decay x is conserved.

    Source: Kunin et al. 2021, §5 (docs/theory/symmetry.md, §Exact discrete updates).

    Args:
        x0: the charge before the first step; s0 = ⟨v_0, 1⟩ (0 for a fresh buffer).
        lr, weight_decay: scalars (then `steps` is required) or ``(K,)`` arrays.
    Returns:
        ``(K + 1,)`` charges.

    Example:
        >>> translation_charge_sgd(1.0, 0.5, 0.2, steps=2).round(6).tolist()
        [1.0, 0.9, 0.81]
    """
    _check_momentum(momentum, dampening)
    dampening = dampening if momentum > 0 else 0.0  # PyTorch ignores d without momentum
    sizes = [np.size(v) for v in (lr, weight_decay) if np.ndim(v) > 0]
    k_steps = steps if steps is not None else (sizes[0] if sizes else None)
    if k_steps is None:
        raise LmechError("translation_charge_sgd: give `steps` or per-step lr/weight_decay")
    eta, lam = _hyper(lr, k_steps, "lr"), _hyper(weight_decay, k_steps, "weight_decay")
    out = np.empty(k_steps + 1)
    out[0], s = x0, s0
    for k in range(k_steps):
        damp = 1.0 if (k == 0 and fresh_buffer) else 1.0 - dampening
        s = momentum * s + damp * lam[k] * out[k]
        out[k + 1] = out[k] - eta[k] * s
    return out


def gradient_flow_charge(t, q0, weight_decay: float, degree: int = 2) -> np.ndarray:
    """The gradient-flow answer: Q(t) = e^{−degree·λ t} Q_0 (conserved when λ = 0).

    degree = 1 for translation, 2 for scale and rescale.

    Source: Kunin et al. 2021, Table 1 and §5
    (docs/theory/symmetry.md, §Conservation under gradient flow).
    """
    if degree not in (1, 2):
        raise LmechError(f"degree must be 1 (translation) or 2 (scale, rescale), got {degree}")
    return np.asarray(q0, dtype=np.float64) * np.exp(-degree * weight_decay * np.asarray(t))


def modified_flow_charge(t, q0: float, grad_sq, lr: float, weight_decay: float) -> np.ndarray:
    """Finite-learning-rate (modified flow) charge, continuous form, no momentum.

        Q(t) = e^{−2λt} Q_0 + η ∫_0^t e^{−2λ(t−τ)} G(τ) dτ

    with G the sampled source (‖g_A‖², or the rescale difference), integrated by the
    trapezoid rule on the given times; t = η k.

    Source: Kunin et al. 2021, §5 (docs/theory/symmetry.md, §Modified equation of motion).

    Args:
        t: ``(n,)`` increasing times starting at 0; grad_sq: ``(n,)`` G at those times.
    """
    t = np.asarray(t, dtype=np.float64).reshape(-1)
    g = np.asarray(grad_sq, dtype=np.float64).reshape(-1)
    if t.shape != g.shape or t.size < 1 or t[0] != 0 or np.any(np.diff(t) <= 0):
        raise LmechError("modified_flow_charge: t must start at 0, increase, and match grad_sq")
    weighted = np.exp(2 * weight_decay * t) * g
    integral = np.concatenate([[0.0], np.cumsum(np.diff(t) * (weighted[1:] + weighted[:-1]) / 2)])
    return np.exp(-2 * weight_decay * t) * (q0 + lr * integral)


def oscillator_coefficients(
    lr: float, weight_decay: float, momentum: float, dampening: float = 0.0, degree: int = 2
) -> tuple[float, float, float]:
    """Mass m, damping γ and squared frequency ω² of the charge oscillator.

        m = η (1 − d)(1 + β)/2,   γ = (1 − β)/(2m),   ω² = degree·λ/m

    Source: Kunin et al. 2021, modified equation of motion
    (docs/theory/symmetry.md, §Modified equation of motion).
    """
    _check_momentum(momentum, dampening)
    if lr <= 0 or weight_decay < 0:
        raise LmechError(f"need lr > 0 and weight_decay >= 0, got {lr}, {weight_decay}")
    m = lr * (1 - dampening) * (1 + momentum) / 2
    return m, (1 - momentum) / (2 * m), degree * weight_decay / m


def oscillator_charge(
    t,
    q0: float,
    dq0: float,
    lr: float,
    weight_decay: float,
    momentum: float,
    dampening: float = 0.0,
    *,
    drive=None,
    degree: int = 2,
) -> np.ndarray:
    """Solve Q̈ + 2γ Q̇ + ω² Q = f(t) on the grid `t` (continuous charge with momentum).

    f = 2‖θ̇‖² (≈ 2‖v‖²/(1 − d)² in time t = η(1 − d)k) for scale/rescale, f = 0 for
    translation (degree 1). The drive is taken piecewise constant (the mean of its two
    end values) on each interval and each interval is advanced exactly by the matrix
    exponential, so under-, critically and over-damped cases need no special form.

    Source: Kunin et al. 2021, modified equation of motion
    (docs/theory/symmetry.md, §Modified equation of motion).

    Args:
        t: ``(n,)`` increasing times from 0; drive: ``(n,)`` f at those times, or None.
        q0, dq0: Q(0) and Q̇(0).
    """
    t = np.asarray(t, dtype=np.float64).reshape(-1)
    f = np.zeros_like(t) if drive is None else np.asarray(drive, dtype=np.float64).reshape(-1)
    if f.shape != t.shape or t[0] != 0 or np.any(np.diff(t) <= 0):
        raise LmechError("oscillator_charge: t must start at 0, increase, and match drive")
    _, gamma, omega2 = oscillator_coefficients(lr, weight_decay, momentum, dampening, degree)
    # Augmented state (Q, Q̇, f): exact for a constant drive over each interval.
    a = np.array([[0.0, 1.0, 0.0], [-omega2, -2 * gamma, 1.0], [0.0, 0.0, 0.0]])
    out = np.empty_like(t)
    out[0] = q0
    state = np.array([q0, dq0, 0.0])
    cache: dict[float, np.ndarray] = {}
    for i, h in enumerate(np.diff(t)):
        key = round(float(h), 15)
        if key not in cache:
            cache[key] = expm(a * h)
        state[2] = (f[i] + f[i + 1]) / 2
        state = cache[key] @ state
        out[i + 1] = state[0]
    return out


def equilibrium_angular_update(
    lr, weight_decay, momentum: float = 0.0, dampening: float = 0.0
) -> np.ndarray:
    """Angle between consecutive scale-invariant weights once their norm has equilibrated.

        Δ* = arccos(1 − η λ (1 − d)/(1 + β))  ≈  √(2ηλ(1 − d)/(1 + β))

    Derivation (from `quadratic_charge_momentum`): at a steady state of (Q, p) with mean
    kinetic source K̄, c̄ = ηK̄/2 and c̄ = βp̄ + (1 − d)λQ̄ with p̄ = c̄ − ηK̄, so
    η²K̄ = 2ηλ(1 − d)Q̄/(1 + β); and cos Δ_k = ⟨θ_k, θ_{k+1}⟩/(‖θ_k‖‖θ_{k+1}‖) =
    1 − η²K/(2Q) + O(fluctuations²). Independent of the data and of the gradient scale.
    Exact for β = 0 with a steady norm (cos Δ = (1 − ηλ)‖θ‖/‖θ'‖).

    Source: derived here; the leading order √(2ηλ/(1 + β)) agrees with the spherical-motion
    analyses of Wan et al., NeurIPS 2021 (arXiv:2006.08419) [from memory, not re-read].

    Example:
        >>> round(float(equilibrium_angular_update(0.1, 0.01)), 6)
        0.044725
    """
    _check_momentum(momentum, dampening)
    dampening = dampening if momentum > 0 else 0.0  # PyTorch ignores d without momentum
    eta, lam = np.asarray(lr, dtype=np.float64), np.asarray(weight_decay, dtype=np.float64)
    x = eta * lam * (1 - dampening) / (1 + momentum)
    if np.any(x < 0) or np.any(x > 1):
        raise LmechError(f"need 0 <= ηλ(1−d)/(1+β) <= 1, got {x}")
    return np.arccos(1 - x)


def equilibrium_norm_sq(
    lr, weight_decay, grad_sq_unit, momentum: float = 0.0
) -> np.ndarray:
    """Equilibrium squared norm Q* of a scale-invariant group under SGD with weight decay.

    A scale-invariant gradient scales as ‖g‖² = C/Q, with C = `grad_sq_unit` the mean
    squared gradient norm at unit norm. Inserting Ḡ = C/Q* into `equilibrium_norm_balance`,

        Q*² = η C / (λ (1 − β)(2 − ηλ/(1 + β))),

    which for β = 0 is the exact fixed point of Q = (1 − ηλ)²Q + η²C/Q, and with momentum
    holds for gradients uncorrelated across steps (no dampening).

    Source: derived here from `quadratic_charge_sgd` and `quadratic_charge_momentum`
    (docs/theory/symmetry.md, §Equilibrium norm).
    """
    _check_momentum(momentum, 0.0)
    eta, lam = np.asarray(lr, dtype=np.float64), np.asarray(weight_decay, dtype=np.float64)
    c = np.asarray(grad_sq_unit, dtype=np.float64)
    if np.any(lam <= 0) or np.any(eta <= 0) or np.any(c < 0):
        raise LmechError("equilibrium_norm_sq needs lr > 0, weight_decay > 0, grad_sq_unit >= 0")
    return np.sqrt(eta * c * equilibrium_norm_balance(eta, lam, momentum) / lam)


def equilibrium_norm_balance(lr, weight_decay, momentum: float = 0.0) -> np.ndarray:
    """λ Q̄ / (η Ḡ) at equilibrium: the squared norm of a scale-invariant group against its
    mean squared gradient, under PyTorch's heavy ball with weight decay (no dampening).

        λ Q̄ / (η Ḡ) = 1 / ((1 − β)(2 − ηλ/(1 + β)))

    Derivation: averaged over a steady state, the exact (Q, p = ⟨θ, v⟩) recursion of
    `quadratic_charge_momentum` gives ηK̄ = 2λQ̄/(1 + β) and p̄ = −λQ̄/(1 + β); squaring
    v_{k+1} = βv_k + g_k + λθ_k with ⟨g_k, θ_k⟩ = 0 gives
    (1 − β²)K̄ = Ḡ + λ²Q̄ + 2βλp̄ + 2β⟨v_k, g_k⟩‾. The last term vanishes when gradients
    are uncorrelated across steps (a random walk); then the balance above follows. For
    β = 0 it is exact at any steady state: ηλ(2 − ηλ)Q̄ = η²Ḡ. Gradient noise correlated
    (anti-correlated) across steps raises (lowers) the norm.

    Source: derived here (docs/theory/symmetry.md, §Equilibrium norm); the random-walk
    model of the rotational equilibrium is that of Kosson, Messmer & Jaggi, 2023
    (arXiv:2305.17212).

    Example:
        >>> float(equilibrium_norm_balance(0.1, 0.1))  # 1/(2 − 0.01)
        0.5025125628140703
    """
    _check_momentum(momentum, 0.0)
    x = np.asarray(lr, dtype=np.float64) * np.asarray(weight_decay, dtype=np.float64)
    if np.any(x <= 0) or np.any(x >= 1):
        raise LmechError(f"need 0 < ηλ < 1, got ηλ = {x}")
    return 1.0 / ((1.0 - momentum) * (2.0 - x / (1.0 + momentum)))


def adamw_angular_update(lr, weight_decay, beta1: float = 0.9) -> np.ndarray:
    """Equilibrium angle per step of a scale-invariant group under AdamW.

        Δ* = arccos(1 − ηλ(1 − β₁)/(1 + β₁(1 − ηλ)))  ≈  √(2ηλ (1 − β₁)/(1 + β₁))

    Derivation: with u_k = m_k/(√v_k + ε) the update, θ_{k+1} = (1 − ηλ)θ_k − ηu_k and
    c_k = ⟨θ_k, u_k⟩. If v changes little over the momentum's memory 1/(1 − β₁) and the
    preconditioned gradient has no mean radial part (⟨θ_k, g_k/√v⟩ averages to 0, as
    ⟨θ_k, g_k⟩ = 0 exactly), then on average c_k = β₁[(1 − ηλ)c_{k−1} − η‖u_{k−1}‖²]; at
    a steady state of this and of Q_{k+1} = (1 − ηλ)²Q_k − 2η(1 − ηλ)c_k + η²‖u_k‖², the
    window angle cos Δ̄ = Σ⟨θ_k, θ_{k+1}⟩/ΣQ_k = 1 − ηλ − ηc̄/Q̄ takes the value above,
    whatever ‖u‖.
    With β₁ = 0 it is the decay-only rotation arccos(1 − ηλ) ≈ √(2ηλ).

    Source: derived here (docs/theory/symmetry.md, §AdamW); rotational equilibrium of
    AdamW: Kosson, Messmer & Jaggi, 2023 (arXiv:2305.17212), whose random-walk analysis
    gives the same leading order [from memory, not re-read].

    Example:
        >>> round(float(adamw_angular_update(0.01, 0.5, 0.9)), 6)
        0.022969
    """
    if not 0.0 <= beta1 < 1.0:
        raise LmechError(f"β₁ must be in [0, 1), got {beta1}")
    x = np.asarray(lr, dtype=np.float64) * np.asarray(weight_decay, dtype=np.float64)
    if np.any(x < 0) or np.any(x > 1):
        raise LmechError(f"need 0 <= ηλ <= 1, got ηλ = {x}")
    return np.arccos(1.0 - x * (1.0 - beta1) / (1.0 + beta1 * (1.0 - x)))
