"""Estimates over independent units: every measured number with its error and unit count.

A *unit* is what is independent in an experiment: a network of an ensemble, a seed, a
data draw. Each function returns an `Estimate`: the value, its standard error, and the
number of units behind that error, which the verdict turns into Student-t degrees of
freedom (``units − 1``). Laws compute every standard error through this module.

- `mean_estimate`: the mean over units and its standard error s/√u.
- `jackknife`: any smooth statistic of per-unit values, delete-one (or grouped) jackknife
  error (Efron & Stein 1981; Quenouille 1956).
- `bootstrap`: a percentile-free bootstrap standard error over units (Efron 1979).
- `ratio_estimate`: a ratio of two means by the delta method.
- `excess_kurtosis_estimate`: E z⁴/(E z²)² − 3 from per-unit moments, by the delta method.
- `quotient_estimate`: the ratio of two independent estimates, by the delta method.
- `slope_estimate`: a least-squares slope fitted per unit, averaged over units.
- `record_steps`: the steps at which a trajectory is recorded (linear or log-spaced).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from lmech.errors import LmechError

__all__ = [
    "Estimate",
    "bootstrap",
    "excess_kurtosis_estimate",
    "jackknife",
    "mean_estimate",
    "quotient_estimate",
    "ratio_estimate",
    "record_steps",
    "slope_estimate",
    "slope_weights",
]


@dataclass(frozen=True)
class Estimate:
    """A value with its standard error and the independent units behind that error.

    Attributes:
        value: the estimate, a float or an array (one per point).
        stderr: its standard error, same shape.
        units: the number of independent units the error was estimated from.
    """

    value: np.ndarray
    stderr: np.ndarray
    units: int


def _per_unit(values, name: str = "values") -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim == 0 or a.shape[0] < 2:
        raise LmechError(f"{name} needs >= 2 independent units on its first axis, "
                         f"got shape {a.shape}")
    return a


def mean_estimate(per_unit: np.ndarray | Sequence[float]) -> Estimate:
    """Mean over the first axis (the units) and its standard error s/√u.

    Example:
        >>> e = mean_estimate([1.0, 2.0, 3.0, 4.0])
        >>> float(e.value), round(float(e.stderr), 4), e.units
        (2.5, 0.6455, 4)
    """
    a = _per_unit(per_unit)
    u = a.shape[0]
    return Estimate(a.mean(0), a.std(0, ddof=1) / np.sqrt(u), u)


def jackknife(statistic: Callable[..., np.ndarray | float], *per_unit: np.ndarray,
              groups: int | None = None) -> Estimate:
    """A statistic of unit means, with its (grouped) delete-one jackknife standard error.

    `statistic` maps the means over units of each array in `per_unit` (arrays of equal
    first length u) to a value. With `groups`, units are split into that many contiguous
    groups, each left out in turn; the estimate then rests on `groups` units.

        se² = (g − 1)/g · Σ_k (θ_(k) − θ̄_(·))²

    Source: Efron & Stein, Ann. Statist. 9 (1981), eq. 1.4 (the jackknife variance).
    """
    arrays = [_per_unit(a, "each per-unit array") for a in per_unit]
    u = arrays[0].shape[0]
    if any(a.shape[0] != u for a in arrays):
        raise LmechError("jackknife: every per-unit array must have the same number of units")
    g = u if groups is None else int(groups)
    if not 2 <= g <= u:
        raise LmechError(f"jackknife: groups must be in 2..{u}, got {groups}")
    full = np.asarray(statistic(*[a.mean(0) for a in arrays]), dtype=np.float64)
    bounds = np.linspace(0, u, g + 1).astype(int)
    sums = [a.sum(0) for a in arrays]
    leave_out = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        rest = u - (hi - lo)
        means = [(s - a[lo:hi].sum(0)) / rest for s, a in zip(sums, arrays, strict=True)]
        leave_out.append(np.asarray(statistic(*means), dtype=np.float64))
    loo = np.stack(leave_out)
    var = (g - 1) / g * ((loo - loo.mean(0)) ** 2).sum(0)
    return Estimate(full, np.sqrt(var), g)


def bootstrap(statistic: Callable[..., np.ndarray | float], *per_unit: np.ndarray,
              resamples: int = 1000, generator: np.random.Generator) -> Estimate:
    """A statistic of unit means, with the bootstrap standard error over units.

    Units are resampled with replacement `resamples` times; the error is the standard
    deviation of the statistic across resamples (Efron, Ann. Statist. 7 (1979)).
    """
    arrays = [_per_unit(a, "each per-unit array") for a in per_unit]
    u = arrays[0].shape[0]
    if any(a.shape[0] != u for a in arrays):
        raise LmechError("bootstrap: every per-unit array must have the same number of units")
    if not isinstance(generator, np.random.Generator):
        raise LmechError("bootstrap: generator must be a numpy.random.Generator")
    full = np.asarray(statistic(*[a.mean(0) for a in arrays]), dtype=np.float64)
    draws = []
    for _ in range(int(resamples)):
        idx = generator.integers(0, u, u)
        draws.append(np.asarray(statistic(*[a[idx].mean(0) for a in arrays])))
    return Estimate(full, np.std(np.stack(draws), axis=0, ddof=1), u)


def ratio_estimate(numerator: np.ndarray, denominator: np.ndarray) -> Estimate:
    """E[a]/E[b] over units, with the delta-method standard error.

    Var(ā/b̄) ≈ (1/u)·g Σ gᵀ with g = (1/b̄, −ā/b̄²) and Σ the covariance of (a, b).
    """
    a, b = _per_unit(numerator), _per_unit(denominator)
    u = a.shape[0]
    ma, mb = a.mean(0), b.mean(0)
    va, vb = a.var(0, ddof=1), b.var(0, ddof=1)
    cab = ((a - ma) * (b - mb)).sum(0) / (u - 1)
    var = (va / mb**2 - 2 * ma * cab / mb**3 + ma**2 * vb / mb**4) / u
    return Estimate(ma / mb, np.sqrt(np.maximum(var, 0.0)), u)


def excess_kurtosis_estimate(fourth: np.ndarray, second: np.ndarray) -> Estimate:
    """κ = E[a]/E[b]² − 3 over units (a = z⁴, b = z² averaged within each unit), with the
    delta-method standard error.

    Var(κ̂) ≈ (1/u)·g Σ gᵀ with g = (1/b̄², −2ā/b̄³) and Σ the covariance of (a, b).
    The unit is whatever is independent (a network, whose neurons share its random kernel,
    so a per-network neuron average is one unit). The estimator is biased at O(1/u).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> z = rng.standard_normal((4000, 50))  # 4000 units of 50 Gaussian samples
        >>> e = excess_kurtosis_estimate((z**4).mean(1), (z**2).mean(1))
        >>> abs(float(e.value)) < 4 * float(e.stderr), e.units
        (True, 4000)
    """
    a, b = _per_unit(fourth, "fourth"), _per_unit(second, "second")
    if a.shape != b.shape:
        raise LmechError(f"excess_kurtosis_estimate: fourth and second must have the same "
                         f"shape, got {a.shape} and {b.shape}")
    u = a.shape[0]
    ma, mb = a.mean(0), b.mean(0)
    va, vb = a.var(0, ddof=1), b.var(0, ddof=1)
    cab = ((a - ma) * (b - mb)).sum(0) / (u - 1)
    ga, gb = 1 / mb**2, -2 * ma / mb**3
    var = (ga**2 * va + 2 * ga * gb * cab + gb**2 * vb) / u
    return Estimate(ma / mb**2 - 3, np.sqrt(np.maximum(var, 0.0)), u)


def quotient_estimate(numerator: Estimate, denominator: Estimate) -> Estimate:
    """a/b of two *independent* estimates (different units), by the delta method:

        se(a/b) = |a/b| · √((se_a/a)² + (se_b/b)²),

    resting on the fewer of the two unit counts. (For a ratio of means over the same units
    use `ratio_estimate`, which keeps their covariance.)

    Example:
        >>> q = quotient_estimate(Estimate(6.0, 0.3, 10), Estimate(3.0, 0.2, 8))
        >>> float(q.value), round(float(q.stderr), 4), q.units
        (2.0, 0.1667, 8)
    """
    a, b = np.asarray(numerator.value, float), np.asarray(denominator.value, float)
    if np.any(b == 0):
        raise LmechError("quotient_estimate: the denominator estimate is zero")
    value = a / b
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.hypot(np.where(a != 0, numerator.stderr / np.abs(a), 0.0),
                       denominator.stderr / np.abs(b))
    se = np.where(a != 0, np.abs(value) * rel, np.asarray(numerator.stderr) / np.abs(b))
    return Estimate(value, se, min(numerator.units, denominator.units))


def slope_weights(x: np.ndarray) -> np.ndarray:
    """c_i with slope = Σ c_i y_i for the least-squares line through (x_i, y_i)."""
    x = np.asarray(x, dtype=np.float64)
    d = x - x.mean()
    return d / (d @ d)


def slope_estimate(x: np.ndarray, y_per_unit: np.ndarray) -> Estimate:
    """The least-squares slope of y against x, fitted per unit and averaged over units.

    Args:
        x: ``(k,)`` abscissae (e.g. log n).
        y_per_unit: ``(u, k)`` ordinates of each unit.
    """
    y = _per_unit(y_per_unit)
    slopes = y @ slope_weights(x)  # (u,)
    return mean_estimate(slopes)


def record_steps(total: int, points: int, *, log: bool = False, first: int = 0) -> np.ndarray:
    """Distinct integer steps in [first, total] at which to record: `points` of them,
    equally spaced (or log-spaced from max(first, 1)), always including both ends."""
    if points < 2 or total < first:
        raise LmechError(f"record_steps needs points >= 2 and total >= first, got "
                         f"points={points}, total={total}, first={first}")
    if log:
        grid = np.geomspace(max(first, 1), total, points)
    else:
        grid = np.linspace(first, total, points)
    return np.unique(np.round(grid).astype(np.int64))
