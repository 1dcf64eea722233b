"""Lanczos on M independent symmetric operators at once: the top eigenpair of each.

The operator acts on ``(M, D)`` stacks, row m through A_m alone (a block-diagonal A, such
as the Hessian of Σ_m L_m(θ_m) in stacked parameters). Each row runs its own Lanczos
recurrence with full reorthogonalisation (twice), and per-row inner products, so row m's
Ritz values are those a single Lanczos run on A_m would give; one operator application
serves every row. A row stops when its top Ritz pair has residual β_j|s_j| <= tol·|θ|,
when its Krylov space closes (β_j ≈ 0), or at `max_steps`; stopped rows then carry zero
vectors, which A maps to zero.

Source: C. Lanczos 1950; G. H. Golub & C. F. Van Loan, *Matrix Computations* (4th ed.),
§10.1–10.3 (the residual bound of a Ritz pair, eq. 10.1.8).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

__all__ = ["TopEigenpairs", "batched_lanczos"]


class TopEigenpairs(NamedTuple):
    """The top Ritz pair of each of M operators.

    Attributes:
        values: ``(M,)`` float64 largest Ritz value (NaN where the operator gave a
            non-finite vector).
        vectors: ``(M, D)`` unit Ritz vectors.
        converged: ``(M,)`` bool, residual <= tol·|value| (or an exhausted Krylov space).
        steps: ``(M,)`` Lanczos steps each row took.
        n_matvec: operator applications (each serves every row).
    """

    values: torch.Tensor
    vectors: torch.Tensor
    converged: torch.Tensor
    steps: torch.Tensor
    n_matvec: int


def _tridiagonal(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """``(M, j, j)`` from ``alpha (M, j)`` and ``beta (M, j − 1)``."""
    t = torch.diag_embed(alpha)
    if alpha.shape[1] > 1:
        t = t + torch.diag_embed(beta, 1) + torch.diag_embed(beta, -1)
    return t


def batched_lanczos(matvec: Callable[[torch.Tensor], torch.Tensor], start: torch.Tensor,
                    max_steps: int, tol: float) -> TopEigenpairs:
    """Top eigenpair of every row's operator by Lanczos from ``start (M, D)``.

    Args:
        matvec: ``(M, D) -> (M, D)``, row m mapped by A_m (symmetric).
        start: nonzero start vectors, one per row.
        max_steps: at most this many operator applications (capped at D).
        tol: relative residual tolerance of the top Ritz pair.
    """
    m, dim = start.shape
    steps_cap = min(max_steps, dim)
    q = start / torch.linalg.vector_norm(start, dim=1, keepdim=True)
    basis = [q]
    alpha: list[torch.Tensor] = []
    beta: list[torch.Tensor] = []
    values = torch.full((m,), float("nan"), dtype=torch.float64)
    vectors = torch.zeros_like(start)
    converged = torch.zeros(m, dtype=torch.bool)
    done = torch.zeros(m, dtype=torch.bool)
    used = torch.zeros(m, dtype=torch.long)
    for j in range(steps_cap):
        w = matvec(basis[-1])
        a = (w * basis[-1]).sum(1).double().cpu()
        qs = torch.stack(basis)  # (j + 1, M, D)
        for _ in range(2):
            w = w - torch.einsum("jm,jmd->md", torch.einsum("jmd,md->jm", qs, w), qs)
        b = torch.linalg.vector_norm(w, dim=1).double().cpu()
        finite = torch.isfinite(a) & torch.isfinite(b)
        alpha.append(torch.where(finite & ~done, a, 0.0))
        beta.append(torch.where(finite & ~done, b, 0.0))
        theta, s = torch.linalg.eigh(_tridiagonal(torch.stack(alpha, 1),
                                                  torch.stack(beta[:-1], 1)
                                                  if j else torch.zeros(m, 0,
                                                                        dtype=torch.float64)))
        top, s_top = theta[:, -1], s[:, :, -1]  # (M,), (M, j + 1)
        residual = b * s_top[:, -1].abs()
        closed = b <= 1e-12 * theta.abs().amax(1).clamp_min(1e-300)
        good = finite & ((residual <= tol * top.abs()) | closed)
        stop = ~done & (~finite | good | (j + 1 == steps_cap))
        if stop.any():
            ritz = torch.einsum("mj,jmd->md", s_top.to(qs), qs)
            ritz = ritz / torch.linalg.vector_norm(ritz, dim=1, keepdim=True)
            rows = stop.to(start.device)
            values[stop] = torch.where(finite, top, float("nan"))[stop]
            vectors[rows] = ritz[rows]
            converged |= stop & good
            used[stop] = j + 1
            done |= stop
        if bool(done.all()):
            break
        live = (~done).to(start.device)[:, None]
        basis.append(torch.where(live, w / b.to(w).clamp_min(1e-300)[:, None], 0.0))
    return TopEigenpairs(values, vectors, converged, used, len(alpha))
