"""Per-member random streams for what a training step draws: fresh data, masks, noise.

`MemberStreams` holds, for each purpose used, one generator per member, member i's seeded
by ``derive(seed, purpose, i)`` (`lmech.ensemble.seeds`). A draw for the ensemble stacks
one draw per member on a leading axis, each from that member's own generator, on the CPU
(then moved to `device`), so member i's draws are the same numbers in an ensemble of any
size and on any device.

Example:
    >>> streams = MemberStreams(seed=0, member_ids=[0, 5])
    >>> mask = streams.rand("dropout", 4, 3) < 0.9  # (M, 4, 3)
    >>> alone = MemberStreams(seed=0, member_ids=[5])
    >>> torch.equal(mask[1], (alone.rand("dropout", 4, 3) < 0.9)[0])
    True
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lmech.ensemble.seeds import derive

__all__ = ["MemberStreams"]


class MemberStreams:
    """One generator per (purpose, member), created on first use and then kept.

    Args:
        seed: the run's seed.
        member_ids: the ids i of the members, in ensemble order.
        device: where stacked draws are returned (they are drawn on the CPU).
    """

    def __init__(self, seed: int, member_ids: Sequence[int],
                 device: str | torch.device = "cpu") -> None:
        self.seed = seed
        self.member_ids = list(member_ids)
        self.device = device
        self._generators: dict[str, list[torch.Generator]] = {}

    @property
    def members(self) -> int:
        return len(self.member_ids)

    def generators(self, purpose: str) -> list[torch.Generator]:
        """The ``(M,)`` generators of `purpose`, member i's seeded by (seed, purpose, i)."""
        if purpose not in self._generators:
            self._generators[purpose] = [
                torch.Generator().manual_seed(derive(self.seed, purpose, int(i)))
                for i in self.member_ids
            ]
        return self._generators[purpose]

    def _stack(self, draws: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack(draws).to(self.device)

    def randn(self, purpose: str, *shape: int, dtype: torch.dtype = torch.float32
              ) -> torch.Tensor:
        """Standard normals ``(M, *shape)``, row i from member i's stream."""
        return self._stack([torch.randn(shape, generator=g, dtype=dtype)
                            for g in self.generators(purpose)])

    def rand(self, purpose: str, *shape: int, dtype: torch.dtype = torch.float32
             ) -> torch.Tensor:
        """Uniforms on [0, 1) ``(M, *shape)``, row i from member i's stream."""
        return self._stack([torch.rand(shape, generator=g, dtype=dtype)
                            for g in self.generators(purpose)])

    def randint(self, purpose: str, high: int, *shape: int) -> torch.Tensor:
        """Integers in [0, high) ``(M, *shape)`` (int64), row i from member i's stream."""
        return self._stack([torch.randint(high, shape, generator=g)
                            for g in self.generators(purpose)])

    def randperm(self, purpose: str, n: int) -> torch.Tensor:
        """A permutation of 0 … n−1 per member, ``(M, n)`` (int64)."""
        return self._stack([torch.randperm(n, generator=g) for g in self.generators(purpose)])
