"""Trackers of ensemble training: loss and norm curves, and the step geometry of Noether
charges, exact in float64, per member and per named parameter group.

`StepGeometry` records what the discrete Noether dynamics need (Kunin et al. 2021): for
update k of member m and a group A of parameters (sums over the group's tensors),

    theta_sq  ‖θ_k‖²            dot       ⟨θ_k, θ_{k+1}⟩      next_sq  ‖θ_{k+1}‖²
    step_sq   ‖θ_{k+1} − θ_k‖²   grad_sq   ‖g_k‖²              grad_dot ⟨g_k, θ_k⟩
    buffer_sq ‖v_{k+1}‖²         theta_sum ⟨θ_k, 1⟩

with g_k the loss gradient at θ_k and v_{k+1} the optimiser's momentum buffer after the
update (NaN when it keeps none). A scale charge is theta_sq of its group, a rescale charge
the difference of two groups', a translation charge theta_sum; the angular update is
arccos(dot/√(theta_sq·next_sq)). Every quantity is summed in float64 from float64 copies
of the tensors (exact products of float32 values), on a cadence, and/or accumulated over
per-member windows of steps [start_m, stop_m).

Source: D. Kunin, J. Sagastuy-Brena, S. Ganguli, D. L. K. Yamins, H. Tanaka, "Neural
Mechanics", ICLR 2021 (arXiv:2012.04728), §4–5; the exact discrete forms are in
`lmech.theory.noether`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from numbers import Integral
from typing import Any

import torch

from lmech.errors import LmechError
from lmech.measure.tracking import TrainingStep, check_every, on_cadence

__all__ = ["GEOMETRY", "CurveTracker", "StepGeometry"]

Params = dict[str, torch.Tensor]
Observable = Callable[[Params, Any], torch.Tensor]

GEOMETRY = ("theta_sq", "dot", "next_sq", "step_sq", "grad_sq", "grad_dot", "buffer_sq",
            "theta_sum")
"""The quantities `StepGeometry` records, in order."""


class CurveTracker:
    """The loss, every parameter's Frobenius norm and user observables, every `every` steps
    (or at the steps listed) and at the final step.

    The loss is that of the whole training set when there is one (a minibatch run pays one
    extra forward per record), else of the step's batch. An observable ``f(params, data)``
    returns ``(M, …)``; `data` is the whole training set, or the step's batch without one.

    Args:
        every: record at steps 0, every, 2·every, … and the last; or a collection of the
            steps to record (e.g. log-spaced), and the last.
        observables: name → f(params, data).

    Records: ``steps (T,)``, ``loss (M, T)`` float64, ``norms`` name → ``(M, T)`` float64,
    ``observables`` name → ``(M, T, …)``.
    """

    def __init__(self, every: int | Collection[int] = 1,
                 observables: Mapping[str, Observable] | None = None) -> None:
        self.every = every
        self._at = None if isinstance(every, int) and not isinstance(every, bool) and \
            check_every(every) else _step_set(every)
        self.observables = dict(observables or {})
        self._steps: list[int] = []
        self._loss: list[torch.Tensor] = []
        self._norms: dict[str, list[torch.Tensor]] = {}
        self._obs: dict[str, list[torch.Tensor]] = {k: [] for k in self.observables}

    def observe(self, s: TrainingStep) -> None:
        due = s.step in self._at if self._at is not None else on_cadence(s.step, self.every)
        if not (s.final or due):
            return
        with torch.no_grad():
            whole = s.data is not None and s.batch is not s.data
            loss = s.evaluate(s.params, s.data) if whole else s.loss
            self._steps.append(s.step)
            self._loss.append(loss.detach().double().cpu().clone())
            for k, p in s.params.items():
                self._norms.setdefault(k, []).append(
                    p.detach().flatten(1).norm(dim=-1).double().cpu())
            seen = s.data if s.data is not None else s.batch
            for k, f in self.observables.items():
                # a clone: an observable may return a live parameter buffer itself
                self._obs[k].append(f(s.params, seen).detach().clone().cpu())

    def records(self) -> dict[str, Any]:
        def stack(xs):
            return torch.stack(xs, dim=1)

        return {
            "steps": torch.tensor(self._steps, dtype=torch.long),
            "loss": stack(self._loss),
            "norms": {k: stack(v) for k, v in self._norms.items()},
            "observables": {k: stack(v) for k, v in self._obs.items()},
        }


Window = tuple[int | torch.Tensor, int | torch.Tensor]


class StepGeometry:
    """Float64 step geometry (see the module docstring) per member and parameter group.

    Args:
        groups: group name → parameter names (a group's quantities are sums over its
            tensors); None makes every parameter its own group.
        every: record every update k with k % every == 0; None records no steps (windows
            only).
        windows: name → (start, stop), each an int or an ``(M,)`` int tensor: sums over the
            updates start_m <= k < stop_m of member m.
        buffer: the key of the momentum buffers in the optimiser state (``(M, …)`` tensors
            by parameter name), as `lmech.ensemble.SGD` keeps them.

    Records: ``groups`` (names), ``steps (T,)``, each of `GEOMETRY` ``(M, T, G)`` float64,
    and ``windows`` name → {``count (M,)``, each of `GEOMETRY` ``(M, G)``}.

    Example:
        >>> geometry = StepGeometry({"hidden": ["layers.0.weight"]}, every=10)
    """

    def __init__(self, groups: Mapping[str, Sequence[str]] | None = None, *,
                 every: int | None = 1, windows: Mapping[str, Window] | None = None,
                 buffer: str = "momentum_buffer") -> None:
        self.groups = None if groups is None else {k: list(v) for k, v in groups.items()}
        self.every = None if every is None else check_every(every)
        self.windows = dict(windows or {})
        self.buffer = buffer
        self._steps: list[int] = []
        self._rows: list[torch.Tensor] = []
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, torch.Tensor] = {}
        self._layout: tuple[list[str], list[str], list[list[int]]] | None = None
        self._bounds: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def _prepare(self, s: TrainingStep) -> None:
        names = list(s.params)
        groups = self.groups if self.groups is not None else {k: [k] for k in names}
        if not groups:
            raise LmechError("StepGeometry needs at least one parameter group")
        members_of: list[list[int]] = []  # the parameter indices of each group
        for g, params in groups.items():
            if not params:
                raise LmechError(f"StepGeometry group {g!r} has no parameters")
            for p in params:
                if p not in s.params:
                    raise LmechError(f"StepGeometry group {g!r} names parameter {p!r}; the "
                                     f"parameters are: {', '.join(names)}")
            members_of.append([names.index(p) for p in params])
        m = s.loss.shape[0]
        for w, (start, stop) in self.windows.items():
            self._bounds[w] = (_bound(start, m, f"windows[{w!r}] start"),
                               _bound(stop, m, f"windows[{w!r}] stop"))
            self._sums[w] = torch.zeros(m, len(GEOMETRY), len(groups), dtype=torch.float64)
            self._counts[w] = torch.zeros(m, dtype=torch.long)
        self._layout = (names, list(groups), members_of)

    def observe(self, s: TrainingStep) -> None:
        if s.final:
            return
        if self._layout is None:
            self._prepare(s)
        record = self.every is not None and on_cadence(s.step, self.every)
        inside = {w: (lo <= s.step) & (s.step < hi) for w, (lo, hi) in self._bounds.items()}
        if not record and not any(bool(v.any()) for v in inside.values()):
            return
        values = self._values(s)  # (M, Q, G)
        if record:
            self._steps.append(s.step)
            self._rows.append(values)
        for w, mask in inside.items():
            self._sums[w] += torch.where(mask[:, None, None], values, 0.0)
            self._counts[w] += mask.long()

    def _values(self, s: TrainingStep) -> torch.Tensor:
        names, _, members_of = self._layout
        buffers = s.state.get(self.buffer) if isinstance(s.state, Mapping) else None
        per_param = []
        with torch.no_grad():
            for k in names:
                theta = s.params[k].detach().double().flatten(1)  # (M, n)
                after = s.params_after[k].detach().double().flatten(1)
                grad = s.grads[k].detach().double().flatten(1)
                row = [theta.square().sum(1), (theta * after).sum(1), after.square().sum(1),
                       (after - theta).square().sum(1), grad.square().sum(1),
                       (grad * theta).sum(1)]
                if buffers is None:
                    row.append(torch.full_like(row[0], float("nan")))
                else:
                    row.append(buffers[k].detach().double().flatten(1).square().sum(1))
                row.append(theta.sum(1))
                per_param.append(torch.stack(row, 1).cpu())  # (M, Q)
        return torch.stack([sum(per_param[i] for i in idx) for idx in members_of], -1)

    def records(self) -> dict[str, Any]:
        names = [] if self._layout is None else self._layout[1]
        out: dict[str, Any] = {"groups": names,
                               "steps": torch.tensor(self._steps, dtype=torch.long)}
        rows = torch.stack(self._rows, 1) if self._rows else \
            torch.zeros(0, 0, len(GEOMETRY), len(names), dtype=torch.float64)  # (M, T, Q, G)
        for q, name in enumerate(GEOMETRY):
            out[name] = rows[:, :, q]
        out["windows"] = {
            w: {"count": self._counts[w],
                **{name: self._sums[w][:, q] for q, name in enumerate(GEOMETRY)}}
            for w in self._sums
        }
        return out


def _step_set(steps) -> frozenset[int]:
    """`steps` as a set of step numbers, or an LmechError naming `every`."""
    items = list(steps) if isinstance(steps, Collection) and not isinstance(steps, str) \
        else []
    if not items or any(isinstance(k, bool) or not isinstance(k, Integral) or k < 0
                        for k in items):
        raise LmechError(f"every must be an integer >= 1 or a non-empty collection of step "
                         f"numbers >= 0, got {steps!r}")
    return frozenset(int(k) for k in items)


def _bound(value: int | torch.Tensor, members: int, name: str) -> torch.Tensor:
    t = torch.as_tensor(value).cpu()
    if t.is_floating_point() or t.dim() > 1 or (t.dim() == 1 and t.shape[0] != members):
        raise LmechError(f"{name} must be an int or an (M,) int tensor with M = {members}, "
                         f"got {value!r}")
    return t.long().expand(members)
