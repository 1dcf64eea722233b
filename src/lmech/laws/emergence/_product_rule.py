"""Read-outs of the product rule: generators' recorded accuracies -> the emergence laws' points.

For the held-out classes with m concepts, ū_m(t) is the m-th root of the geometric mean
over classes c of ⟨Π_j a_{c,j}(t)⟩ (each network's product of its own single-concept
accuracies, averaged over networks) and A_m(t) the geometric mean of the composition
accuracies ⟨A_c(t)⟩. The product rule (concept errors independent per sample) makes
A_m = ū_m^m at every t. Read-outs, each with a delete-one-network jackknife error (networks
are independent units; `lmech.measure.stats.jackknife`):

- `composition_at_levels`: A_m at the first step where ū_m reaches each level u (rule: u^m);
- `effective_exponents`: γ_m, the least-squares slope through the origin of ln A_m against
  ln u over those levels (rule: m; one skill: 1);
- `delay_fractions`: (t_A − t_ū)/(t_Π − t_ū) at composition accuracies P, with t_A, t_Π,
  t_ū the first steps at which A_m, ū_m^m and ū_m reach P (rule: 1; one skill: 0);
- `rise_widths`: ū_m where A_m first reaches P_hi minus where it first reaches P_lo, the
  span of single-concept progress over which the composition rises (rule:
  P_hi^{1/m} − P_lo^{1/m}, narrowing with m; one skill: P_hi − P_lo).

Generators that start from noise are right half the time before learning (a chance floor),
and ū wanders about it before it dips and rises: `on_the_rise` keeps the records from the
start of the final rise (`rise_start`).

Source: Okawa, Lubana, Dick & Tanaka, NeurIPS 2023 (arXiv:2310.09336), §4;
docs/theory/emergence.md, §The product rule.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lmech.errors import LmechError
from lmech.laws.emergence._generators import Accuracies
from lmech.measure.stats import jackknife


def orders(n_concepts: int) -> range:
    """The composition sizes m = 2 … n."""
    return range(2, n_concepts + 1)


def single_concept_curves(concept: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """ū_m(t) for m = 2 … n, ``(orders, T)``."""
    product = _network_products(concept, classes).mean(0)  # (T, C)
    return np.exp(np.array([log_p / m for m, log_p in _log_by_order(product, classes)]))


def rise_start(ubar: np.ndarray) -> int:
    """Where the rise begins: the record after the last fall of ū (averaged over the orders)
    before it first comes within 10 % of its maximum, counted from its minimum; the end of
    the dip below the chance floor and of any transient before it.

    Args: ``(orders, R)`` as returned by `single_concept_curves`.
    """
    mean = ubar.mean(0)
    high = int(np.argmax(mean >= mean.min() + 0.9 * (mean.max() - mean.min())))
    falls = np.flatnonzero(np.diff(mean[:high + 1]) < 0)
    return int(falls[-1] + 1) if falls.size else 0


def on_the_rise(acc: Accuracies, **levels: Sequence[float]) -> Accuracies:
    """The records from the dip of ū on; each named sequence of single-concept `levels` must
    lie above every ū_m at the dip (a level under it is crossed on the way down only)."""
    ubar = single_concept_curves(acc.concept, acc.classes)
    start = rise_start(ubar)
    floor = ubar[:, start].max()
    for name, value in levels.items():
        if min(value) <= floor:
            raise LmechError(
                f"{name} must exceed the single-concept accuracy at the dip, max_m ū_m = "
                f"{floor:.3g} at step {acc.steps[start]}, where the rise from the chance "
                f"floor begins; got {min(value)}")
    return Accuracies(acc.concept[:, start:], acc.whole[:, start:], acc.classes,
                      acc.steps[start:])


def composition_at_levels(acc: Accuracies, levels: Sequence[float]
                          ) -> tuple[np.ndarray, np.ndarray]:
    """A_m where ū_m first reaches each level: ``(orders, L)`` values and errors."""
    def statistic(log_u, log_a, m):
        return [_read_at(log_u, log_a, np.log(u), m, "single-concept accuracy")
                for u in levels]

    return _jackknife(statistic, acc)


def effective_exponents(acc: Accuracies, levels: Sequence[float]
                        ) -> tuple[np.ndarray, np.ndarray]:
    """γ_m = Σ_k ln A_m(u_k) ln u_k / Σ_k (ln u_k)²: ``(orders, 1)`` values and errors."""
    log_u = np.log(np.asarray(levels, dtype=np.float64))

    def statistic(log_ubar, log_a, m):
        log_at = np.array([np.log(_read_at(log_ubar, log_a, lu, m, "single-concept accuracy"))
                           for lu in log_u])
        return [float(log_at @ log_u / (log_u @ log_u))]

    return _jackknife(statistic, acc)


def delay_fractions(acc: Accuracies, levels: Sequence[float]
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(t_A − t_ū)/(t_Π − t_ū) at each composition accuracy P: ``(orders, L)``."""
    def statistic(log_u, log_a, m):
        row = []
        for big_p in levels:
            log_p = np.log(big_p)
            t_a, t_prod, t_u = (_first_step(acc.steps, curve, log_p, m)
                                for curve in (log_a, m * log_u, log_u))
            row.append((t_a - t_u) / (t_prod - t_u))
        return row

    return _jackknife(statistic, acc)


def rise_widths(acc: Accuracies, rise: tuple[float, float]
                ) -> tuple[np.ndarray, np.ndarray]:
    """ū_m where A_m first reaches P_hi minus ū_m where it first reaches P_lo: ``(orders, 1)``."""
    def statistic(log_u, log_a, m):
        lo, hi = (_read_at(log_a, log_u, np.log(p), m, "composition accuracy") for p in rise)
        return [hi - lo]

    return _jackknife(statistic, acc)


def _network_products(concept: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """``(M, T, C)`` each network's product of its accuracies on the concepts c has."""
    return np.where(classes.astype(bool)[None, None], concept, 1.0).prod(-1)


def _log_by_order(mean: np.ndarray, classes: np.ndarray):
    """(m, log of the geometric mean over the m-concept classes ``(T,)``) for m = 2 … n."""
    size = classes.sum(1)
    with np.errstate(divide="ignore"):
        log = np.log(mean)  # (T, C)
    return [(m, log[:, size == m].mean(1)) for m in orders(classes.shape[1])]


def _jackknife(statistic, acc: Accuracies) -> tuple[np.ndarray, np.ndarray]:
    """`statistic(log ū_m (T,), log A_m (T,), m)` per order, and its delete-one-network
    jackknife error: ``(orders, L)`` each."""
    def per_order(product_mean, whole_mean):  # (T, C) means over networks
        return np.array([statistic(log_p / m, log_a, m) for (m, log_p), (_, log_a)
                         in zip(_log_by_order(product_mean, acc.classes),
                                _log_by_order(whole_mean, acc.classes), strict=True)])

    estimate = jackknife(per_order, _network_products(acc.concept, acc.classes), acc.whole)
    return estimate.value, estimate.stderr


def _first_above(log_x: np.ndarray, level: float, m: int, what: str) -> int:
    """The first record k >= 1 with log_x[k] >= level (an LmechError if there is none, or if
    the read-out's first record is already there)."""
    above = np.flatnonzero(log_x >= level)
    if above.size == 0:
        raise LmechError(f"the {what} of the {m}-concept compositions never rises through "
                         f"{np.exp(level):.3g}; increase steps or lower the level")
    if above[0] == 0:
        raise LmechError(f"the {what} of the {m}-concept compositions is already above "
                         f"{np.exp(level):.3g} where the read-out begins (the first record, "
                         f"or the dip of the chance floor); raise the level")
    return int(above[0])


def _first_step(steps: np.ndarray, log_y: np.ndarray, level: float, m: int) -> float:
    """The step at which log_y first reaches `level`, interpolating linearly in y."""
    k = _first_above(log_y, level, m, "accuracy")
    y0, y1 = np.exp(log_y[k - 1]), np.exp(log_y[k])
    lam = (np.exp(level) - y0) / (y1 - y0)
    return float((1 - lam) * steps[k - 1] + lam * steps[k])


def _read_at(log_x: np.ndarray, log_y: np.ndarray, level: float, m: int, what: str) -> float:
    """exp(log_y) where log_x first reaches `level`, interpolating both logs linearly."""
    k = _first_above(log_x, level, m, what)
    if not np.isfinite(log_x[k - 1]) or not np.isfinite(log_y[k - 1]):
        return float(np.exp(log_y[k]))  # nothing right before: the first record above
    lam = (level - log_x[k - 1]) / (log_x[k] - log_x[k - 1])
    return float(np.exp((1 - lam) * log_y[k - 1] + lam * log_y[k]))
