"""Multitask sparse parity: many k-bit parity subtasks, used with Zipf frequencies.

An input is [one-hot control of n_tasks bits ‖ n_bits uniform random bits]. Subtask i has a
fixed random k-subset S_i of the data bits, distinct from every other subtask's (two
subtasks with one subset would be one quantum learned twice as often), and label
Σ_{j∈S_i} x_j mod 2; subtask i is drawn with probability p_i ∝ i^(−zipf_exponent).
(`zipf_exponent` is the Zipf exponent itself, the official code's `alpha`; the paper's α
is zipf_exponent − 1.)

Source: Michaud, Liu, Girit & Tegmark, NeurIPS 2023 (arXiv:2303.13506) §4;
docs/theory/scaling.md, §Multitask sparse parity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lmech.errors import LmechError

__all__ = ["SparseParityTasks", "multitask_sparse_parity"]


@dataclass(frozen=True)
class SparseParityTasks:
    """The subtasks: subsets ``(n_tasks, k)`` of data-bit indices, frequencies ``(n_tasks,)``."""

    subsets: torch.Tensor
    frequencies: torch.Tensor
    n_bits: int

    @property
    def n_tasks(self) -> int:
        return int(self.subsets.shape[0])

    def sample(
        self, batch: int, *, generator: torch.Generator, tasks: torch.Tensor | None = None,
        device: str | torch.device = "cpu",
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Inputs ``(B, n_tasks + n_bits)`` float32, labels ``(B,)`` long, subtask ``(B,)``.

        Subtasks are drawn from `frequencies` unless `tasks` ``(B,)`` fixes them.

        Raises:
            LmechError: `tasks` has the wrong shape or an index out of range.
        """
        if tasks is not None and tasks.shape != (batch,):
            raise LmechError(f"tasks must have shape ({batch},), got {tuple(tasks.shape)}")
        if tasks is not None and (tasks.min() < 0 or tasks.max() >= self.n_tasks):
            raise LmechError(f"tasks must be subtask indices in [0, {self.n_tasks})")
        if tasks is None:
            tasks = torch.multinomial(self.frequencies, batch, replacement=True,
                                      generator=generator)
        bits = torch.randint(0, 2, (batch, self.n_bits), generator=generator)
        labels = bits.gather(1, self.subsets[tasks]).sum(1) % 2
        control = torch.nn.functional.one_hot(tasks, self.n_tasks)
        x = torch.cat([control, bits], dim=1).float()
        return x.to(device), labels.to(device), tasks.to(device)


def multitask_sparse_parity(
    n_tasks: int, n_bits: int, k: int, zipf_exponent: float, *, generator: torch.Generator,
) -> SparseParityTasks:
    """Draw `n_tasks` random k-subsets of `n_bits` bits; frequencies p_i ∝ i^(−zipf_exponent).

    Raises:
        LmechError: k not in [1, n_bits], n_tasks < 1 or more than the C(n_bits, k) distinct
            subsets, or zipf_exponent < 0.

    Example:
        >>> t = multitask_sparse_parity(5, 8, 3, 1.4, generator=torch.Generator().manual_seed(0))
        >>> t.subsets.shape, round(float(t.frequencies.sum()), 6)
        (torch.Size([5, 3]), 1.0)
    """
    if not 1 <= k <= n_bits:
        raise LmechError(f"k must be in [1, n_bits={n_bits}], got {k}")
    if n_tasks < 1:
        raise LmechError(f"n_tasks must be >= 1, got {n_tasks}")
    if n_tasks > math.comb(n_bits, k):
        raise LmechError(f"n_tasks must be at most C(n_bits, k) = {math.comb(n_bits, k)} "
                         f"(distinct subsets), got {n_tasks}")
    if zipf_exponent < 0:
        raise LmechError(f"zipf_exponent must be >= 0, got {zipf_exponent}")
    subsets, seen = [], set()
    while len(subsets) < n_tasks:  # rejection: expected draws <= 2 n_tasks when n_tasks <= C/2
        s = torch.randperm(n_bits, generator=generator)[:k]
        key = frozenset(s.tolist())
        if key not in seen:
            seen.add(key)
            subsets.append(s)
    subsets = torch.stack(subsets)
    w = torch.arange(1, n_tasks + 1, dtype=torch.float64) ** -float(zipf_exponent)
    return SparseParityTasks(subsets=subsets, frequencies=w / w.sum(), n_bits=n_bits)
