"""The multiplicative model of emergence: a composition of n skills appears abruptly.

Each of n atomic skills is acquired independently with probability p per step, so it is
known by step t with probability 1 − (1 − p)^t; a task that needs all n succeeds with

    P(t) = (1 − (1 − p)^t)^n.

The step at which P reaches P* is t*(n) = ln(1 − P*^{1/n}) / ln(1 − p), which grows like
[ln n − ln ln(1/P*)]/(−ln(1 − p)) while the 10–90 % window stays ≈ 3.08/p: the larger
n, the later and relatively sharper the rise.

Source: Okawa, Lubana, Dick & Tanaka, "Compositional abilities emerge multiplicatively",
NeurIPS 2023 (arXiv:2310.09336) §4; docs/theory/emergence.md, §Geometric acquisition
(the closed form is our statement of the multiplicative argument, not checked against
the paper's text).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from lmech.errors import LmechError

__all__ = [
    "MultiplicativeFit",
    "critical_time",
    "emergence_window",
    "fit_multiplicative",
    "multiplicative_success",
]


def _check_p(p) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if np.any(~((p > 0) & (p < 1))):
        raise LmechError(f"p must be in (0, 1), got {p}")
    return p


def multiplicative_success(t, p, n) -> np.ndarray:
    """P(t) = (1 − (1 − p)^t)^n: all n skills, each learned w.p. p per step, known at t.

    Example:
        >>> round(float(multiplicative_success(100, 0.01, 1)), 6)  # 1 − 0.99^100
        0.633968
    """
    p = _check_p(p)
    t = np.asarray(t, dtype=np.float64)
    one = -np.expm1(t * np.log1p(-p))  # 1 − (1 − p)^t without cancellation
    return np.clip(one, 0.0, 1.0) ** np.asarray(n, dtype=np.float64)


def critical_time(p, n, threshold: float = 0.5) -> np.ndarray:
    """t*(n) = ln(1 − P*^{1/n}) / ln(1 − p): the step at which P(t) reaches P*.

    Example:
        >>> round(float(critical_time(0.01, 10)), 2)
        269.0
    """
    if not 0 < threshold < 1:
        raise LmechError(f"threshold must be in (0, 1), got {threshold}")
    p = _check_p(p)
    n = np.asarray(n, dtype=np.float64)
    return np.log(-np.expm1(np.log(threshold) / n)) / np.log1p(-p)


def emergence_window(p, n, low: float = 0.1, high: float = 0.9) -> np.ndarray:
    """t*(high) − t*(low): how long P(t) takes to rise from `low` to `high`."""
    return critical_time(p, n, high) - critical_time(p, n, low)


@dataclass(frozen=True)
class MultiplicativeFit:
    """Maximum-likelihood (p, n) with Wald intervals on log p and log n.

    Attributes:
        p, n: estimates; p_interval, n_interval: (low, high) at `level`;
        nll: negative log-likelihood at the optimum; level: interval coverage.
    """

    p: float
    n: float
    p_interval: tuple[float, float]
    n_interval: tuple[float, float]
    nll: float
    level: float


def _nll(theta, t, successes, trials):
    prob = multiplicative_success(t, 1 / (1 + np.exp(-theta[0])), np.exp(theta[1]))
    prob = np.clip(prob, 1e-12, 1 - 1e-12)
    return -float(np.sum(successes * np.log(prob) + (trials - successes) * np.log1p(-prob)))


def _hessian(f, x, h=1e-4) -> np.ndarray:
    k = len(x)
    out = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            ei, ej = np.eye(k)[i] * h, np.eye(k)[j] * h
            out[i, j] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (
                4 * h * h)
    return out


def fit_multiplicative(t, successes, trials, level: float = 0.95) -> MultiplicativeFit:
    """Fit P(t) = (1 − (1 − p)^t)^n to binomial counts by maximum likelihood.

    Args:
        t: ``(k,)`` steps; successes: ``(k,)`` correct answers out of ``trials`` (scalar
            or ``(k,)``) at each step.
        level: coverage of the Wald intervals (on logit p and log n, mapped back).

    Raises:
        LmechError: shapes differ, counts out of range, or fewer than 3 steps.
    """
    t = np.asarray(t, dtype=np.float64)
    s = np.asarray(successes, dtype=np.float64)
    m = np.broadcast_to(np.asarray(trials, dtype=np.float64), s.shape)
    if t.shape != s.shape or t.ndim != 1 or t.size < 3:
        raise LmechError(f"t and successes must be 1-D of the same length >= 3, got "
                         f"{t.shape} and {s.shape}")
    if np.any(s < 0) or np.any(s > m) or np.any(t < 0):
        raise LmechError("need 0 <= successes <= trials and t >= 0")
    f = lambda th: _nll(th, t, s, m)  # noqa: E731
    starts = [(lp, ln) for lp in np.log(1 / np.geomspace(3, 3 * t.max(), 8))
              for ln in np.log([0.5, 1, 2, 4, 8])]
    best = min(starts, key=lambda th: f(np.array(th)))
    res = optimize.minimize(f, np.array(best), method="Nelder-Mead",
                            options=dict(xatol=1e-9, fatol=1e-10, maxiter=20_000))
    cov = np.linalg.pinv(_hessian(f, res.x))
    z = stats.norm.isf((1 - level) / 2)
    se = np.sqrt(np.maximum(np.diag(cov), 0))
    lo, hi = res.x - z * se, res.x + z * se
    sig = lambda u: 1 / (1 + np.exp(-u))  # noqa: E731
    return MultiplicativeFit(
        p=float(sig(res.x[0])), n=float(np.exp(res.x[1])),
        p_interval=(float(sig(lo[0])), float(sig(hi[0]))),
        n_interval=(float(np.exp(lo[1])), float(np.exp(hi[1]))), nll=float(res.fun),
        level=level,
    )
