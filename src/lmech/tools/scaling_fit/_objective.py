"""The Chinchilla Approach-3 objective: summed Huber loss of log-loss residuals, with gradient.

For sizes x_j (j = 1..J) and losses L_i the model is

    L(x) = E + Σ_j A_j / x_j^{α_j},     log L(x) = LSE(a_1 − α_1 log x_1, …, e)

with A_j = e^{a_j}, E = e^e. The fitted quantity is θ = (a_1, α_1, …, a_J, α_J, e) and
the objective is Σ_i Huber_δ(LSE_i(θ) − log L_i) with δ = 1e-3, a *sum* (a mean makes
default optimiser tolerances stop early: Besiroglu et al. 2024).

Source: Hoffmann et al. 2022 (arXiv:2203.15556) §3.3 and App. D.2; Besiroglu et al. 2024
(arXiv:2404.10102).
"""

from __future__ import annotations

import itertools

import numpy as np

HUBER_DELTA = 1e-3

# Hoffmann et al.'s grid of initialisations (App. D.2).
EXPONENT_GRID = (0.0, 0.5, 1.0, 1.5, 2.0)
LOG_E_GRID = (-1.0, -0.5, 0.0, 0.5, 1.0)
LOG_A_GRID = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)


def huber(r: np.ndarray, delta: float = HUBER_DELTA) -> tuple[np.ndarray, np.ndarray]:
    """Huber_δ(r) and its derivative: r²/2 for |r| ≤ δ, δ(|r| − δ/2) beyond."""
    size = np.abs(r)
    small = size <= delta
    value = np.where(small, 0.5 * np.minimum(size, delta) ** 2, delta * (size - 0.5 * delta))
    slope = np.where(small, r, delta * np.sign(r))
    return value, slope


def log_terms(theta: np.ndarray, log_x: np.ndarray) -> np.ndarray:
    """The terms inside the log-sum-exp: a_j − α_j log x_j, then e.

    Args:
        theta: ``(S, 2J + 1)`` rows (a_1, α_1, …, a_J, α_J, e), one per start.
        log_x: ``(n, J)`` natural logs of the sizes.
    Returns:
        ``(S, n, J + 1)``.
    """
    j = log_x.shape[1]
    a, alpha = theta[:, 0 : 2 * j : 2], theta[:, 1 : 2 * j : 2]  # (S, J)
    power = a[:, None, :] - alpha[:, None, :] * log_x[None]  # (S, n, J)
    e = np.broadcast_to(theta[:, None, -1:], power.shape[:2] + (1,))
    return np.concatenate([power, e], axis=2)


def log_model(theta: np.ndarray, log_x: np.ndarray) -> np.ndarray:
    """log L(x) under each θ: ``(S, P)`` -> ``(S, n)``."""
    t = log_terms(theta, log_x)
    top = t.max(axis=2, keepdims=True)
    return (top + np.log(np.exp(t - top).sum(axis=2, keepdims=True)))[..., 0]


def objective(
    theta: np.ndarray, log_x: np.ndarray, log_y: np.ndarray, weights: np.ndarray | None = None,
    delta: float = HUBER_DELTA,
) -> tuple[np.ndarray, np.ndarray]:
    """Σ_i w_i Huber_δ(log L(x_i; θ) − log y_i) for each θ, and its analytic gradient.

    Args:
        theta: ``(S, 2J + 1)``; log_x: ``(n, J)``; log_y: ``(n,)``.
        weights: ``(n,)`` or ``(S, n)`` multiplicities (a bootstrap resample is a
            reweighting); default 1.
    Returns:
        values ``(S,)`` and gradients ``(S, 2J + 1)``.
    """
    t = log_terms(theta, log_x)
    top = t.max(axis=2, keepdims=True)
    ex = np.exp(t - top)
    total = ex.sum(axis=2, keepdims=True)
    r = (top + np.log(total))[..., 0] - log_y[None]  # (S, n)
    value, slope = huber(r, delta)
    w = np.ones_like(r) if weights is None else np.broadcast_to(weights, r.shape)
    g_terms = (w * slope)[..., None] * (ex / total)  # (S, n, J + 1)
    j = log_x.shape[1]
    grad = np.empty_like(theta)
    grad[:, 0 : 2 * j : 2] = g_terms[..., :j].sum(axis=1)
    grad[:, 1 : 2 * j : 2] = -np.einsum("snj,nj->sj", g_terms[..., :j], log_x)
    grad[:, -1] = g_terms[..., j].sum(axis=1)
    return (w * value).sum(axis=1), grad


def start_grid(n_sizes: int) -> np.ndarray:
    """Every initial θ of the Hoffmann grid: (6·5)^J · 5 rows (4500 for J = 2)."""
    per_size = list(itertools.product(LOG_A_GRID, EXPONENT_GRID))
    rows = [
        [v for pair in combo for v in pair] + [e]
        for combo in itertools.product(per_size, repeat=n_sizes)
        for e in LOG_E_GRID
    ]
    return np.asarray(rows, dtype=np.float64)
