"""The additive scaling surface L = E + A/N^α + B/P^β, fitted as Hoffmann et al. fit it.

With A = eᵃ, B = eᵇ, E = eᵉ the model's log is a log-sum-exp,

    log L(N, P) = LSE(a − α log N, b − β log P, e),

and the fit minimises the *summed* Huber loss of the log residuals,

    Σ_i Huber_δ(LSE(a − α log N_i, b − β log P_i, e) − log L_i),     δ = 10⁻³,

by L-BFGS-B from the `STARTS` points of a grid of initialisations where the objective is
lowest, keeping the best and polishing it with tight tolerances (a summed objective and
tight tolerances, because a mean with default tolerances stops early: Besiroglu et al.
2024). This is the minimal core a law needs (the
foil of `scaling.random_features`); `lmech.tools.scaling_fit` adds intervals, tables and
extrapolation reports for practitioners.

Source: J. Hoffmann et al., "Training compute-optimal large language models"
(arXiv:2203.15556), §3.3 (Approach 3) and App. D.2; T. Besiroglu, E. Erdil, M. Barnett &
J. You, "Chinchilla scaling: a replication attempt" (arXiv:2404.10102).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import optimize
from threadpoolctl import threadpool_limits

from lmech.errors import LmechError

__all__ = ["AdditivePowerLaw", "fit_additive_power_law"]

HUBER_DELTA = 1e-3
STARTS = 8
_EXPONENTS = (0.25, 0.75, 1.5)
_LOG_COEFFICIENTS = (-2.0, 2.0)
_LOG_FLOORS = (-12.0, -6.0, -2.0)


@dataclass(frozen=True)
class AdditivePowerLaw:
    """L(N, P) = E + A/N^α + B/P^β, and the Huber objective at the fit.

    Example:
        >>> law = AdditivePowerLaw(E=0.1, A=2.0, alpha=0.5, B=1.0, beta=1.0, objective=0.0)
        >>> float(law(4.0, 2.0))
        1.6
    """

    E: float
    A: float
    alpha: float
    B: float
    beta: float
    objective: float

    def __call__(self, n, p) -> np.ndarray:
        n, p = np.asarray(n, dtype=np.float64), np.asarray(p, dtype=np.float64)
        return self.E + self.A * n**-self.alpha + self.B * p**-self.beta


def _objective(theta: np.ndarray, log_n: np.ndarray, log_p: np.ndarray, log_l: np.ndarray
               ) -> tuple[float, np.ndarray]:
    """Σ Huber_δ(residual) and its gradient in θ = (a, α, b, β, e)."""
    a, alpha, b, beta, e = theta
    terms = np.stack([a - alpha * log_n, b - beta * log_p, np.full_like(log_n, e)])  # (3, k)
    top = terms.max(0)
    weights = np.exp(terms - top)
    total = weights.sum(0)
    r = top + np.log(total) - log_l
    small = np.abs(r) <= HUBER_DELTA
    value = np.where(small, 0.5 * r**2, HUBER_DELTA * (np.abs(r) - 0.5 * HUBER_DELTA))
    slope = np.where(small, r, HUBER_DELTA * np.sign(r)) * weights / total  # (3, k)
    grad = np.array([slope[0].sum(), -(slope[0] * log_n).sum(), slope[1].sum(),
                     -(slope[1] * log_p).sum(), slope[2].sum()])
    return float(value.sum()), grad


def fit_additive_power_law(n, p, loss) -> AdditivePowerLaw:
    """Fit L = E + A/N^α + B/P^β to losses `loss` at sizes (`n`, `p`).

    Args:
        n, p, loss: ``(k,)`` positive numbers, k >= 5 (five parameters).

    Raises:
        LmechError: arrays of different lengths, fewer than 5 points, or a non-positive
            entry.

    Example:
        >>> n, p = (g.ravel() for g in np.meshgrid([8.0, 16, 32, 64], [8.0, 16, 32, 64]))
        >>> fit = fit_additive_power_law(n, p, 0.1 + 3 / n + p**-0.5)
        >>> round(fit.alpha, 3), round(fit.beta, 3), round(fit.E, 3)
        (1.0, 0.5, 0.1)
    """
    arrays = [np.asarray(v, dtype=np.float64).reshape(-1) for v in (n, p, loss)]
    if len({a.size for a in arrays}) != 1 or arrays[0].size < 5:
        raise LmechError(f"n, p and loss must have one common length >= 5, got "
                         f"{[a.size for a in arrays]}")
    if any(np.any(~np.isfinite(a)) or np.any(a <= 0) for a in arrays):
        raise LmechError("n, p and loss must be finite and > 0")
    log_n, log_p, log_l = (np.log(a) for a in arrays)
    with threadpool_limits(1):  # L-BFGS-B's tiny BLAS calls stall on a second thread
        return _fit(log_n, log_p, log_l)


def _fit(log_n: np.ndarray, log_p: np.ndarray, log_l: np.ndarray) -> AdditivePowerLaw:
    grid = np.array(list(itertools.product(_LOG_COEFFICIENTS, _EXPONENTS, _LOG_COEFFICIENTS,
                                           _EXPONENTS, _LOG_FLOORS)))
    values = np.array([_objective(theta, log_n, log_p, log_l)[0] for theta in grid])
    best = None
    for theta in grid[np.argsort(values, kind="stable")[:STARTS]]:
        res = optimize.minimize(_objective, theta, args=(log_n, log_p, log_l), jac=True,
                                method="L-BFGS-B")
        if best is None or res.fun < best.fun:
            best = res
    polished = optimize.minimize(_objective, best.x, args=(log_n, log_p, log_l), jac=True,
                                 method="L-BFGS-B", options={"ftol": 1e-15, "gtol": 1e-12,
                                                             "maxiter": 10_000})
    a, alpha, b, beta, e = polished.x if polished.fun <= best.fun else best.x
    return AdditivePowerLaw(E=float(np.exp(e)), A=float(np.exp(a)), alpha=float(alpha),
                            B=float(np.exp(b)), beta=float(beta),
                            objective=float(min(polished.fun, best.fun)))
