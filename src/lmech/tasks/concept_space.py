"""A concept space: objects described by n concepts with k values each, some classes held out.

A class is a tuple (c_1, …, c_n) of concept values (e.g. shape, size, colour). An object
of that class is rendered as the vector x = Σ_j e_j[c_j] + σ ξ, where e_j[v] are fixed
random prototype vectors of dimension `dim` (unit norm) and ξ ~ N(0, I). The concept
distance of a class to a training set is the smallest number of concepts in which it
differs from a training class (the Hamming distance in concept space).

Source: Okawa, Lubana, Dick & Tanaka, NeurIPS 2023 (arXiv:2310.09336) §3 (concept space,
concept distance).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch

from lmech.errors import LmechError

__all__ = ["ConceptSpace", "concept_distance", "concept_space"]


@dataclass(frozen=True)
class ConceptSpace:
    """Prototypes ``(n_concepts, n_values, dim)`` of every concept value."""

    prototypes: torch.Tensor

    @property
    def n_concepts(self) -> int:
        return int(self.prototypes.shape[0])

    @property
    def n_values(self) -> int:
        return int(self.prototypes.shape[1])

    def classes(self) -> torch.Tensor:
        """Every class, ``(n_values^n_concepts, n_concepts)`` long, in lexicographic order."""
        rng = range(self.n_values)
        return torch.tensor(list(itertools.product(rng, repeat=self.n_concepts)))

    def split(self, held_out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(training classes, held-out classes): every class not in `held_out` is trained."""
        held_out = self._check(held_out)
        every = self.classes()
        out = (every[:, None, :] == held_out[None]).all(-1).any(-1)
        return every[~out], held_out

    def render(self, classes: torch.Tensor, *, noise: float = 0.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Objects of the given classes ``(B, n_concepts)`` -> ``(B, dim)``."""
        classes = self._check(classes)
        x = sum(self.prototypes[j, classes[:, j]] for j in range(self.n_concepts))
        if noise > 0:
            if generator is None:
                raise LmechError("rendering with noise needs a generator")
            x = x + noise * torch.randn(x.shape, generator=generator, dtype=x.dtype)
        return x

    def _check(self, classes: torch.Tensor) -> torch.Tensor:
        classes = torch.as_tensor(classes, dtype=torch.long)
        if classes.ndim != 2 or classes.shape[1] != self.n_concepts:
            raise LmechError(f"classes must have shape (B, {self.n_concepts}), got "
                             f"{tuple(classes.shape)}")
        if classes.min() < 0 or classes.max() >= self.n_values:
            raise LmechError(f"concept values must be in [0, {self.n_values})")
        return classes


def concept_space(n_concepts: int, n_values: int, dim: int, *,
                  generator: torch.Generator) -> ConceptSpace:
    """Random unit prototypes for each of n_concepts × n_values concept values.

    Example:
        >>> s = concept_space(3, 2, 16, generator=torch.Generator().manual_seed(0))
        >>> s.classes().shape
        torch.Size([8, 3])
    """
    if n_concepts < 1 or n_values < 2 or dim < 1:
        raise LmechError("need n_concepts >= 1, n_values >= 2 and dim >= 1")
    p = torch.randn(n_concepts, n_values, dim, generator=generator, dtype=torch.float64)
    return ConceptSpace(prototypes=p / p.norm(dim=-1, keepdim=True))


def concept_distance(test: torch.Tensor, train: torch.Tensor) -> torch.Tensor:
    """min over training classes of the number of differing concepts, ``(T,)`` long."""
    test, train = torch.as_tensor(test), torch.as_tensor(train)
    if train.numel() == 0:
        raise LmechError("the training set has no classes")
    return (test[:, None, :] != train[None]).sum(-1).min(-1).values
