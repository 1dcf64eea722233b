"""Training an ensemble: one functional step loop over stacked parameters.

Every member minimises its own loss; the gradient of the sum over members is each member's
own gradient, because members share no parameters. Step k of the loop:

    batch_k = the whole set, a per-member minibatch, or batch(k, streams)
    L_k = loss(forward(θ_k, batch_k), batch_k)                      (M,)
    g_k = ∇_θ Σ_m L_k,m      (autograd, or the hand-written kernels of `fused`)
    θ_{k+1}, state = optimizer.update(g_k, state, θ_k)
    every tracker observes (k, θ_k, L_k, g_k, θ_{k+1}, state, …)

and after the last update the trackers see θ_steps once more (``final``). Randomness comes
only from the run's `MemberStreams`: member i's minibatch order, fresh batches, masks and
noise are drawn from generators seeded by (seed, purpose, i), so its trajectory does not
depend on which other members train beside it.

A member whose loss or parameters become non-finite is frozen at its last finite
parameters and its step is recorded in `Trajectory.diverged_at`; the others are unaffected.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from lmech.ensemble.batches import BatchFn, FixedData, FreshData
from lmech.ensemble.fused import FusedGradient, fused_unsupported
from lmech.ensemble.optim import Optimizer
from lmech.ensemble.seeds import derive
from lmech.ensemble.stacked import Ensemble
from lmech.ensemble.streams import MemberStreams
from lmech.errors import LmechError
from lmech.measure.trackers import CurveTracker
from lmech.measure.tracking import Tracker, TrainingStep

__all__ = ["ENGINES", "LOSSES", "Trajectory", "cross_entropy", "mse", "train"]

ENGINES = ("auto", "autograd", "fused")

Params = dict[str, torch.Tensor]
Loss = Callable[[torch.Tensor, Any], torch.Tensor]
"""``loss(outputs, batch) -> (M,)``: one loss per member."""
Forward = Callable[[Params, Any], torch.Tensor]
"""``forward(params, batch) -> outputs``: every member's outputs on its batch."""
Observable = Callable[[Params, Any], torch.Tensor]


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
"""Losses by name: ``(pred (M, B, out), target (M, B, …)) -> (M,)``; the engine gives them
the batch's second entry as the target."""


@dataclass(frozen=True)
class Trajectory:
    """What was recorded every `every` steps (or at the steps listed); member axis first.

    Attributes:
        steps: ``(T,)`` the recorded steps (0 = before training; the last step always).
        loss: ``(M, T)`` training loss on the whole training set (on the step's batch when
            batches come from a callable).
        norms: parameter name → ``(M, T)`` Frobenius norm.
        observables: name → ``(M, T, …)`` user observables f(params, data).
        diverged_at: ``(M,)`` the step at which each member was frozen, −1 if never.
        tracked: tracker name → what that tracker's ``records()`` returned.
    """

    steps: torch.Tensor
    loss: torch.Tensor
    norms: dict[str, torch.Tensor]
    observables: dict[str, torch.Tensor]
    diverged_at: torch.Tensor
    tracked: dict[str, Any] = field(default_factory=dict)


def train(
    ensemble: Ensemble,
    inputs: torch.Tensor | None = None,
    targets: torch.Tensor | None = None,
    *,
    optimizer: Optimizer,
    steps: int,
    seed: int = 0,
    loss: str | Loss = "mse",
    batch_size: int | None = None,
    batch: BatchFn | None = None,
    forward: Forward | None = None,
    every: int | Collection[int] = 1,
    observables: Mapping[str, Observable] | None = None,
    trackers: Mapping[str, Tracker] | None = None,
    progress: Callable[[float], None] | None = None,
    engine: str = "auto",
    threads: int | str = "auto",
) -> Trajectory:
    """Train every member of `ensemble` (in place) and return what was recorded.

    Data come either as tensors (`inputs`, `targets`: the whole set every step, or
    minibatches of `batch_size`), or from ``batch(step, streams)`` called every step (fresh
    data, dropout masks, noise …; draw through `streams`, a `MemberStreams`, so that member
    i's draws depend only on (seed, purpose, i)).

    Args:
        inputs: ``(P, …)`` shared by every member, or ``(M, P, …)`` per member.
        targets: ``(P, …)`` or ``(M, P, …)`` (class ids for cross-entropy).
        optimizer: any object with ``init(params)`` and ``update(grads, state, params)``
            (`lmech.ensemble.optim.Optimizer`), e.g. `SGD`, `Adam`, `get_optimizer(…)`.
        steps: number of optimiser steps.
        seed: the run's seed: member i's streams derive from (seed, purpose, i).
        loss: "mse", "cross_entropy" (on the batch's second entry), or a function
            ``loss(outputs, batch) -> (M,)``.
        batch_size: with tensors: None for full batch, else minibatches (epochs of P//B).
        batch: instead of tensors, ``batch(step, streams) -> batch``.
        forward: ``forward(params, batch) -> outputs`` (e.g. a model that also reads a
            dropout mask or a diffusion time); default ``ensemble.forward(batch[0], params)``.
            With a custom forward the ensemble's template is never called (only its
            ``params`` and ``member_ids`` are used); fixed `inputs` must still have the
            template's input shape, so inputs of any other shape come from `batch`.
        every: record the loss, norms and observables every `every` steps (and at step 0
            and the last step), or at the steps of a collection (and the last step).
        observables: name → f(params, data) returning ``(M, …)``; data is
            ``(inputs, targets per member)`` with tensors, else the step's batch.
        trackers: name → a tracker (``observe(step)``, ``records()``; see
            `lmech.measure.tracking`); their records come back in `Trajectory.tracked`.
        progress: called with the fraction done about a hundred times.
        engine: "autograd" (any model, forward, loss, batching); "fused" (the hand-written
            kernels of `lmech.ensemble.fused`: an MLP with tanh, relu or linear σ, the
            default forward, MSE or cross-entropy; an LmechError otherwise); "auto" (fused
            when it applies, else autograd). Both give the same trajectories to rounding;
            every optimiser and tracker works with both.
        threads: torch's intra-op threads while training: "auto" uses one thread when a
            step is small (under `SMALL_STEP_FLOPS`, where a second thread only adds
            synchronisation and, beside a busy process, stalls every op) and the caller's
            setting otherwise; or an integer.

    Returns:
        the `Trajectory`; `ensemble.params` hold the trained parameters. A member frozen
        at step k (``diverged_at = k``) had a non-finite loss at step k or non-finite
        parameters after its update k; it keeps its parameters from before update k.

    Example:
        >>> from lmech.ensemble import SGD, init_ensemble
        >>> from lmech.models import MLPConfig
        >>> ens = init_ensemble(MLPConfig(n_in=2, width=8, depth=1), members=3, seed=0)
        >>> x = torch.randn(16, 2, generator=torch.Generator().manual_seed(0))
        >>> traj = train(ens, x, x[:, :1] ** 2, optimizer=SGD(lr=0.1), steps=20, every=10)
        >>> traj.steps.tolist(), traj.loss.shape
        ([0, 10, 20], torch.Size([3, 3]))
    """
    _check(optimizer, steps, engine, trackers)
    if threads != "auto" and (isinstance(threads, bool) or not isinstance(threads, int)
                              or threads < 1):
        raise LmechError(f"threads must be 'auto' or an integer >= 1, got {threads!r}")
    derive(seed, "data")  # checks the seed
    params = {k: v.detach() for k, v in ensemble.params.items()}
    streams = MemberStreams(seed, ensemble.member_ids,
                            device=next(iter(params.values())).device)
    source = _source(ensemble, inputs, targets, batch_size, batch, streams)
    problem = _Problem(ensemble, forward, loss, engine)
    curves = CurveTracker(every, observables)
    watchers = [curves, *(trackers or {}).values()]
    state = optimizer.init(params)
    alive = torch.ones(ensemble.members, dtype=torch.bool)
    diverged = torch.full((ensemble.members,), -1, dtype=torch.long)
    before = torch.get_num_threads()
    try:
        params, diverged = _loop(steps, progress, source, problem, optimizer, params, state,
                                 alive, diverged, watchers, streams, ensemble, threads)
    finally:
        torch.set_num_threads(before)
    ensemble.params = {k: v.detach() for k, v in params.items()}
    rec = curves.records()
    return Trajectory(steps=rec["steps"], loss=rec["loss"], norms=rec["norms"],
                      observables=rec["observables"], diverged_at=diverged,
                      tracked={k: t.records() for k, t in (trackers or {}).items()})


SMALL_STEP_FLOPS = 5e7
"""A training step under this many forward FLOPs (2 · rows · stacked parameters) runs on
one thread: measured on this kind of machine, two threads gain nothing there and, beside a
busy process, slow every small op 10–50×."""


def _step_threads(threads: int | str, params: Params, first_batch: Any, members: int) -> int:
    """The thread count for a run whose first batch is `first_batch` (see `train`)."""
    if threads == "auto":
        x = first_batch[0] if isinstance(first_batch, (tuple, list)) else first_batch
        rows = 1
        if isinstance(x, torch.Tensor) and x.dim() >= 1:
            rows = x.shape[1] if x.dim() >= 3 and x.shape[0] == members else x.shape[0]
        flops = 2 * rows * sum(p.numel() for p in params.values())
        n = 1 if flops < SMALL_STEP_FLOPS else torch.get_num_threads()
        return n
    if isinstance(threads, int) and not isinstance(threads, bool) and threads >= 1:
        return threads
    raise LmechError(f"threads must be 'auto' or an integer >= 1, got {threads!r}")


def _loop(steps, progress, source, problem, optimizer, params, state, alive, diverged,
          watchers, streams, ensemble, threads):
    """The step loop of `train`; returns the final parameters and the divergence steps."""
    report = max(1, steps // 100)
    for step in range(steps + 1):
        if progress is not None and step % report == 0 and step:
            progress(step / steps)
        b = source.batch(step)
        if step == 0:
            torch.set_num_threads(_step_threads(threads, params, b, ensemble.members))
        final = step == steps
        per_member, grads = problem.gradient(params, b, not final)
        new, new_state = (params, state) if final else optimizer.update(grads, state, params)
        if not final:
            new = _freeze_divergent(step, per_member, params, new, alive, diverged)
        view = TrainingStep(
            step=step, final=final, params=params, loss=per_member, batch=b,
            grads=None if final else grads, params_after=None if final else new,
            state=new_state, alive=alive.clone(), data=source.full,
            objective=problem.objective, evaluate=problem.evaluate, streams=streams,
            member_ids=list(ensemble.member_ids))
        for w in watchers:
            w.observe(view)
        params, state = new, new_state
    return params, diverged


class _Problem:
    """One run's objective ``loss(forward(params, batch), batch) -> (M,)`` and the gradient
    engines that evaluate it: one for the steps, one (with its own buffers) for losses on
    the whole set; each chosen on the first batch it sees."""

    def __init__(self, ensemble: Ensemble, forward: Forward | None, loss, engine: str) -> None:
        self.ensemble = ensemble
        self.custom_forward = forward
        self.loss_fn, self.loss_name = _loss(loss)
        self.forward = forward if forward is not None else self._forward
        self.engine = engine
        self._steps = self._whole = None

    def _forward(self, params: Params, batch: Any) -> torch.Tensor:
        return self.ensemble.forward(batch[0], params)

    def objective(self, params: Params, batch: Any) -> torch.Tensor:
        return self.loss_fn(self.forward(params, batch), batch)

    def _engine(self, engine: str, batch: Any):
        return _gradient(engine, self.ensemble, self.custom_forward, self.loss_name,
                         self.objective, batch, self.ensemble.members)

    def gradient(self, params: Params, batch: Any, backward: bool):
        """``(loss (M,), grads)``, grads None without `backward`."""
        if self._steps is None:
            self._steps = self._engine(self.engine, batch)
        return self._steps(params, batch, backward)

    def evaluate(self, params: Params, batch: Any) -> torch.Tensor:
        """``(M,)`` the loss without gradients."""
        if self._whole is None:
            self._whole = self._engine("auto" if self.engine == "fused" else self.engine,
                                       batch)
        return self._whole(params, batch, False)[0]


def _check(optimizer, steps, engine, trackers) -> None:
    if not (callable(getattr(optimizer, "init", None)) and
            callable(getattr(optimizer, "update", None))):
        raise LmechError(f"optimizer must have init(params) and update(grads, state, params) "
                         f"(e.g. lmech.ensemble.SGD, Adam or get_optimizer(name)), got "
                         f"{type(optimizer).__name__}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise LmechError(f"steps must be an integer >= 0, got {steps!r}")
    if engine not in ENGINES:
        raise LmechError(f"engine must be one of {ENGINES}, got {engine!r}")
    for name, t in (trackers or {}).items():
        if not isinstance(t, Tracker):
            raise LmechError(f"trackers[{name!r}] must have observe(step) and records(), got "
                             f"{type(t).__name__}")


def _source(ensemble, inputs, targets, batch_size, batch, streams):
    if batch is not None:
        if inputs is not None or targets is not None or batch_size is not None:
            raise LmechError("give either inputs and targets (with an optional batch_size) "
                             "or a batch callable, not both")
        return FreshData(batch, streams)
    if inputs is None or targets is None:
        raise LmechError("give inputs and targets, or a batch callable batch(step, streams)")
    return FixedData(ensemble, inputs, targets, batch_size, streams)


def _loss(loss) -> tuple[Loss, str | None]:
    """The loss as ``(outputs, batch) -> (M,)``, and its name if it is a named one."""
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise LmechError(f"unknown loss {loss!r}; known: {', '.join(LOSSES)} or a "
                             f"callable loss(outputs, batch)")
        fn = LOSSES[loss]
        return (lambda out, b: fn(out, b[1])), loss
    if callable(loss):
        return loss, None
    raise LmechError(f"loss must be one of {', '.join(LOSSES)} or a callable loss(outputs, "
                     f"batch), got {type(loss).__name__}")


def _gradient(engine, ensemble, forward, loss_name, objective, batch, members):
    """``gradient(params, batch, backward) -> (loss (M,), grads or None)``, by the fused
    kernels when `engine` allows and they apply to this first batch, else by autograd."""
    if engine != "autograd":
        reason = ("a custom forward is given" if forward is not None else
                  "the loss is not 'mse' or 'cross_entropy' by name" if loss_name is None else
                  fused_unsupported(ensemble, batch, loss_name))
        if reason is None:
            return FusedGradient(ensemble, loss_name)
        if engine == "fused":
            raise LmechError(f"engine='fused' cannot run this training: {reason}")

    def autograd(params: Params, b: Any, backward: bool):
        if not backward:
            with torch.no_grad():
                return _per_member(objective(params, b), members), None
        p = {k: v.detach().requires_grad_() for k, v in params.items()}
        per = _per_member(objective(p, b), members)
        grads = torch.autograd.grad(per.sum(), list(p.values()), materialize_grads=True)
        return per.detach(), dict(zip(p, grads, strict=True))

    return autograd


def _per_member(loss: torch.Tensor, members: int) -> torch.Tensor:
    if not isinstance(loss, torch.Tensor) or tuple(loss.shape) != (members,):
        shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise LmechError(f"the loss must return one value per member, shape ({members},), "
                         f"got {shape}")
    return loss


def _finite(params: Params) -> torch.Tensor:
    """``(M,)`` True where every parameter of the member is finite."""
    ok = None
    for p in params.values():
        f = torch.isfinite(p.flatten(1).sum(-1))  # a non-finite entry makes the sum one
        ok = f if ok is None else ok & f
    return ok


def _freeze_divergent(step: int, loss: torch.Tensor, old: Params, new: Params,
                      alive: torch.Tensor, diverged: torch.Tensor) -> Params:
    """Flag members with a non-finite loss or new parameters (in `alive` and `diverged`,
    in place) and keep every frozen member at its old parameters."""
    with torch.no_grad():
        bad = alive & ~(torch.isfinite(loss).cpu() & _finite(new).cpu())
        if bad.any():
            diverged[bad] = step
            alive &= ~bad
        return new if bool(alive.all()) else _freeze(alive, old, new)


def _freeze(alive: torch.Tensor, old: Params, new: Params) -> Params:
    """Frozen members keep their old parameters (their optimiser state no longer matters)."""
    return {k: torch.where(alive.to(p.device).view(-1, *([1] * (p.dim() - 1))), p, old[k])
            for k, p in new.items()}
