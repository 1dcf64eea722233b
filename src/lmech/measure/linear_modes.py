"""Mode strengths of (deep) linear networks and the times at which they cross a level.

A linear network y = W_D ⋯ W_1 x computes the end-to-end map W = W_D ⋯ W_1. Given a teacher
T = U diag(s) Vᵀ, the strength of mode α is u_α = u_αᵀ W v_α: the component of the learned
map along the teacher's α-th singular pair (Saxe, McClelland & Ganguli, ICLR 2014,
arXiv:1312.6120; docs/theory/deep_linear.md). Its learning time is read off a recorded
trajectory as the first crossing of a level, placed between recorded steps by linear
interpolation of the log-odds ln(u/(s − u)), which the two-layer solution makes exactly
linear in time.
"""

from __future__ import annotations

import numpy as np
import torch

from lmech.errors import LmechError

__all__ = ["crossing_times", "end_to_end_map", "mode_strengths"]


def end_to_end_map(params: dict[str, torch.Tensor], names: list[str]) -> torch.Tensor:
    """W = W_D ⋯ W_1 of stacked members, from the weights `names` in input-to-output order.

    Args:
        params: name → ``(M, n_out_k, n_in_k)`` stacked weights.
        names: the D weight names, first layer first.

    Returns:
        ``(M, n_out, n_in)``.
    """
    if not names:
        raise LmechError("end_to_end_map needs at least one weight name")
    w = params[names[0]]
    for name in names[1:]:
        w = params[name] @ w
    return w


def mode_strengths(product: torch.Tensor, U: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """u_α = u_αᵀ W v_α for every member and mode.

    Args:
        product: ``(M, n_out, n_in)`` end-to-end maps.
        U: ``(M, n_out, r)`` output modes; V: ``(M, n_in, r)`` input modes.

    Returns:
        ``(M, r)``.

    Example:
        >>> eye = torch.eye(3).expand(2, 3, 3)
        >>> mode_strengths(2 * eye, eye[:, :, :2], eye[:, :, :2]).tolist()
        [[2.0, 2.0], [2.0, 2.0]]
    """
    return torch.einsum("mor,moi,mir->mr", U, product, V)


def crossing_times(u: np.ndarray, level: np.ndarray, s: np.ndarray, dt: float) -> np.ndarray:
    """First time each trajectory reaches `level` (0 < level < s), log-odds interpolated.

    Args:
        u: ``(T, ...)`` strengths at steps 0 … T − 1.
        level, s: broadcast against ``u.shape[1:]``.
        dt: time per step (t = dt · step; for gradient descent dt = η).

    Returns:
        ``u.shape[1:]`` times; NaN where a trajectory never reaches its level.

    Example:
        >>> s, t = 1.0, np.arange(6.0)
        >>> u = s / (1 + 9 * np.exp(-t))  # log-odds linear in t, crossing s/2 at ln 9
        >>> round(float(crossing_times(u, 0.5, s, 1.0)), 6) == round(float(np.log(9)), 6)
        True
    """
    u = np.asarray(u, dtype=np.float64)
    shape = u.shape[1:]
    level = np.broadcast_to(np.asarray(level, dtype=np.float64), shape)
    s = np.broadcast_to(np.asarray(s, dtype=np.float64), shape)
    if np.any(level <= 0) or np.any(level >= s):
        raise LmechError("crossing_times needs 0 < level < s")
    reached = u >= level
    k = np.argmax(reached, axis=0)  # first step at or past the level
    ever = reached.any(axis=0)
    before = np.take_along_axis(u, np.maximum(k - 1, 0)[None], axis=0)[0]
    after = np.take_along_axis(u, k[None], axis=0)[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = [np.log(v / (s - v)) for v in (before, after, level)]
        frac = (odds[2] - odds[0]) / (odds[1] - odds[0])
    # A trajectory already past the level at step 0, or whose previous step was not
    # positive (log-odds undefined), is placed at the step itself.
    frac = np.where((k > 0) & (before > 0) & np.isfinite(frac), frac, 1.0)
    t = (k - 1 + frac) * dt
    return np.where(ever, t, np.nan)
