"""Where each training step's batch comes from: fixed tensors, or a callable per step.

- `FixedData`: a training set given as tensors, used whole every step (full batch), or in
  minibatches in a per-member order: member i reshuffles the set each epoch with its own
  generator, seeded by ``derive(seed, "data", i)``.
- `FreshData`: ``batch(step, streams)`` called every step; `streams` (a `MemberStreams`)
  gives member i its own generators per purpose, so fresh data, dropout masks and noise
  drawn through it depend only on (seed, purpose, i).

Either way member i's batches do not depend on which other members train beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from lmech.ensemble.stacked import Ensemble
from lmech.ensemble.streams import MemberStreams
from lmech.errors import LmechError

__all__ = ["BatchFn", "FixedData", "FreshData"]

BatchFn = Callable[[int, MemberStreams], Any]
"""``batch(step, streams) -> batch``: what `forward` and the loss of step `step` read."""


class FixedData:
    """The set (inputs, targets), whole or in per-member shuffled minibatches.

    Attributes:
        full: ``(inputs, targets)``, the inputs as given (shared ``(P, …)`` or per member
            ``(M, P, …)``), the targets per member ``(M, P, …)`` (a view when shared).
    """

    def __init__(self, ensemble: Ensemble, inputs: torch.Tensor, targets: torch.Tensor,
                 batch_size: int | None, streams: MemberStreams) -> None:
        per_member = ensemble.check_inputs(inputs)
        rows = inputs.shape[:2] if per_member else inputs.shape[:1]
        if not isinstance(targets, torch.Tensor) or \
                tuple(targets.shape[:len(rows)]) != tuple(rows):
            shape = tuple(targets.shape) if isinstance(targets, torch.Tensor) else \
                type(targets).__name__
            raise LmechError(f"targets must start with the inputs' leading shape {tuple(rows)}"
                             f" (per member if the inputs are), got {shape}")
        n = rows[-1]
        if batch_size is not None and (isinstance(batch_size, bool) or
                                       not isinstance(batch_size, int) or
                                       not 1 <= batch_size <= n):
            raise LmechError(f"batch_size must be None or an integer in 1..{n}, got "
                             f"{batch_size!r}")
        m = ensemble.members
        self.x = inputs if per_member else inputs.expand(m, *inputs.shape)
        self.y = targets if per_member else targets.expand(m, *targets.shape)
        self.full = (inputs, self.y)
        self.batch_size = batch_size
        self.per_epoch = None if batch_size is None else n // batch_size
        self.streams = streams
        self.order: torch.Tensor | None = None

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole set, or step `step`'s minibatch ``(M, B, …)`` of each member."""
        if self.batch_size is None:
            return self.full
        k = step % self.per_epoch
        if k == 0:
            self.order = self.streams.randperm("data", self.x.shape[1]).cpu()  # (M, P)
        idx = self.order[:, k * self.batch_size:(k + 1) * self.batch_size]  # (M, B)
        return take_rows(self.x, idx), take_rows(self.y, idx)


class FreshData:
    """A new batch every step from ``batch(step, streams)``; no fixed training set."""

    full = None

    def __init__(self, batch: BatchFn, streams: MemberStreams) -> None:
        if not callable(batch):
            raise LmechError(f"batch must be a callable batch(step, streams), got "
                             f"{type(batch).__name__}")
        self.fn = batch
        self.streams = streams

    def batch(self, step: int) -> Any:
        return self.fn(step, self.streams)


def take_rows(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Rows ``idx (M, B)`` of ``t (M, P, …)`` → ``(M, B, …)``."""
    view = idx.view(*idx.shape, *([1] * (t.dim() - 2))).to(t.device)
    return torch.take_along_dim(t, view.expand(-1, -1, *t.shape[2:]), dim=1)
