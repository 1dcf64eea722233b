"""Toy models of superposition: exact expected losses of the competing solutions.

Setting (docs/theory/superposition.md): features x_i = 0 with probability S (the sparsity),
else uniform on [0, 1], independently; the model x' = ReLU(WᵀW x + b) with W ∈ ℝ^{m×n};
the loss L = E Σ_i I_i (x_i − x'_i)² with importances I_i. For n = 2 features in m = 1
dimension with importances (1, r), W = (w₁, w₂) and b = (b₁, b₂), the expected loss is
an exact sum over which features are active (probabilities S², S(1 − S), (1 − S)²) of
integrals of piecewise-quadratic functions over the unit interval or square; the
one-dimensional ones are closed forms and the two-dimensional ones Gauss–Legendre rules
on the pieces between the ReLU's kinks (exact for these polynomials).

The competing solutions (Elhage et al. 2022, §"The phase change"):

- feature 2 ignored: W = (1, 0), b = (0, E x₂), loss r Var x₂ = r[(1 − S)/3 − (1 − S)²/4];
- antipodal superposition: w₁w₂ < 0, both features in the one dimension, the ReLU and the
  biases filtering the negative interference; its loss is the local minimum reached from
  W = (1, −1), b = 0.

Superposition wins above the critical sparsity S_c(r), where the two losses are equal.
For n features in m dimensions, `pair_allocation` puts each of the m dimensions to one
feature or to one antipodal pair (orthogonal dimensions do not interfere, so the loss is
a sum of n = 2 problems) and returns the best allocation's dimensions per feature
D* = m/‖W‖_F².

Source: N. Elhage et al., "Toy models of superposition", Transformer Circuits Thread
(2022), §§"Demonstrating superposition", "The phase change", "The geometry of
superposition".
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np
from scipy import optimize
from threadpoolctl import threadpool_limits

from lmech.errors import LmechError

__all__ = [
    "AntipodalSolution",
    "PairAllocation",
    "antipodal_solution",
    "critical_sparsity",
    "ignored_feature_loss",
    "pair_allocation",
    "toy_model_loss",
]

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(8)
COLLAPSED = 0.2
"""|w₂| below this fraction of |w₁| is the ignored-feature solution, not a pair."""


def _active_interval(slope, shift):
    """[lo, hi] ⊂ [0, 1] where slope·u + shift > 0, and whether it is non-empty."""
    slope, shift = np.broadcast_arrays(np.asarray(slope, float), np.asarray(shift, float))
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.where(slope != 0, -shift / slope, 0.0)
    lo = np.where(slope > 0, np.clip(root, 0, 1), 0.0)
    hi = np.where(slope < 0, np.clip(root, 0, 1), 1.0)
    empty = (slope == 0) & (shift <= 0)
    return lo, hi, (hi > lo) & ~empty


def _relu_square(slope, shift):
    """∫₀¹ ReLU(slope·u + shift)² du."""
    lo, hi, on = _active_interval(slope, shift)
    top, bottom = slope * hi + shift, slope * lo + shift
    # ∫ g² = (hi − lo)(g(hi)² + g(hi)g(lo) + g(lo)²)/3 for linear g, without dividing by slope
    return np.where(on, (hi - lo) * (top**2 + top * bottom + bottom**2) / 3, 0.0)


def _reconstruction_error(slope, shift):
    """∫₀¹ (u − ReLU(slope·u + shift))² du."""
    lo, hi, on = _active_interval(slope, shift)
    cross = np.where(on, slope * (hi**3 - lo**3) / 3 + shift * (hi**2 - lo**2) / 2, 0.0)
    return 1 / 3 - 2 * cross + _relu_square(slope, shift)


def _over_square(one_dim, a, c, b):
    """∫₀¹ one_dim(a, b + c v) dv, Gauss–Legendre on the pieces between the kinks at
    b + cv = 0 and a + b + cv = 0 (where the one-dimensional integral changes form)."""
    a, c, b = np.broadcast_arrays(*(np.asarray(t, float) for t in (a, c, b)))
    with np.errstate(divide="ignore", invalid="ignore"):
        k1 = np.where(c != 0, -b / c, 0.0)
        k2 = np.where(c != 0, -(a + b) / c, 0.0)
    cuts = [np.zeros_like(a), np.clip(np.minimum(k1, k2), 0, 1),
            np.clip(np.maximum(k1, k2), 0, 1), np.ones_like(a)]
    total = np.zeros_like(a)
    for lo, hi in itertools.pairwise(cuts):
        half, mid = (hi - lo) / 2, (hi + lo) / 2
        v = mid[..., None] + half[..., None] * _GL_NODES  # (..., nodes)
        values = one_dim(a[..., None], b[..., None] + c[..., None] * v)
        total = total + half * (values * _GL_WEIGHTS).sum(-1)
    return total


def _feature_loss(own, other, bias, sparsity):
    """E (x_i − ReLU(w_i² x_i + w_i w_j x_j + b_i))² for one of the two features."""
    a, c = own * own, own * other
    s, d = sparsity, 1 - sparsity
    return (s * s * np.maximum(bias, 0.0) ** 2
            + s * d * (_reconstruction_error(a, bias) + _relu_square(c, bias))
            + d * d * _over_square(_reconstruction_error, a, c, bias))


def toy_model_loss(w, b, sparsity: float, importance: float) -> np.ndarray:
    """Exact expected loss of the n = 2, m = 1 toy model, E[(x₁ − x'₁)² + r(x₂ − x'₂)²].

    Args:
        w: ``(..., 2)`` the columns (w₁, w₂) of W.
        b: ``(..., 2)`` the biases.
        sparsity: S in [0, 1); importance: r > 0, the second feature's.

    Example:
        >>> float(toy_model_loss([1.0, 0.0], [0.0, 0.25], 0.5, 1.0))  # feature 2 ignored
        0.10416666666666666
    """
    w, b = np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if w.shape[-1:] != (2,) or b.shape[-1:] != (2,):
        raise LmechError(f"w and b must end in an axis of 2, got {w.shape} and {b.shape}")
    _check(sparsity, importance)
    w1, w2, b1, b2 = w[..., 0], w[..., 1], b[..., 0], b[..., 1]
    return (_feature_loss(w1, w2, b1, sparsity)
            + importance * _feature_loss(w2, w1, b2, sparsity))


def ignored_feature_loss(sparsity, importance):
    """Loss of W = (1, 0), b = (0, E x₂): r Var x₂ = r[(1 − S)/3 − (1 − S)²/4]."""
    d = 1 - np.asarray(sparsity, dtype=np.float64)
    return importance * (d / 3 - d * d / 4)


@dataclass(frozen=True)
class AntipodalSolution:
    """The antipodal local minimum: W = (w₁, w₂), b, its loss, and whether it is a pair."""

    w: tuple[float, float]
    b: tuple[float, float]
    loss: float

    @property
    def is_pair(self) -> bool:
        return abs(self.w[1]) >= COLLAPSED * abs(self.w[0]) and self.w[0] * self.w[1] < 0


def antipodal_solution(sparsity: float, importance: float,
                       start: tuple[float, ...] = (1.0, -1.0, 0.0, 0.0)) -> AntipodalSolution:
    """The local minimum of `toy_model_loss` reached by L-BFGS-B from `start` = (w, b)."""
    _check(sparsity, importance)

    steps = np.vstack([np.zeros(4), 1e-6 * np.eye(4), -1e-6 * np.eye(4)])  # (9, 4)

    def loss_and_gradient(t: np.ndarray) -> tuple[float, np.ndarray]:
        # the loss and its central differences in one vectorised evaluation
        values = toy_model_loss((t + steps)[:, :2], (t + steps)[:, 2:], sparsity, importance)
        return float(values[0]), (values[1:5] - values[5:]) / 2e-6

    with threadpool_limits(1):  # L-BFGS-B's tiny BLAS calls stall on a second thread
        res = optimize.minimize(loss_and_gradient, np.asarray(start, dtype=np.float64),
                                jac=True, method="L-BFGS-B",
                                options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 2000})
    return AntipodalSolution((float(res.x[0]), float(res.x[1])),
                             (float(res.x[2]), float(res.x[3])), float(res.fun))


@functools.lru_cache(maxsize=256)
def critical_sparsity(importance: float, step: float = 0.02) -> float:
    """S_c(r): the sparsity above which antipodal superposition has the lower loss.

    Follows the antipodal branch down from S = 0.98 in steps of `step` (each minimum
    started from the last), and solves L_antipodal(S) = r Var x₂ by Brent's method in the
    last step before the branch loses (or stops being a pair).

    Raises:
        LmechError: importance outside (0, 1], or no crossing above S = 0.
    """
    if not 0 < importance <= 1:
        raise LmechError(f"importance must be in (0, 1] (feature 2 the less important), "
                         f"got {importance}")
    s, start = 0.98, (1.0, -1.0, 0.0, 0.0)
    previous = None
    while s > 0:
        sol = antipodal_solution(s, importance, start)
        if not sol.is_pair or sol.loss >= ignored_feature_loss(s, importance):
            break
        previous, start = s, (*sol.w, *sol.b)
        s = round(s - step, 12)
    else:
        raise LmechError(f"superposition wins at every sparsity down to 0 for r = {importance}")
    if previous is None:
        raise LmechError(f"superposition does not win even at S = 0.98 for r = {importance}")

    def advantage(x: float) -> float:
        sol = antipodal_solution(x, importance, start)
        if not sol.is_pair:  # past the branch's end: treat as the ignored solution winning
            return 1.0
        return sol.loss - float(ignored_feature_loss(x, importance))

    return float(optimize.brentq(advantage, max(s, 0.0), previous, xtol=1e-7))


@dataclass(frozen=True)
class PairAllocation:
    """The best use of m orthogonal dimensions: features dedicated, pairs, and D*."""

    dedicated: tuple[int, ...]
    pairs: tuple[tuple[int, int], ...]
    squared_norm: float
    loss: float
    dimensions_per_feature: float


def pair_allocation(sparsity: float, importances, hidden: int,
                    represented: int | None = None) -> PairAllocation:
    """Each of `hidden` orthogonal dimensions holds one feature (W column of norm 1, no
    loss) or one antipodal pair (a, b), I_a ≥ I_b (the n = 2 problem with r = I_b/I_a,
    scaled by I_a); an unrepresented feature costs I_i Var x_i. Every matching of the
    `represented` most important features (default 2·hidden) is tried, the dimensions left
    going to the most important unpaired features; returns the cheapest.

    Example:
        >>> a = pair_allocation(0.0, [1.0, 0.5, 0.25], hidden=2)  # dense: no pairs
        >>> a.pairs, a.dimensions_per_feature
        ((), 1.0)
    """
    imp = np.asarray(importances, dtype=np.float64)
    if imp.ndim != 1 or np.any(imp <= 0) or np.any(np.diff(imp) > 0):
        raise LmechError("importances must be positive and non-increasing")
    if not 1 <= hidden < imp.size:
        raise LmechError(f"hidden must be in 1..{imp.size - 1}, got {hidden}")
    k = min(imp.size, represented or 2 * hidden)
    var = float(ignored_feature_loss(sparsity, 1.0))

    def pair(a: int, b: int) -> tuple[float, float]:
        loss, norm = _unit_pair(float(sparsity), float(imp[b] / imp[a]))
        return imp[a] * loss, norm

    best = None
    for pairs in _matchings(list(range(k)), hidden):
        used = {i for p in pairs for i in p}
        free = [i for i in range(imp.size) if i not in used]
        dedicated = tuple(free[:hidden - len(pairs)])
        loss = sum(pair(a, b)[0] for a, b in pairs) + var * sum(
            imp[i] for i in free if i not in dedicated)
        if best is None or loss < best[0] - 1e-15:
            best = (loss, pairs, dedicated)
    loss, pairs, dedicated = best
    norm = len(dedicated) + sum(pair(a, b)[1] for a, b in pairs)
    return PairAllocation(dedicated, tuple(pairs), float(norm), float(loss), hidden / norm)


@functools.lru_cache(maxsize=1024)
def _unit_pair(sparsity: float, ratio: float) -> tuple[float, float]:
    """(loss, ‖W‖²) of an antipodal pair of importances (1, ratio); a pair the optimiser
    collapses is worth no more than dedicating the dimension to the first feature."""
    sol = antipodal_solution(sparsity, ratio)
    if not sol.is_pair:
        return float(ignored_feature_loss(sparsity, ratio)), 1.0
    return sol.loss, sol.w[0] ** 2 + sol.w[1] ** 2


def _matchings(items: list[int], limit: int):
    """Every set of at most `limit` disjoint pairs from `items` (as sorted tuples)."""
    if not items or limit == 0:
        yield ()
        return
    first, rest = items[0], items[1:]
    yield from _matchings(rest, limit)
    for j, other in enumerate(rest):
        for tail in _matchings(rest[:j] + rest[j + 1:], limit - 1):
            yield ((first, other), *tail)


def _check(sparsity: float, importance: float) -> None:
    if not 0 <= sparsity < 1:
        raise LmechError(f"sparsity must be in [0, 1), got {sparsity}")
    if importance <= 0:
        raise LmechError(f"importance must be > 0, got {importance}")
