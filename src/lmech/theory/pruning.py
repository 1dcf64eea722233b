"""Pruning at initialisation: the maximal critical compression and magnitude's collapse.

- Maximal critical compression (Tanaka, Kunin, Yamins & Ganguli 2020, §3): the largest
  compression ρ = N/N_kept any mask reaches while some input–output path survives. A path
  needs one weight in each prunable layer it crosses, so ρ_max = N / L_min with L_min the
  number of weights on the shortest path (the number of layers of a plain network).
- Magnitude pruning at PyTorch's default initialisation, W ~ U(−b_l, b_l) with
  b_l = 1/√fan_in_l: a global threshold t keeps the fraction 1 − t/b_l of layer l (none
  once t ≥ b_l), so the expected number kept is

      K(t) = Σ_l N_l · max(0, 1 − t √fan_in_l),

  and layers empty in order of decreasing fan-in. The network collapses at the threshold
  t* = 1/√fan_in* at which the layers emptied so far first cut every input–output path,
  i.e. at the compression ρ_mag = N / K(t*). Each layer's kept count is binomial, so one
  network's K(t) spreads by √(Σ_l N_l p_l(1 − p_l)), p_l = 1 − t√fan_in_l.

Source: H. Tanaka, D. Kunin, D. L. K. Yamins & S. Ganguli, NeurIPS 2020
(arXiv:2006.05467), §3 (layer collapse, maximal critical compression) and §5 (why
single-shot scores collapse early). See docs/theory/pruning.md, §Layer collapse.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lmech.errors import LmechError

__all__ = [
    "magnitude_collapse_compression",
    "maximal_critical_compression",
    "uniform_magnitude_kept",
    "uniform_magnitude_spread",
]


def _layers(sizes: Sequence[int], fan_ins: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    n = np.asarray(sizes, dtype=np.float64)
    f = np.asarray(fan_ins, dtype=np.float64)
    if n.ndim != 1 or n.shape != f.shape or n.size == 0:
        raise LmechError(f"sizes and fan_ins must be equal-length lists of layers, got "
                         f"{len(n)} and {len(f)}")
    if np.any(n < 1) or np.any(f < 1):
        raise LmechError("every layer's size and fan-in must be >= 1")
    return n, f


def _kept_fractions(threshold: float, fan_ins: np.ndarray) -> np.ndarray:
    if not threshold >= 0:
        raise LmechError(f"threshold must be >= 0, got {threshold!r}")
    return np.clip(1.0 - threshold * np.sqrt(fan_ins), 0.0, 1.0)


def uniform_magnitude_kept(threshold: float, sizes: Sequence[int],
                           fan_ins: Sequence[int]) -> float:
    """K(t) = Σ_l N_l max(0, 1 − t√fan_in_l): the expected count of weights with |w| > t
    when layer l's N_l weights are U(−1/√fan_in_l, 1/√fan_in_l).

    Example:
        >>> uniform_magnitude_kept(0.25, [100, 400], [4, 16])
        50.0
    """
    n, f = _layers(sizes, fan_ins)
    return float(n @ _kept_fractions(threshold, f))


def uniform_magnitude_spread(threshold: float, sizes: Sequence[int],
                             fan_ins: Sequence[int]) -> float:
    """√(Σ_l N_l p_l(1 − p_l)), p_l = max(0, 1 − t√fan_in_l): the standard deviation of
    one network's kept count (a sum of independent binomials).

    Example:
        >>> uniform_magnitude_spread(0.25, [100, 400], [4, 16])
        5.0
    """
    n, f = _layers(sizes, fan_ins)
    p = _kept_fractions(threshold, f)
    return float(np.sqrt(n @ (p * (1 - p))))


def magnitude_collapse_compression(sizes: Sequence[int], fan_ins: Sequence[int],
                                   cut_fan_in: int) -> float:
    """ρ_mag = N / K(1/√cut_fan_in): the compression at which magnitude pruning at
    PyTorch's default initialisation empties the layer of fan-in `cut_fan_in`, the last of
    the layers (emptied in order of decreasing fan-in) that cut the network.

    Example (a plain 3-layer net collapses when its largest-fan-in layer empties):
        >>> round(magnitude_collapse_compression([36, 144, 36], [9, 36, 4], 36), 3)
        5.143
    """
    n, f = _layers(sizes, fan_ins)
    if cut_fan_in not in f:
        raise LmechError(f"cut_fan_in {cut_fan_in} is not the fan-in of any layer "
                         f"({sorted(set(f.astype(int).tolist()))})")
    kept = uniform_magnitude_kept(1.0 / np.sqrt(cut_fan_in), sizes, fan_ins)
    if kept <= 0:
        raise LmechError("the threshold empties every layer: no compression is defined")
    return float(n.sum() / kept)


def maximal_critical_compression(total: int, shortest_path: int) -> float:
    """ρ_max = N / L_min: keep only the weights of one shortest input–output path.

    Example:
        >>> maximal_critical_compression(42200, 3)
        14066.666666666666
    """
    if not (isinstance(total, int | np.integer) and isinstance(shortest_path, int | np.integer)
            and 1 <= shortest_path <= total):
        raise LmechError(f"need integers 1 <= shortest_path <= total, got shortest_path="
                         f"{shortest_path!r}, total={total!r}")
    return total / shortest_path
