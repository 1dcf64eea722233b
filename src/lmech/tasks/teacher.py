"""Teacher–student tasks: a known map generates the labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from lmech.errors import LmechError

__all__ = ["LinearTeacher", "linear_teacher", "moment_matched_inputs", "whitened_inputs"]


@dataclass(frozen=True)
class LinearTeacher:
    """A linear map T = U diag(s) Vᵀ with a chosen singular-value spectrum.

    Attributes (leading member axis M):
        U: ``(M, n_out, r)`` orthonormal columns (output modes).
        s: ``(r,)`` singular values, as given.
        V: ``(M, n_in, r)`` orthonormal columns (input modes).
    """

    U: torch.Tensor
    s: torch.Tensor
    V: torch.Tensor

    @property
    def map(self) -> torch.Tensor:
        """T = U diag(s) Vᵀ, shape ``(M, n_out, n_in)``."""
        return (self.U * self.s) @ self.V.transpose(-1, -2)


def _random_orthonormal(
    m: int, rows: int, cols: int, generator: torch.Generator, dtype: torch.dtype, device
) -> torch.Tensor:
    g = torch.randn(m, rows, cols, generator=generator, dtype=dtype, device="cpu")
    q, r = torch.linalg.qr(g)
    # Fixing the signs by diag(R) makes Q Haar-distributed.
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)
    return q.to(device)


def linear_teacher(
    n_in: int,
    n_out: int,
    spectrum: Sequence[float],
    *,
    members: int = 1,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
) -> LinearTeacher:
    """`members` independent teachers with Haar-random modes and the given spectrum.

    Raises:
        LmechError: the spectrum has more values than min(n_in, n_out), or a value <= 0.
    """
    r = len(spectrum)
    if r == 0 or r > min(n_in, n_out):
        raise LmechError(
            f"spectrum must have between 1 and min(n_in, n_out) = {min(n_in, n_out)} values, "
            f"got {r}"
        )
    s = torch.tensor(list(spectrum), dtype=dtype, device=device)
    if torch.any(s <= 0):
        raise LmechError(f"spectrum values must be > 0, got {list(spectrum)}")
    U = _random_orthonormal(members, n_out, r, generator, dtype, device)
    V = _random_orthonormal(members, n_in, r, generator, dtype, device)
    return LinearTeacher(U, s, V)


def whitened_inputs(
    n_samples: int,
    dim: int,
    *,
    members: int = 1,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """Gaussian inputs whitened exactly: (1/P) Xᵀ X = I for each member.

    Returns:
        Shape ``(members, n_samples, dim)``.

    Raises:
        LmechError: fewer samples than dimensions (the sample cannot be whitened).
    """
    if n_samples < dim:
        raise LmechError(f"n_samples must be >= the input dimension {dim}, got {n_samples}")
    x = torch.randn(members, n_samples, dim, generator=generator, dtype=dtype, device="cpu")
    cov = x.transpose(-1, -2) @ x / n_samples
    chol = torch.linalg.cholesky(cov)
    # x L^{-T}: its covariance is L^{-1} cov L^{-T} = I.
    x = torch.linalg.solve_triangular(chol, x.transpose(-1, -2), upper=False).transpose(-1, -2)
    return x.to(device)


def moment_matched_inputs(x: torch.Tensor) -> torch.Tensor:
    """n₀ rows with the same second moments as the P rows of `x`: (1/n₀) X̃ᵀX̃ = (1/P) XᵀX.

    For a linear network with a linear teacher (y = T x) the mean squared error over the
    P samples, ½ tr((T − W) Σ11 (T − W)ᵀ) with Σ11 = (1/P) XᵀX, depends on the inputs only
    through Σ11; training on X̃ = √n₀ Lᵀ (Σ11 = L Lᵀ) with targets X̃ Tᵀ gives the same loss
    and gradients at every step, at a cost independent of P.

    Args:
        x: ``(M, P, n₀)`` inputs of each member, P >= n₀.

    Returns:
        ``(M, n₀, n₀)``.

    Raises:
        LmechError: x is not 3-d, or has fewer rows than columns (Σ11 singular).
    """
    if x.dim() != 3 or x.shape[1] < x.shape[2]:
        raise LmechError(f"x must be (M, P, n0) with P >= n0, got {tuple(x.shape)}")
    n0 = x.shape[2]
    chol = torch.linalg.cholesky(x.transpose(-1, -2) @ x / x.shape[1])
    return n0**0.5 * chol.transpose(-1, -2)
