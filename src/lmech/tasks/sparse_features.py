"""Sparse features: x_i = a_i u_i with a_i ~ Bernoulli(p_i) and u_i ~ U[0, scale], independent.

The data of the toy models of superposition (Elhage et al. 2022: p_i = 1 − S, scale 1;
Liu, Liu & Gore 2025: p_i a power law of the feature's rank, scale 2).
`sparse_feature_batch` draws a fresh batch for every member of an ensemble from its own
streams (`lmech.ensemble.MemberStreams`); `sparse_features` draws one shared set from one
generator (a test set).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from lmech.errors import LmechError

if TYPE_CHECKING:  # tasks sit below the engine: the streams are passed in, never imported
    from lmech.ensemble.streams import MemberStreams

__all__ = ["sparse_feature_batch", "sparse_features"]


def _check(active: torch.Tensor, n: int) -> None:
    if active.shape[-1] != n or torch.any(active < 0) or torch.any(active > 1):
        raise LmechError(f"active probabilities must lie in [0, 1] with last axis n = {n}, "
                         f"got shape {tuple(active.shape)}")


def sparse_feature_batch(streams: MemberStreams, batch: int, active: torch.Tensor, *,
                         scale: float = 1.0, purpose: str = "batch") -> torch.Tensor:
    """``(M, batch, n)`` fresh features, member i's from its own `purpose` stream.

    Args:
        active: the probability that each feature is non-zero, ``(n,)`` or ``(M, n)``.
        scale: a non-zero feature is uniform on [0, scale].

    Example:
        >>> from lmech.ensemble import MemberStreams
        >>> streams = MemberStreams(seed=0, member_ids=[0, 1])
        >>> x = sparse_feature_batch(streams, 5, torch.tensor([1.0, 0.0, 0.5]))
        >>> x.shape, bool((x[..., 1] == 0).all())
        (torch.Size([2, 5, 3]), True)
    """
    n = active.shape[-1]
    _check(active, n)
    u = streams.rand(purpose, batch, 2 * n)  # (M, B, 2n): who is active, and how much
    on = u[..., :n] < active.to(u.device).unsqueeze(-2)
    return on * u[..., n:] * scale


def sparse_features(generator: torch.Generator, count: int, active: torch.Tensor, *,
                    scale: float = 1.0) -> torch.Tensor:
    """``(count, n)`` features drawn from one generator (on the CPU), e.g. a test set."""
    n = active.shape[-1]
    _check(active, n)
    u = torch.rand(count, 2 * n, generator=generator)
    return (u[:, :n] < active.cpu()) * u[:, n:] * scale
