"""Exact learning dynamics of a two-layer linear network (Saxe, McClelland & Ganguli).

Setting (docs/theory/deep_linear.md, §Setting and conventions): y = W2 W1 x, loss
(1/2P) Σ_p |y_p − W2 W1 x_p|², whitened inputs (Σ11 = I), input–output correlation
Σ31 = U diag(s) Vᵀ. From a decoupled, balanced start
W1 = R diag(a) Vᵀ, W2 = U diag(a) Rᵀ, gradient flow with learning rate η keeps every mode
decoupled, and the mode strength u = a² obeys

    τ du/dt = 2 u (s − u),      τ = 1/η (per-sample mean loss), t = η · step.

Deeper networks y = W_D ⋯ W_1 x (D weight matrices; Saxe et al.'s N_l = D + 1 layers):
from a decoupled balanced start every matrix carries mode α with one amplitude a,
u = a^D, and τ da/dt = a^{D−1}(s − a^D), so

    τ du/dt = D u^{2 − 2/D} (s − u)

(Saxe et al. 2014, §3; docs/theory/deep_linear.md, §Deeper networks): sharper sigmoids, a
plateau set by u0^{−(1 − 2/D)} instead of ln(1/u0).

Source: A. M. Saxe, J. L. McClelland, S. Ganguli, "Exact solutions to the nonlinear
dynamics of learning in deep linear neural networks", ICLR 2014, arXiv:1312.6120, eqs. 5–10.
"""

from __future__ import annotations

import numpy as np
from scipy import integrate

from lmech.errors import LmechError

__all__ = [
    "deep_discrete_learning_time",
    "deep_mode_learning_time",
    "saxe_discrete_mode_strength",
    "saxe_finite_step_logodds_bound",
    "saxe_learning_time",
    "saxe_mode_strength",
    "shallow_discrete_learning_time",
    "shallow_mode_strength",
]


def _check(s: np.ndarray, u0: np.ndarray, tau: float) -> None:
    if np.any(s <= 0):
        raise LmechError(f"singular values s must be > 0, got {s}")
    if np.any(u0 <= 0) or np.any(u0 >= s):
        raise LmechError(f"initial strength u0 must satisfy 0 < u0 < s, got u0={u0}, s={s}")
    if tau <= 0:
        raise LmechError(f"time constant tau must be > 0, got {tau}")


def saxe_mode_strength(t, s, u0, tau: float = 1.0) -> np.ndarray:
    """Strength u(t) of a mode with singular value s learned by a two-layer linear network.

        u(t) = s e^{2st/τ} / (e^{2st/τ} − 1 + s/u0)

    Source: Saxe et al. 2014, eq. 10 (the sigmoidal solution of τ u̇ = 2u(s − u)).

    Args:
        t: times (any shape); broadcast against `s` and `u0`.
        s: singular value(s) of the input–output correlation, > 0.
        u0: initial strength(s), 0 < u0 < s.
        tau: time constant τ = 1/η.

    Example:
        >>> float(saxe_mode_strength(0.0, 2.0, 1e-3))
        0.001
    """
    t, s, u0 = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (t, s, u0)))
    _check(s, u0, tau)
    # s / (1 + (s/u0 − 1) e^{−2st/τ}) is the same expression without overflow.
    return s / (1.0 + (s / u0 - 1.0) * np.exp(-2.0 * s * t / tau))


def saxe_learning_time(s, u0, uf=None, tau: float = 1.0) -> np.ndarray:
    """Time for a mode to grow from u0 to uf (default s/2, the half-learning time).

        t(u0 → uf) = (τ / 2s) ln[ uf (s − u0) / (u0 (s − uf)) ]

    Source: Saxe et al. 2014, eq. 9. Note (docs/theory/deep_linear.md, §Pitfalls): the
    often quoted (τ/s) ln(s/u0) is twice this value.

    Example:
        >>> round(float(saxe_learning_time(3.0, 1e-4)), 4)
        1.7182
    """
    s = np.asarray(s, dtype=np.float64)
    u0 = np.asarray(u0, dtype=np.float64)
    uf = s / 2 if uf is None else np.asarray(uf, dtype=np.float64)
    s, u0, uf = np.broadcast_arrays(s, u0, uf)
    _check(s, u0, tau)
    if np.any(uf <= u0) or np.any(uf >= s):
        raise LmechError(f"final strength uf must satisfy u0 < uf < s, got uf={uf}")
    return tau / (2.0 * s) * np.log(uf * (s - u0) / (u0 * (s - uf)))


def shallow_mode_strength(t, s, u0, tau: float = 1.0) -> np.ndarray:
    """Strength of a mode learned by a one-layer linear network y = W x (no hidden layer).

        τ du/dt = s − u   ⇒   u(t) = s + (u0 − s) e^{−t/τ}

    Every mode relaxes on the same exponential time course τ, whatever its s: the answer
    depth changes. lmech uses it as the foil of ``dln.saxe_modes``.

    Example:
        >>> round(float(shallow_mode_strength(0.0, 2.0, 1e-3)), 12)
        0.001
    """
    t, s, u0 = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (t, s, u0)))
    _check(s, u0, tau)
    return s + (u0 - s) * np.exp(-t / tau)


def saxe_discrete_mode_strength(steps: int, s, u0, learning_rate: float) -> np.ndarray:
    """Mode strength after each of ``steps`` full-batch gradient-descent steps (exact).

    For a decoupled balanced mode the weights stay a·(rank-one aligned), and one step of
    gradient descent with learning rate η maps a ← a + η a (s − a²), so

        u_{k+1} = u_k (1 + η (s − u_k))².

    Its gap to :func:`saxe_mode_strength` at t = ηk is the finite-learning-rate
    correction that the gradient-flow solution neglects (first order: the log-odds
    ln(u/(s−u)) gains η² s (3u − s) per step instead of 2ηs).

    Returns:
        Shape ``(steps + 1, *broadcast(s, u0).shape)``: u_0 … u_steps.

    Example:
        >>> saxe_discrete_mode_strength(1, 1.0, 0.25, 0.5)[1].item()
        0.47265625
    """
    s, u0 = np.broadcast_arrays(np.asarray(s, dtype=np.float64), np.asarray(u0, np.float64))
    _check(s, u0, 1.0)
    if learning_rate <= 0:
        raise LmechError(f"learning_rate must be > 0, got {learning_rate}")
    out = np.empty((steps + 1, *s.shape))
    a = np.sqrt(u0)
    out[0] = u0
    for k in range(1, steps + 1):
        a = a + learning_rate * a * (s - a * a)
        out[k] = a * a
    return out


def saxe_finite_step_logodds_bound(t, s, u0, learning_rate: float) -> np.ndarray:
    """First-order bound on how far gradient descent at step η lags or leads the flow.

    One step of the exact map u ← u(1 + η(s − u))² moves the log-odds ℓ = ln(u/(s − u)) by
    2ηs + η² s (3u − s) + O(η³), while the flow moves it by 2ηs. So at t = η·step

        |ℓ_GD − ℓ_flow| ≤ B(t) = η s ∫₀ᵗ |3u(t') − s| dt'  (+ O(η²)),

    with u the flow solution; the integral is closed form, using
    ∫₀ᵗ u = ½ ln((e^{2st} − 1 + s/u0) / (s/u0)). The strength itself is then off by at most
    u(s − u)/s · B(t), and the time to reach any level by B/(2s). (Derived here from
    Saxe et al. 2014, eq. 5, discretised; docs/theory/deep_linear.md, §Reference values,
    checks the flow solution.)

    Example:
        >>> float(saxe_finite_step_logodds_bound(0.0, 2.0, 1e-3, 0.01))
        0.0
    """
    t, s, u0 = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (t, s, u0)))
    _check(s, u0, 1.0)
    if learning_rate <= 0:
        raise LmechError(f"learning_rate must be > 0, got {learning_rate}")
    c = s / u0

    def deficit(time):  # G(t) = ∫₀ᵗ (s − 3u) dt'
        integral_u = 0.5 * (np.logaddexp(2 * s * time, np.log(c - 1)) - np.log(c))
        return s * time - 3 * integral_u

    # u crosses s/3 at t_third (never, if it starts above s/3).
    third = np.where(u0 < s / 3, np.log(np.maximum((c - 1) / 2, 1.0)) / (2 * s), 0.0)
    g_third = deficit(third)
    integral = np.where(t <= third, deficit(t), 2 * g_third - deficit(t))
    return learning_rate * s * integral


def _check_depth(depth: int) -> int:
    if isinstance(depth, bool) or int(depth) != depth or depth < 1:
        raise LmechError(f"depth (weight matrices) must be an integer >= 1, got {depth!r}")
    return int(depth)


def _check_levels(s, u_from, u_to):
    s, u_from, u_to = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64)
                                            for v in (s, u_from, u_to)))
    _check(s, u_from, 1.0)
    if np.any(u_to <= u_from) or np.any(u_to >= s):
        raise LmechError(f"need u_from < u_to < s, got u_from={u_from}, u_to={u_to}, s={s}")
    return s, u_from, u_to


def deep_mode_learning_time(s, u_from, u_to, depth: int, tau: float = 1.0) -> np.ndarray:
    """Gradient-flow time for a decoupled mode of a depth-D linear network to grow from
    u_from to u_to.

        t = (τ/D) ∫_{u_from}^{u_to} du / (u^{2 − 2/D} (s − u))

    the inverse of τ du/dt = D u^{2−2/D}(s − u) (Saxe et al. 2014, §3). D = 1 is the
    one-layer exponential, D = 2 `saxe_learning_time`; otherwise by adaptive quadrature in
    ln u (a smooth integrand).

    Args:
        s, u_from, u_to: broadcastable, 0 < u_from < u_to < s.
        depth: D, the number of weight matrices.

    Example:
        >>> round(float(deep_mode_learning_time(2.0, 0.2, 1.0, 2)), 6)  # = ln(9)/4
        0.549306
    """
    d = _check_depth(depth)
    s, u_from, u_to = _check_levels(s, u_from, u_to)
    if tau <= 0:
        raise LmechError(f"time constant tau must be > 0, got {tau}")
    if d == 2:
        return saxe_learning_time(s, u_from, u_to, tau)

    def one(sv: float, a: float, b: float) -> float:
        value, _ = integrate.quad(lambda v: np.exp(v * (2 / d - 1)) / (sv - np.exp(v)),
                                  np.log(a), np.log(b), epsabs=0.0, epsrel=1e-12, limit=200)
        return value

    out = np.vectorize(one, otypes=[np.float64])(s, u_from, u_to)
    return tau / d * out


def deep_discrete_learning_time(s, u_from, u_to, depth: int, learning_rate: float,
                                max_steps: int = 10_000_000) -> np.ndarray:
    """Time t = η·(steps) for a decoupled mode to grow from u_from to u_to under gradient
    descent, the exact discrete map of the depth-D mode dynamics.

    Each of the D matrices carries the mode with amplitude a (u = a^D), and one step of
    gradient descent on the loss of docs/theory/deep_linear.md maps
    a ← a + η a^{D−1}(s − a^D) (D = 2: `saxe_discrete_mode_strength`). Starting at
    u_from at step 0, the crossing of u_to is placed between steps by linear interpolation
    of the log-odds ln(u/(s − u)) (exact under the D = 2 flow). As η → 0 the result tends
    to `deep_mode_learning_time`.

    Example:
        >>> t = deep_discrete_learning_time(2.0, 0.2, 1.0, 3, 1e-4)
        >>> bool(abs(t - deep_mode_learning_time(2.0, 0.2, 1.0, 3)) < 1e-3)
        True
    """
    d = _check_depth(depth)
    s, u_from, u_to = _check_levels(s, u_from, u_to)
    if learning_rate <= 0:
        raise LmechError(f"learning_rate must be > 0, got {learning_rate}")
    a = u_from ** (1 / d)
    u = u_from.copy()
    steps = np.zeros(s.shape)
    before, after = u_from.copy(), u_from.copy()
    done = np.zeros(s.shape, dtype=bool)
    for k in range(1, int(max_steps) + 1):
        a = a + learning_rate * a ** (d - 1) * (s - a**d)
        prev, u = u, a**d
        crossed = ~done & (u >= u_to)
        steps[crossed], before[crossed], after[crossed] = k, prev[crossed], u[crossed]
        done |= crossed
        if done.all():
            break
    if not done.all():
        raise LmechError(f"a mode did not reach u_to within {max_steps} steps")
    lo, hi, target = (np.log(v / (s - v)) for v in (before, after, u_to))
    frac = (target - lo) / (hi - lo)
    return learning_rate * (steps - 1 + frac)


def shallow_discrete_learning_time(s, u_from, u_to, learning_rate: float) -> np.ndarray:
    """Time for a one-layer network (y = W x) to move a mode from u_from to u_to by gradient
    descent: u ← u + η(s − u), so s − u shrinks by (1 − η) per step and

        t = η ln[(s − u_to)/(s − u_from)] / ln(1 − η)   (→ ln[(s − u_from)/(s − u_to)], η → 0)

    the same for every s that u_to/s and u_from/s share: the foil of ``dln.saxe_modes``.

    Example:
        >>> round(float(shallow_discrete_learning_time(1.0, 0.1, 0.5, 1e-6)), 5)  # ln 1.8
        0.58779
    """
    s, u_from, u_to = _check_levels(s, u_from, u_to)
    if not 0 < learning_rate < 1:
        raise LmechError(f"learning_rate must be in (0, 1), got {learning_rate}")
    return learning_rate * np.log((s - u_to) / (s - u_from)) / np.log1p(-learning_rate)
