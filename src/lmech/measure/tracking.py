"""What a tracker sees of ensemble training, and the protocol a tracker follows.

`lmech.ensemble.train` calls every tracker's ``observe(step)`` once per step with a
`TrainingStep`, then its ``records()`` at the end; a tracker decides itself which steps
it measures (its cadence). Any object with these two methods is a tracker: the loss and
norm curves, the step geometry of Noether charges and the ensemble sharpness in
`lmech.measure` are three.

The tensors of a `TrainingStep` are the engine's live buffers: a tracker reads them during
``observe`` and copies what it keeps (the fused engine reuses its gradient buffers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch

from lmech.errors import LmechError

__all__ = ["Tracker", "TrainingStep", "on_cadence"]

Params = dict[str, torch.Tensor]


@dataclass(frozen=True)
class TrainingStep:
    """Step k of training M networks at once; member axis first everywhere.

    Attributes:
        step: k (0 before the first update; ``steps`` at the final observation).
        final: True at the final observation, where no update follows (no gradients).
        params: θ_k, name → ``(M, …)``.
        loss: ``(M,)`` the loss of step k's batch at θ_k.
        batch: step k's batch (what the forward and the loss read).
        grads: ∇L_k(θ_k), name → ``(M, …)``; None when `final`.
        params_after: θ_{k+1}, name → ``(M, …)`` (a frozen member keeps θ_k); None when
            `final`.
        state: the optimiser's state after update k (its current state when `final`).
        alive: ``(M,)`` bool, the members not frozen by divergence (after update k).
        data: the whole training set (fixed data), or None (fresh batches every step).
        objective: ``objective(params, batch) -> (M,)`` per-member loss, differentiable
            in params (for Hessians, …).
        evaluate: ``evaluate(params, batch) -> (M,)`` the same loss without gradients, by
            the engine's fastest path (for full-set losses).
        streams: the run's per-member random streams (`lmech.ensemble.MemberStreams`);
            trackers draw from their own purpose (e.g. "probe").
        member_ids: the ids i of the members.
    """

    step: int
    final: bool
    params: Params
    loss: torch.Tensor
    batch: Any
    grads: Params | None
    params_after: Params | None
    state: Any
    alive: torch.Tensor
    data: Any
    objective: Callable[[Params, Any], torch.Tensor]
    evaluate: Callable[[Params, Any], torch.Tensor]
    streams: Any
    member_ids: list[int]


@runtime_checkable
class Tracker(Protocol):
    """Observes training at its own cadence; ``records()`` returns what it measured."""

    def observe(self, step: TrainingStep) -> None:
        """Look at step k (read now, copy what is kept)."""

    def records(self) -> Any:
        """Everything measured, member axis first."""


def on_cadence(step: int, every: int, start: int = 0) -> bool:
    """True for steps start, start + every, start + 2·every, …

    Example:
        >>> [k for k in range(10) if on_cadence(k, 4, start=1)]
        [1, 5, 9]
    """
    return step >= start and (step - start) % every == 0


def check_every(every: int, name: str = "every") -> int:
    """`every` if it is an integer >= 1, else an LmechError naming it."""
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise LmechError(f"{name} must be an integer >= 1, got {every!r}")
    return every
