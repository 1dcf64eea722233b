"""Lanczos iteration on a symmetric linear operator given only as v ↦ Av.

Full reorthogonalisation (twice, "twice is enough") keeps the Krylov basis orthonormal in
floating point, so the Ritz values of the tridiagonal matrix T_m = Q_mᵀ A Q_m are reliable
and no spurious copies of converged eigenvalues appear. A Ritz pair (θ, y = Q_m s) has the
residual ‖A y − θ y‖ = β_m |s_m| (the last component of s times the next off-diagonal),
which is free to compute and is the convergence test.

Source: C. Lanczos 1950; G. H. Golub & C. F. Van Loan, *Matrix Computations* (4th ed.),
§10.1–10.3; stochastic Lanczos quadrature: G. H. Golub & G. Meurant, *Matrices, Moments and
Quadrature* (2010), and B. Ghorbani, S. Krishnan, Y. Xiao, ICML 2019 (arXiv:1901.10159).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from lmech.errors import LmechError

__all__ = ["LanczosResult", "lanczos"]

Operator = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class LanczosResult:
    """Ritz values and vectors of a Lanczos run.

    Attributes:
        ritz_values: shape ``(m,)`` float64, ascending.
        ritz_first: shape ``(m,)`` float64, first component of each tridiagonal
            eigenvector (its square is the quadrature weight of the start vector).
        residuals: shape ``(m,)`` float64, ‖A y − θ y‖ of each Ritz pair.
        basis: shape ``(m, dim)``, the orthonormal Lanczos vectors.
        eigvecs: shape ``(m, m)`` float64, eigenvectors of T_m (columns).
        n_matvec: number of operator applications.
    """

    ritz_values: torch.Tensor
    ritz_first: torch.Tensor
    residuals: torch.Tensor
    basis: torch.Tensor
    eigvecs: torch.Tensor
    n_matvec: int

    def ritz_vectors(self, index: torch.Tensor) -> torch.Tensor:
        """Ritz vectors Q_m s_i for the given indices, shape ``(len(index), dim)``."""
        s = self.eigvecs[:, index].to(self.basis.dtype)  # (m, k)
        return s.T @ self.basis


def _tridiagonal(alpha: list[float], beta: list[float]) -> torch.Tensor:
    a = torch.tensor(alpha, dtype=torch.float64)
    t = torch.diag(a)
    if len(alpha) > 1:
        b = torch.tensor(beta[: len(alpha) - 1], dtype=torch.float64)
        t += torch.diag(b, 1) + torch.diag(b, -1)
    return t


def lanczos(
    matvec: Operator,
    start: torch.Tensor,
    max_steps: int,
    *,
    k: int = 1,
    tol: float | None = None,
) -> LanczosResult:
    """Run up to `max_steps` Lanczos steps from `start`.

    Args:
        matvec: v ↦ A v for a symmetric A, on vectors shaped like `start`, ``(dim,)``.
        start: nonzero start vector ``(dim,)``.
        max_steps: at most this many operator applications (capped at dim).
        k: number of largest Ritz values the stopping test watches.
        tol: stop as soon as the k largest Ritz pairs have residual <= tol · |θ|;
            ``None`` runs all `max_steps` (stochastic Lanczos quadrature).
    """
    dim = start.numel()
    max_steps = min(max_steps, dim)
    q = start / torch.linalg.vector_norm(start)
    basis = [q]
    alpha: list[float] = []
    beta: list[float] = []
    for step in range(max_steps):
        w = matvec(basis[-1])
        alpha.append(float(torch.dot(w, basis[-1])))
        qs = torch.stack(basis)  # (j, dim)
        for _ in range(2):
            w = w - qs.T @ (qs @ w)
        beta.append(float(torch.linalg.vector_norm(w)))
        if not (math.isfinite(alpha[-1]) and math.isfinite(beta[-1])):
            raise LmechError(
                "the operator returned a non-finite vector (a diverged model or loss?)"
            )
        theta, s = torch.linalg.eigh(_tridiagonal(alpha, beta))
        residuals = beta[-1] * s[-1].abs()
        last = step + 1 == max_steps or beta[-1] <= 1e-12 * max(float(theta.abs().max()), 1e-300)
        if tol is not None and step + 1 >= k:
            top = slice(len(alpha) - k, len(alpha))
            if bool(torch.all(residuals[top] <= tol * theta[top].abs())):
                last = True
        if last:
            return LanczosResult(theta, s[0], residuals, qs, s, step + 1)
        basis.append(w / beta[-1])
    raise AssertionError("unreachable")
