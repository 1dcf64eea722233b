"""Function composition: apply a chosen composition of token-string functions to an input.

There are `n_functions` fixed random bijections of a vocabulary of `vocab` tokens, each
acting token-wise on a string of `length` tokens. A sample is [function tokens ‖ input
string] with target F_{i_L}(…F_{i_1}(x)) for a composition (i_1, …, i_L). Train/test
splits are over compositions: a model trained on some compositions is tested on unseen
ones built from the same functions.

Source: Ramesh, Lubana, Khona, Dick & Tanaka, "Compositional capabilities of
autoregressive transformers: a study on synthetic, interpretable tasks", ICML 2024
(arXiv:2311.12997) §3.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch

from lmech.errors import LmechError

__all__ = ["CompositionTask", "function_composition"]


@dataclass(frozen=True)
class CompositionTask:
    """Token maps ``(n_functions, vocab)`` (a permutation each) and the string length."""

    maps: torch.Tensor
    length: int

    @property
    def n_functions(self) -> int:
        return int(self.maps.shape[0])

    @property
    def vocab(self) -> int:
        return int(self.maps.shape[1])

    def compositions(self, depth: int) -> torch.Tensor:
        """Every composition of `depth` functions, ``(n_functions^depth, depth)`` long."""
        return torch.tensor(list(itertools.product(range(self.n_functions), repeat=depth)))

    def split(self, depth: int, test_fraction: float, *, generator: torch.Generator
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """(train, test) compositions of `depth`: a random `test_fraction` held out."""
        if not 0 < test_fraction < 1:
            raise LmechError(f"test_fraction must be in (0, 1), got {test_fraction}")
        every = self.compositions(depth)
        order = torch.randperm(len(every), generator=generator)
        n_test = max(1, int(round(test_fraction * len(every))))
        return every[order[n_test:]], every[order[:n_test]]

    def sample(self, compositions: torch.Tensor, batch: int, *, generator: torch.Generator
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sequences ``(B, depth + length)`` (function tokens offset by `vocab`, then the
        input) and targets ``(B, length)``, for compositions drawn uniformly from the rows."""
        pick = compositions[torch.randint(len(compositions), (batch,), generator=generator)]
        x = torch.randint(self.vocab, (batch, self.length), generator=generator)
        y = x
        for step in range(pick.shape[1]):
            y = self.maps[pick[:, step, None], y]
        return torch.cat([pick + self.vocab, x], dim=1), y

    def prompts(self, compositions: torch.Tensor, batch: int, *, step_by_step: bool,
                generator: torch.Generator) -> torch.Tensor:
        """Autoregressive sequences ``(B, depth + length·(1 + k))`` for compositions drawn
        uniformly from the rows: function tokens (offset by `vocab`), the input x, then
        every intermediate F_{i_1}(x), F_{i_2}(F_{i_1}(x)), … up to the answer
        (step by step, k = depth) or the answer alone (direct, k = 1). The answer is the
        last `length` tokens. Draws as `sample` does, so both give the same x and answer.

        Example:
            >>> t = function_composition(3, 5, 4, generator=torch.Generator().manual_seed(0))
            >>> g = torch.Generator().manual_seed(1)
            >>> t.prompts(t.compositions(2), 7, step_by_step=True, generator=g).shape
            torch.Size([7, 14])
        """
        pick = compositions[torch.randint(len(compositions), (batch,), generator=generator)]
        x = torch.randint(self.vocab, (batch, self.length), generator=generator)
        parts, y = [pick + self.vocab, x], x
        for step in range(pick.shape[1]):
            y = self.maps[pick[:, step, None], y]
            if step_by_step or step == pick.shape[1] - 1:
                parts.append(y)
        return torch.cat(parts, dim=1)


def function_composition(n_functions: int, vocab: int, length: int, *,
                         generator: torch.Generator) -> CompositionTask:
    """`n_functions` random token-wise bijections of `vocab` tokens.

    Example:
        >>> t = function_composition(4, 10, 6, generator=torch.Generator().manual_seed(0))
        >>> t.compositions(2).shape
        torch.Size([16, 2])
    """
    if n_functions < 1 or vocab < 2 or length < 1:
        raise LmechError("need n_functions >= 1, vocab >= 2 and length >= 1")
    maps = torch.stack([torch.randperm(vocab, generator=generator) for _ in range(n_functions)])
    return CompositionTask(maps=maps, length=length)
