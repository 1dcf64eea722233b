"""Training an ensemble: full batch or minibatch, observables on a schedule, divergence.

Every member minimises its own loss; the gradient of the sum over members is each member's
own gradient, because members share no parameters. Minibatches follow a per-member order:
member i shuffles the training set each epoch with a generator seeded by (seed, i), so its
trajectory does not depend on which other members train beside it.

A member whose loss or parameters become non-finite is frozen at its last finite
parameters and its step is recorded in `Trajectory.diverged_at`; the others are unaffected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lmech.ensemble.fused import fused_unsupported, train_fused
from lmech.ensemble.optim import SGD, Adam
from lmech.ensemble.stacked import Ensemble, member_seed
from lmech.errors import LmechError

__all__ = ["ENGINES", "LOSSES", "Trajectory", "train"]

ENGINES = ("auto", "autograd", "fused")

Params = dict[str, torch.Tensor]
Observable = Callable[[Params, tuple[torch.Tensor, torch.Tensor]], torch.Tensor]


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per member mean over samples and outputs of (f − y)² (torch's MSELoss): ``(M,)``."""
    return (pred - target).square().flatten(1).mean(-1)


def cross_entropy(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per member mean over samples of −log softmax(f)_y; target ``(M, B)`` class ids."""
    m, b, c = pred.shape
    return F.cross_entropy(pred.reshape(m * b, c), target.reshape(m * b),
                           reduction="none").view(m, b).mean(-1)


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mse": mse, "cross_entropy": cross_entropy,
}
"""Losses by name: ``(pred (M, B, out), target (M, B, …)) -> (M,)``."""


@dataclass(frozen=True)
class Trajectory:
    """What was recorded every `every` steps; member axis first.

    Attributes:
        steps: ``(T,)`` the recorded steps (0 = before training, and the last step).
        loss: ``(M, T)`` training loss on the full training set.
        norms: parameter name → ``(M, T)`` Frobenius norm.
        observables: name → ``(M, T, …)`` user observables f(params, (x, y)).
        diverged_at: ``(M,)`` the step at which each member was frozen, −1 if never.
    """

    steps: torch.Tensor
    loss: torch.Tensor
    norms: dict[str, torch.Tensor]
    observables: dict[str, torch.Tensor]
    diverged_at: torch.Tensor


def train(
    ensemble: Ensemble,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    optimizer: SGD | Adam,
    steps: int,
    seed: int = 0,
    loss: str | Callable = "mse",
    batch_size: int | None = None,
    every: int = 1,
    observables: dict[str, Observable] | None = None,
    progress: Callable[[float], None] | None = None,
    engine: str = "auto",
) -> Trajectory:
    """Train every member of `ensemble` (in place) and return what was recorded.

    Args:
        inputs: ``(P, …)`` shared by every member, or ``(M, P, …)`` per member.
        targets: ``(P, …)`` or ``(M, P, …)`` (class ids for cross-entropy).
        optimizer: an `SGD` or `Adam` (see `lmech.ensemble.optim`).
        steps: number of optimiser steps.
        seed: member i's data order depends only on (seed, i).
        loss: "mse", "cross_entropy", or a function ``(pred, target) -> (M,)``.
        batch_size: None for full batch, else minibatches of this size (epochs of P//B).
        every: record every `every` steps (and at step 0 and the last step).
        observables: name → f(params, (inputs, targets)) returning ``(M, …)``; the
            inputs are as given (shared or per member), the targets per member.
        progress: called with the fraction done about a hundred times.
        engine: "autograd" (any model, loss, optimiser, batching); "fused" (hand-written
            forward and backward of `lmech.ensemble.fused`: an MLP with tanh, relu or
            linear σ, full batch, MSE, SGD; an LmechError otherwise); "auto" (fused
            when it applies, else autograd). Both give the same trajectories to rounding.

    Returns:
        the `Trajectory`; `ensemble.params` hold the trained parameters. A member frozen
        at step k (``diverged_at = k``) had a non-finite loss at step k or non-finite
        parameters after its update k; it keeps its parameters from before update k.
    """
    loss_fn = _check(ensemble, inputs, targets, optimizer, steps, loss, batch_size, every)
    data = _Data(ensemble, inputs, targets, batch_size, seed)
    record = _Recorder(observables or {})
    if _use_fused(engine, ensemble, inputs, targets, optimizer, loss_fn, batch_size):
        def add(step, per_member, params):
            kept = {k: v.clone() for k, v in params.items()} if observables else params
            record.add(step, per_member.clone(), kept, data.full)

        params, diverged = train_fused(ensemble, inputs, targets, optimizer=optimizer,
                                       steps=steps, every=every, record=add,
                                       progress=progress)
        ensemble.params = params
        return record.trajectory(diverged)
    params = {k: v.detach() for k, v in ensemble.params.items()}
    state = optimizer.init(params)
    alive = torch.ones(ensemble.members, dtype=torch.bool)
    diverged = torch.full((ensemble.members,), -1, dtype=torch.long)
    report = max(1, steps // 100)
    for step in range(steps + 1):
        if progress is not None and step % report == 0 and step:
            progress(step / steps)
        batch = data.batch(step)
        params = {k: v.requires_grad_() for k, v in params.items()}
        per_member = loss_fn(ensemble.forward(batch[0], params), batch[1])  # (M,)
        if step % every == 0 or step == steps:
            full = per_member if batch_size is None else _full_loss(ensemble, data, params,
                                                                    loss_fn)
            record.add(step, full.detach(), params, data.full)
        if step == steps:
            break
        grads = torch.autograd.grad(per_member.sum(), list(params.values()))
        with torch.no_grad():
            old = {k: v.detach() for k, v in params.items()}
            new, new_state = optimizer.update(dict(zip(old, grads, strict=True)), state, old)
            bad = alive & ~(torch.isfinite(per_member.detach()) & _finite(new))
            if bad.any():
                diverged[bad] = step
                alive &= ~bad
            if not alive.all():
                new = _freeze(alive, old, new)
            params, state = new, new_state
    ensemble.params = {k: v.detach() for k, v in params.items()}
    return record.trajectory(diverged)


def _check(ensemble, inputs, targets, optimizer, steps, loss, batch_size, every):
    if not isinstance(optimizer, (SGD, Adam)):
        raise LmechError(f"optimizer must be an SGD or Adam from lmech.ensemble (or use "
                         f"get_optimizer), got {type(optimizer).__name__}")
    for name, v, low in (("steps", steps, 0), ("every", every, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise LmechError(f"{name} must be an integer >= {low}, got {v!r}")
    rows = inputs.shape[:2] if ensemble.check_inputs(inputs) else inputs.shape[:1]
    n = rows[-1]
    if not isinstance(targets, torch.Tensor) or tuple(targets.shape[:len(rows)]) != tuple(rows):
        shape = tuple(targets.shape) if isinstance(targets, torch.Tensor) else type(targets)
        raise LmechError(f"targets must start with the inputs' leading shape {tuple(rows)} "
                         f"(per member if the inputs are), got {shape}")
    if batch_size is not None and (not isinstance(batch_size, int) or not 1 <= batch_size <= n):
        raise LmechError(f"batch_size must be None or an integer in 1..{n}, got {batch_size!r}")
    if callable(loss):
        return loss
    if loss not in LOSSES:
        raise LmechError(f"unknown loss {loss!r}; known: {', '.join(LOSSES)} or a callable")
    return LOSSES[loss]


def _use_fused(engine, ensemble, inputs, targets, optimizer, loss_fn, batch_size) -> bool:
    if engine not in ENGINES:
        raise LmechError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine == "autograd":
        return False
    reason = ("the loss is not 'mse'" if loss_fn is not mse else
              "minibatches (batch_size is not None)" if batch_size is not None else
              fused_unsupported(ensemble, inputs, targets, optimizer))
    if reason is not None and engine == "fused":
        raise LmechError(f"engine='fused' cannot run this training: {reason}")
    return reason is None


class _Data:
    """Full-batch data, or per-member minibatches in a per-member shuffled order."""

    def __init__(self, ensemble, inputs, targets, batch_size, seed) -> None:
        self.per_member = ensemble.check_inputs(inputs)
        m = ensemble.members
        self.x = inputs if self.per_member else inputs.expand(m, *inputs.shape)
        self.y = targets if self.per_member else targets.expand(m, *targets.shape)
        self.full = (inputs, self.y)
        self.batch_size = batch_size
        n = self.x.shape[1]
        self.per_epoch = None if batch_size is None else n // batch_size
        self.gens = None if batch_size is None else [
            torch.Generator().manual_seed(member_seed(seed, i, "data"))
            for i in ensemble.member_ids
        ]
        self.order = None

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.batch_size is None:
            return self.full
        k = step % self.per_epoch
        if k == 0:
            n = self.x.shape[1]
            self.order = torch.stack([torch.randperm(n, generator=g) for g in self.gens])
        idx = self.order[:, k * self.batch_size:(k + 1) * self.batch_size]  # (M, B)
        return _take(self.x, idx), _take(self.y, idx)


def _take(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Rows ``idx (M, B)`` of ``t (M, P, …)`` → ``(M, B, …)``."""
    view = idx.view(*idx.shape, *([1] * (t.dim() - 2))).to(t.device)
    return torch.take_along_dim(t, view.expand(-1, -1, *t.shape[2:]), dim=1)


def _full_loss(ensemble, data, params, loss_fn) -> torch.Tensor:
    with torch.no_grad():
        return loss_fn(ensemble.forward(data.full[0], params), data.full[1])


def _finite(params: Params) -> torch.Tensor:
    """``(M,)`` True where every parameter of the member is finite."""
    ok = None
    for p in params.values():
        f = torch.isfinite(p.flatten(1).sum(-1))  # a non-finite entry makes the sum one
        ok = f if ok is None else ok & f
    return ok


def _freeze(alive: torch.Tensor, old: Params, new: Params) -> Params:
    """Frozen members keep their old parameters (their optimiser state no longer matters)."""
    return {k: torch.where(alive.to(p.device).view(-1, *([1] * (p.dim() - 1))), p, old[k])
            for k, p in new.items()}


class _Recorder:
    def __init__(self, observables: dict[str, Observable]) -> None:
        self.observables = observables
        self.steps, self.loss = [], []
        self.norms: dict[str, list] = {}
        self.obs: dict[str, list] = {k: [] for k in observables}

    def add(self, step, loss, params, full) -> None:
        self.steps.append(step)
        self.loss.append(loss.detach().double().cpu())
        with torch.no_grad():
            for k, p in params.items():
                self.norms.setdefault(k, []).append(p.detach().flatten(1).norm(dim=-1).double()
                                                    .cpu())
            for k, f in self.observables.items():
                self.obs[k].append(f({n: p.detach() for n, p in params.items()}, full).cpu())

    def trajectory(self, diverged) -> Trajectory:
        def stack(xs):
            return torch.stack(xs, dim=1)

        return Trajectory(
            steps=torch.tensor(self.steps), loss=stack(self.loss),
            norms={k: stack(v) for k, v in self.norms.items()},
            observables={k: stack(v) for k, v in self.obs.items()},
            diverged_at=diverged,
        )
