"""Gaussian inputs with Gaussian random labels, one data set per ensemble member.

Member m's set is P inputs x ~ N(0, I_d) and labels y ~ N(0, s²), independent of x, drawn
in that order from the member's own generator (in an ensemble, seeded by
``derive(seed, "data", i)``, so that the set does not depend on the other members).
Random labels have no structure to learn: a network fits them by memorising, and its
curvature grows while it does (progressive sharpening; Cohen et al., ICLR 2021,
arXiv:2103.00065, §3).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lmech.errors import LmechError

__all__ = ["gaussian_random_labels"]


def gaussian_random_labels(
    n_samples: int,
    input_dim: int,
    generators: Sequence[torch.Generator],
    *,
    label_scale: float = 1.0,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs ``(M, P, d)`` and labels ``(M, P, 1)``, member m's from ``generators[m]``.

    Example:
        >>> gens = [torch.Generator().manual_seed(s) for s in (1, 2)]
        >>> x, y = gaussian_random_labels(5, 3, gens)
        >>> x.shape, y.shape
        (torch.Size([2, 5, 3]), torch.Size([2, 5, 1]))
    """
    for name, value in (("n_samples", n_samples), ("input_dim", input_dim)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise LmechError(f"{name} must be an integer >= 1, got {value!r}")
    if not generators or not all(isinstance(g, torch.Generator) for g in generators):
        raise LmechError("generators must be a non-empty list of torch.Generator, one per "
                         "member")
    if not label_scale > 0:
        raise LmechError(f"label_scale must be > 0, got {label_scale!r}")
    xs, ys = [], []
    for gen in generators:
        xs.append(torch.randn(n_samples, input_dim, generator=gen, dtype=dtype))
        ys.append(label_scale * torch.randn(n_samples, 1, generator=gen, dtype=dtype))
    return torch.stack(xs).to(device), torch.stack(ys).to(device)
