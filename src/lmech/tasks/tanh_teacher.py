"""A two-layer tanh teacher on Gaussian inputs: a smooth nonlinear regression target.

f*(x) = (1/√k) Σ_j a_j tanh(w_j · x / √d) with w_j ~ N(0, I_d) and a_j ~ N(0, 1), for
inputs x ~ N(0, I_d): each hidden unit's argument has unit variance, so the target is of
order one at any input dimension d and hidden size k. Fresh inputs every step make the
training loss a direct estimate of the population loss.

Source: the soft-committee / teacher–student setting of D. Saad & S. A. Solla, Phys. Rev.
Lett. 74, 4337 (1995), with tanh units and trained second-layer weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lmech.errors import LmechError

__all__ = ["TanhTeacher", "tanh_teacher"]


@dataclass(frozen=True)
class TanhTeacher:
    """Hidden weights ``w (k, d)`` and readout ``a (k,)``."""

    w: torch.Tensor
    a: torch.Tensor

    @property
    def n_in(self) -> int:
        return int(self.w.shape[1])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """f*(x) ``(…, 1)`` of inputs ``(…, d)``."""
        k, d = self.w.shape
        hidden = torch.tanh(x @ self.w.to(x).T / math.sqrt(d))  # (…, k)
        return (hidden @ self.a.to(x) / math.sqrt(k)).unsqueeze(-1)


def tanh_teacher(n_in: int, hidden: int, *, generator: torch.Generator) -> TanhTeacher:
    """A teacher with `hidden` tanh units on `n_in` inputs, drawn from `generator`.

    Example:
        >>> t = tanh_teacher(16, 32, generator=torch.Generator().manual_seed(0))
        >>> t(torch.zeros(5, 16)).shape
        torch.Size([5, 1])
    """
    if n_in < 1 or hidden < 1:
        raise LmechError(f"need n_in >= 1 and hidden >= 1, got {n_in} and {hidden}")
    w = torch.randn(hidden, n_in, generator=generator, dtype=torch.float64)
    a = torch.randn(hidden, generator=generator, dtype=torch.float64)
    return TanhTeacher(w, a)
