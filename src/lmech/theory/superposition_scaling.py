"""Loss against width in the toy model of superposition, weak and strong (Liu, Liu & Gore).

Features i = 1..n are active with probability p_i ∝ i^(−a) (the data exponent a, the paper's
α), an active feature uniform on [0, s]; the toy model x' = ReLU(WᵀW x + b) is trained
on the mean squared error over the n features.

Weak superposition: the m most frequent features own one dimension each and are
reconstructed exactly (columns orthonormal, b_i = 0); every other feature has W_i = 0 and
the bias its mean, b_i = E x_i, which costs its variance. The loss is

    L_weak(m) = (1/n) Σ_{i>m} Var x_i,    Var x_i = p_i s²/3 − p_i² s²/4,

which for n → ∞ falls as m^(−(a−1)).

Strong superposition: every feature is represented at norm ≈ 1 and the loss is set by the
overlaps of n ≫ m vectors in m dimensions, whose mean square is ≈ 1/m (exactly
(n − m)/(m(n − 1)) for a tight frame, the least any n unit vectors can have): L ∝ m^(−1)
whatever a, for a ≤ 3/2 (steeper frequency laws cross over to 2(a − 1)).

The width exponent of a set of losses is minus the least-squares slope of ln L on ln m.

Source: Y. Liu, Z. Liu & J. Gore, "Superposition yields robust neural scaling", NeurIPS
2025 (arXiv:2505.10465), §§3–5, Figs. 5–6; docs/theory/superposition.md.
"""

from __future__ import annotations

import numpy as np

from lmech.errors import LmechError

__all__ = [
    "STRONG_WIDTH_EXPONENT",
    "feature_frequencies",
    "tight_frame_overlap",
    "weak_superposition_loss",
    "weak_width_exponent",
    "width_exponent",
]

STRONG_WIDTH_EXPONENT = 1.0
"""The width exponent of strong superposition, L ∝ m^(−1), for data exponents a ≤ 3/2."""


def feature_frequencies(n_features: int, exponent: float, density: float = 1.0) -> np.ndarray:
    """p_i = density · i^(−a)/Σ_j j^(−a), i = 1..n: ``(n,)`` (density = Σ p_i, the expected
    number of active features per input).

    Example:
        >>> feature_frequencies(3, 1.0).round(4).tolist()
        [0.5455, 0.2727, 0.1818]
    """
    if isinstance(n_features, bool) or int(n_features) != n_features or n_features < 1:
        raise LmechError(f"n_features must be an integer >= 1, got {n_features!r}")
    if not np.isfinite(exponent) or exponent < 0:
        raise LmechError(f"the data exponent must be finite and >= 0, got {exponent!r}")
    w = np.arange(1, int(n_features) + 1, dtype=np.float64) ** -float(exponent)
    p = float(density) * w / w.sum()
    if not 0 < density or p[0] > 1:
        raise LmechError(f"density must make every p_i a probability (p_1 <= 1), got "
                         f"density {density!r} (p_1 = {p[0]:.3g})")
    return p


def weak_superposition_loss(widths, frequencies: np.ndarray, scale: float = 2.0) -> np.ndarray:
    """L_weak(m) = (1/n) Σ_{i>m} (p_i s²/3 − p_i² s²/4) for each width m: ``widths``'s shape.

    Args:
        widths: m, integers in [0, n].
        frequencies: ``(n,)`` p_i in decreasing order (the most frequent get dimensions).
        scale: s, an active feature is uniform on [0, s].

    Example:
        >>> p = np.array([0.5, 0.25, 0.25])
        >>> float(weak_superposition_loss(2, p, scale=1.0))  # (1/3)(0.25/3 − 0.25²/4)
        0.022569444444444444
    """
    p = np.asarray(frequencies, dtype=np.float64)
    m = np.asarray(widths)
    if p.ndim != 1 or np.any(p < 0) or np.any(p > 1):
        raise LmechError("frequencies must be a 1-D array of probabilities")
    if np.any(m < 0) or np.any(m > p.size) or np.any(m != np.round(m)):
        raise LmechError(f"widths must be integers in [0, n = {p.size}], got {widths!r}")
    var = p * scale**2 / 3 - p**2 * scale**2 / 4
    tail = np.concatenate([np.cumsum(var[::-1])[::-1], [0.0]])  # tail[k] = Σ_{i>k} (0-based)
    return tail[m.astype(np.int64)] / p.size


def width_exponent(widths, losses) -> float:
    """−(least-squares slope of ln L on ln m): the exponent of L ∝ m^(−exponent).

    Example:
        >>> round(width_exponent([4, 8, 16], [1 / 4, 1 / 8, 1 / 16]), 12)
        1.0
    """
    m = np.asarray(widths, dtype=np.float64)
    loss = np.asarray(losses, dtype=np.float64)
    if m.shape != loss.shape or m.ndim != 1 or m.size < 2 or np.any(m <= 0) \
            or np.any(loss <= 0) or np.unique(m).size < 2:
        raise LmechError("width_exponent needs at least two distinct widths > 0 and as many "
                         "losses > 0")
    x = np.log(m) - np.log(m).mean()
    return float(-(x @ np.log(loss)) / (x @ x))


def weak_width_exponent(widths, n_features: int, exponent: float, density: float = 1.0,
                        scale: float = 2.0) -> float:
    """The width exponent of L_weak over `widths` (n finite: steeper than a − 1 where the
    widths approach n, the tail being cut at n)."""
    p = feature_frequencies(n_features, exponent, density)
    return width_exponent(widths, weak_superposition_loss(widths, p, scale))


def tight_frame_overlap(n_vectors: int, dim: int) -> float:
    """(n − m)/(m(n − 1)): the mean of (W_i·W_j)², i ≠ j, of n unit vectors in m dimensions
    forming a tight frame (WWᵀ = (n/m) I), the least any n unit vectors can have (Welch)."""
    if not 1 <= dim <= n_vectors or n_vectors < 2:
        raise LmechError(f"need 1 <= dim <= n_vectors and n_vectors >= 2, got {dim}, "
                         f"{n_vectors}")
    return (n_vectors - dim) / (dim * (n_vectors - 1))
