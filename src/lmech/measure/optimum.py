"""Where a sampled curve is lowest: the vertex of the parabola through its lowest sample.

On a grid x_0 < … < x_K with values y_i, take the lowest sample i and fit the parabola
through (x_{i−1}, y_{i−1}), (x_i, y_i), (x_{i+1}, y_{i+1}); on an evenly spaced grid of
step h its vertex is

    x* = x_i − (h/2)·(y_{i+1} − y_{i−1}) / (y_{i+1} − 2y_i + y_{i−1}),

which lies within h/2 of x_i because y_i is the lowest of the three. A minimum at either
end of the grid is not bracketed and is returned as that end (`bracketed` False).

Used for the loss-optimal learning rate on a log-spaced grid (x = log₂ η, y = log loss),
as in Yang, Hu et al., "Tensor Programs V" (arXiv:2203.03466), §5 and Fig. 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmech.errors import LmechError

__all__ = ["GridMinimum", "parabolic_minimum"]


@dataclass(frozen=True)
class GridMinimum:
    """The estimated location of a curve's minimum.

    Attributes:
        x: the vertex x* (the grid end when the minimum is not bracketed).
        index: the lowest sample's index.
        bracketed: the lowest sample has a neighbour on each side.
    """

    x: float
    index: int
    bracketed: bool


def parabolic_minimum(x, y) -> GridMinimum:
    """The vertex of the parabola through the lowest sample of y(x) and its neighbours.

    Args:
        x: ``(K,)`` strictly increasing, evenly spaced.
        y: ``(K,)`` finite values.

    Raises:
        LmechError: fewer than 3 points, lengths that differ, x not evenly spaced and
            increasing, or a value that is not finite.

    Example:
        >>> parabolic_minimum([0, 1, 2, 3], [9.0, 1.0, 1.0, 9.0]).x
        1.5
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or x.size < 3:
        raise LmechError(f"parabolic_minimum needs >= 3 points and one y per x, got "
                         f"{x.size} x and {y.size} y")
    step = np.diff(x)
    if np.any(step <= 0) or not np.allclose(step, step[0], rtol=1e-9, atol=0):
        raise LmechError(f"x must be evenly spaced and increasing, got {x.tolist()}")
    if not np.all(np.isfinite(y)):
        raise LmechError(f"y must be finite, got {y.tolist()}")
    i = int(np.argmin(y))
    if i in (0, x.size - 1):
        return GridMinimum(float(x[i]), i, False)
    lo, mid, hi = y[i - 1], y[i], y[i + 1]
    curvature = hi - 2 * mid + lo
    shift = 0.0 if curvature <= 0 else -0.5 * step[0] * (hi - lo) / curvature
    return GridMinimum(float(x[i] + shift), i, True)
