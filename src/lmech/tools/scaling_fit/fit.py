"""Fit L(N, D) = E + A/N^α + B/D^β (or a single-size form) the way Hoffmann et al. did.

Summed Huber (δ = 1e-3) on log loss, minimised by L-BFGS in θ = (a, α, b, β, e) with
A = eᵃ, B = eᵇ, E = eᵉ (`_objective`). The initialisation grid is Hoffmann's (4500 points
for two sizes); L-BFGS runs from every grid point (or, with `n_starts`, from the
`n_starts` grid points of lowest objective), all starts at once (`_lbfgs`), then
the best result is polished by scipy's L-BFGS-B with tight tolerances. The full grid (the
default) takes seconds to tens of seconds on a shared CPU; `n_starts=64` found the same
optimum on every data set we tried and is what the tests use. Intervals are
percentile intervals over bootstrap resamples of the rows, each refitted from the
estimate. A fit whose gradient is not zero at the end, or whose resamples mostly fail,
raises `FitNotConverged` instead of returning numbers.

Source: Hoffmann et al. 2022 (arXiv:2203.15556) §3.3, App. D.2; Besiroglu et al. 2024
(arXiv:2404.10102); compute-optimal allocation with C = 6ND: Hoffmann et al. 2022, eq. (4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from lmech.errors import LmechError
from lmech.tools.scaling_fit._lbfgs import minimize_batch
from lmech.tools.scaling_fit._objective import HUBER_DELTA, log_model, objective, start_grid
from lmech.tools.scaling_fit.runs import load_runs

__all__ = ["FitNotConverged", "ScalingFit", "check_arguments", "fit"]

_COEFFICIENTS = ("A", "B", "C", "F")
_EXPONENTS = ("alpha", "beta", "gamma", "zeta")
GRADIENT_TOLERANCE = 1e-6  # on the objective divided by δ, per data point


class FitNotConverged(LmechError):
    """The optimiser did not reach a minimum: no parameters are returned."""


def parameter_names(n_sizes: int) -> tuple[str, ...]:
    """Names of θ's entries after transformation: ("A", "alpha", "B", "beta", "E")."""
    names = [n for j in range(n_sizes) for n in (_COEFFICIENTS[j], _EXPONENTS[j])]
    return (*names, "E")


def check_arguments(
    x: Sequence[str], *, n_bootstrap: int, level: float, seed: int, n_starts: int | None,
    max_iter: int,
) -> tuple[str, ...]:
    """`x` as a tuple, once every argument of `fit` other than the data is known to be allowed.

    Raises:
        LmechError: naming the argument and its allowed values.
    """
    x = (x,) if isinstance(x, str) else tuple(x)
    if not 1 <= len(x) <= 2 or not all(isinstance(c, str) and c for c in x):
        raise LmechError(f"x must name one or two size columns, got {list(x)}")
    if not _is_real(level) or not 0 < level < 1:
        raise LmechError(f"level must be in (0, 1), got {level!r}")
    for name, value, low in (("n_bootstrap", n_bootstrap, 10), ("max_iter", max_iter, 1)):
        if not _is_int(value) or value < low:
            raise LmechError(f"{name} must be an integer >= {low}, got {value!r}")
    if n_starts is not None and (not _is_int(n_starts) or n_starts < 1):
        raise LmechError(f"n_starts must be an integer >= 1 (the number of grid points L-BFGS "
                         f"starts from) or None for the whole grid, got {n_starts!r}")
    if not _is_int(seed) or seed < 0:
        raise LmechError(f"seed must be an integer >= 0, got {seed!r}")
    return x


def _is_int(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool)


def _natural(theta: np.ndarray) -> np.ndarray:
    """θ = (a, α, …, e) -> (A, α, …, E): exponentiate the log-coefficients."""
    out = theta.copy()
    out[..., 0:-1:2] = np.exp(theta[..., 0:-1:2])
    out[..., -1] = np.exp(theta[..., -1])
    return out


@dataclass(frozen=True)
class ScalingFit:
    """A fitted scaling law.

    Attributes:
        x, y: the size columns and the loss column.
        params: ``{"E", "A", "alpha", ("B", "beta")}`` -> value.
        intervals: the same keys -> (low, high) percentile bootstrap interval at `level`.
        objective: the summed Huber objective at the optimum (report it: Besiroglu et al.).
        n_points: rows fitted; n_bootstrap: resamples that converged; level: interval level.
        bootstrap: ``(n_bootstrap, P)`` refitted parameters in the order of `params`.
    """

    x: tuple[str, ...]
    y: str
    params: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    objective: float
    n_points: int
    n_bootstrap: int
    level: float
    bootstrap: np.ndarray = field(repr=False)

    def predict(self, sizes: np.ndarray | pd.DataFrame) -> np.ndarray:
        """L at each row of sizes ``(n, J)`` (or a frame with the `x` columns)."""
        return np.exp(log_model(self._theta(self._vector())[None], _log_sizes(self, sizes))[0])

    def predict_interval(self, sizes: np.ndarray | pd.DataFrame) -> np.ndarray:
        """``(n, 2)`` percentile bootstrap interval of the predicted L at each row."""
        log_l = log_model(self._theta(self.bootstrap), _log_sizes(self, sizes))  # (B, n)
        q = [(1 - self.level) / 2, (1 + self.level) / 2]
        return np.exp(np.quantile(log_l, q, axis=0).T)

    def compute_optimal(self, compute: np.ndarray | float) -> dict[str, np.ndarray]:
        """N*(C), D*(C) for C = 6ND, with bootstrap intervals (two-size fits only).

        G = (αA/(βB))^{1/(α+β)}, N* = G (C/6)^{β/(α+β)}, D* = G⁻¹ (C/6)^{α/(α+β)}.
        Returns ``{"N": (n,), "D": (n,), "N_interval": (n, 2), "D_interval": (n, 2)}``.
        """
        if len(self.x) != 2:
            raise LmechError("compute-optimal allocation needs a fit in two sizes (N, D)")
        c = np.atleast_1d(np.asarray(compute, dtype=np.float64))
        if np.any(~(c > 0)):
            raise LmechError("compute must be > 0")
        n, d = _allocation(self._vector()[None], c)
        nb, db = _allocation(self.bootstrap, c)
        q = [(1 - self.level) / 2, (1 + self.level) / 2]
        return {"N": n[0], "D": d[0], "N_interval": np.quantile(nb, q, axis=0).T,
                "D_interval": np.quantile(db, q, axis=0).T}

    def _vector(self) -> np.ndarray:
        return np.array([self.params[k] for k in parameter_names(len(self.x))])

    @staticmethod
    def _theta(natural: np.ndarray) -> np.ndarray:
        out = np.array(natural, dtype=np.float64)
        out[..., 0:-1:2] = np.log(natural[..., 0:-1:2])
        out[..., -1] = np.log(natural[..., -1])
        return out


def _log_sizes(result: ScalingFit, sizes: np.ndarray | pd.DataFrame) -> np.ndarray:
    if isinstance(sizes, pd.DataFrame):
        sizes = sizes[list(result.x)].to_numpy(dtype=np.float64)
    sizes = np.asarray(sizes, dtype=np.float64).reshape(-1, len(result.x))
    if np.any(~(sizes > 0)):
        raise LmechError("sizes must be > 0")
    return np.log(sizes)


def _allocation(natural: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, alpha, b, beta = (natural[:, i, None] for i in range(4))
    g = (alpha * a / (beta * b)) ** (1 / (alpha + beta))
    return g * (c / 6) ** (beta / (alpha + beta)), (c / 6) ** (alpha / (alpha + beta)) / g


def _scaled(log_x, log_y, weights=None):
    def fun(theta, rows=None):
        w = weights if weights is None or rows is None else weights[rows]
        value, grad = objective(theta, log_x, log_y, w)
        return value / HUBER_DELTA, grad / HUBER_DELTA
    return fun


def _best_theta(log_x, log_y, n_starts, max_iter) -> tuple[np.ndarray, float]:
    grid = start_grid(log_x.shape[1])
    if n_starts is not None and n_starts < len(grid):
        screen, _ = objective(grid, log_x, log_y)
        grid = grid[np.argsort(screen, kind="stable")[:n_starts]]
    runs = minimize_batch(_scaled(log_x, log_y), grid, gtol=1e-9, max_iter=max_iter)
    best = runs.x[int(np.argmin(runs.fun))]
    polished = minimize(
        lambda t: tuple(v[0] for v in _scaled(log_x, log_y)(t[None])), best, jac=True,
        method="L-BFGS-B", options=dict(ftol=1e-15, gtol=1e-12, maxiter=max_iter, maxcor=20),
    )
    theta = polished.x if polished.fun <= runs.fun.min() else best
    value, grad = _scaled(log_x, log_y)(theta[None])
    if not np.all(np.isfinite(theta)) or np.max(np.abs(grad)) > GRADIENT_TOLERANCE * len(log_y):
        raise FitNotConverged(
            f"the fit did not converge: gradient {np.max(np.abs(grad)):.3g} after "
            f"{max_iter} iterations (objective {value[0] * HUBER_DELTA:.6g}); no parameters "
            "are reported. Check the data, or raise max_iter / n_starts."
        )
    return theta, float(value[0] * HUBER_DELTA)


def _bootstrap(log_x, log_y, theta, n_bootstrap, seed, max_iter) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = len(log_y)
    weights = rng.multinomial(n, np.full(n, 1 / n), size=n_bootstrap).astype(np.float64)
    runs = minimize_batch(_scaled(log_x, log_y, weights), np.tile(theta, (n_bootstrap, 1)),
                          gtol=1e-9, max_iter=max_iter)
    ok = runs.converged | (np.max(np.abs(runs.grad), axis=1) < GRADIENT_TOLERANCE * n)
    if ok.mean() < 0.8:
        raise FitNotConverged(
            f"only {int(ok.sum())} of {n_bootstrap} bootstrap refits converged; the intervals "
            "would be wrong, so none are reported"
        )
    return _natural(runs.x[ok])


def fit(
    data: pd.DataFrame | str | Path,
    x: Sequence[str] = ("N", "D"),
    y: str = "loss",
    *,
    n_bootstrap: int = 200,
    level: float = 0.95,
    seed: int = 0,
    n_starts: int | None = None,
    max_iter: int = 2000,
    **store_filter: str | None,
) -> ScalingFit:
    """Fit L = E + Σ_j A_j / x_j^{α_j} to the rows of `data` (Chinchilla Approach 3).

    Args:
        data: a DataFrame, or a path to a CSV, a Parquet file or an lmech store.
        x: one or two size columns (e.g. ``["N", "D"]`` or ``["N"]``); y: the loss column.
        n_bootstrap: bootstrap resamples for the intervals; level: their coverage.
        seed: seeds the resampling. n_starts: L-BFGS runs from this many best grid points
            (None: from all of them). store_filter: ``law``, ``panel``, ``curve`` when
            `data` is a store.

    Raises:
        LmechError: bad data (named column/row), too few points, bad arguments.
        FitNotConverged: the optimum was not reached; no numbers are returned.

    Example:
        >>> import numpy as np, pandas as pd
        >>> n = np.logspace(6, 9, 12)
        >>> runs = pd.DataFrame({"N": n, "loss": 1.7 + 400 / n**0.34})
        >>> r = fit(runs, x=["N"], n_bootstrap=50)
        >>> round(r.params["alpha"], 3), round(r.params["E"], 3)
        (0.34, 1.7)
    """
    x = check_arguments(x, n_bootstrap=n_bootstrap, level=level, seed=seed,
                        n_starts=n_starts, max_iter=max_iter)
    names = parameter_names(len(x))
    sizes, loss = load_runs(data, x, y, len(names), **store_filter)
    log_x, log_y = np.log(sizes), np.log(loss)
    theta, value = _best_theta(log_x, log_y, n_starts, max_iter)
    boot = _bootstrap(log_x, log_y, theta, n_bootstrap, seed, max_iter)
    lo, hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2], axis=0)
    est = _natural(theta)
    return ScalingFit(
        x=x, y=y, params=dict(zip(names, est.tolist(), strict=True)),
        intervals={k: (float(a), float(b)) for k, a, b in zip(names, lo, hi, strict=True)},
        objective=value, n_points=len(loss), n_bootstrap=len(boot), level=level,
        bootstrap=boot,
    )
