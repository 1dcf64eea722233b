"""The optimiser protocol, per-member hyperparameters, schedules and the registry by name.

An optimiser is any object with ``init(params) -> state`` and
``update(grads, state, params) -> (params, state)`` on dicts of ``(M, …)`` tensors (the
pattern of JAX's ``example_libraries/optimizers.py``). `update` is functional: it changes
none of its arguments, and the state it returns shares no storage with `grads` (the fused
engine reuses its gradient buffers). A hyperparameter is a number or an ``(M,)`` tensor,
one value per member; a schedule multiplies the learning rate of update t (t = 0, 1, …) by
``schedule(t)``, a number or an ``(M,)`` tensor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import torch

from lmech.errors import LmechError

__all__ = [
    "Hyper",
    "Optimizer",
    "Params",
    "Schedule",
    "get_optimizer",
    "linear_warmup",
    "register",
]

Params = dict[str, torch.Tensor]
Hyper = float | torch.Tensor
"""A hyperparameter: a number (every member) or an ``(M,)`` tensor (one per member)."""
Schedule = Callable[[int], float | torch.Tensor]
"""Update index t (0 for the first update) → learning-rate factor, a number or ``(M,)``."""


@runtime_checkable
class Optimizer(Protocol):
    """What `lmech.ensemble.train` needs of an optimiser (any object with these methods)."""

    def init(self, params: Params) -> Any:
        """The state before the first update."""

    def update(self, grads: Params, state: Any, params: Params) -> tuple[Params, Any]:
        """The parameters and state after one update; the arguments are not modified."""


def member_count(params: Params) -> int:
    """M, the leading dimension shared by every parameter."""
    if not isinstance(params, dict) or not params:
        raise LmechError("params must be a non-empty dict of (M, …) tensors")
    sizes = {p.shape[0] if p.dim() else None for p in params.values()}
    if len(sizes) != 1 or None in sizes:
        raise LmechError(f"every parameter must have the member axis first with one size M, "
                         f"got leading sizes {sorted(map(str, sizes))}")
    return sizes.pop()


def hyper(value: Hyper, name: str, members: int, *, low: float = 0.0,
          high: float | None = None, closed: bool = False) -> torch.Tensor:
    """`value` as a float64 ``(M,)`` CPU tensor, checked to lie in [low, high) (or
    [low, high] when `closed`, or [low, ∞) without `high`).

    Raises:
        LmechError: a tensor that is not 0-d or ``(M,)``, or a value out of range; the
            message names the hyperparameter and its allowed range.
    """
    allowed = f">= {low:g}" if high is None else \
        f"in [{low:g}, {high:g}{']' if closed else ')'}"
    try:
        t = torch.as_tensor(value, dtype=torch.float64).detach().cpu()
    except (TypeError, ValueError, RuntimeError):
        raise LmechError(f"{name} must be a number or an (M,) tensor {allowed}, got "
                         f"{type(value).__name__}") from None
    if t.dim() == 0:
        t = t.expand(members).clone()
    elif tuple(t.shape) != (members,):
        raise LmechError(f"{name} per member must have shape (members,) = ({members},), got "
                         f"{tuple(t.shape)}")
    bad = ~torch.isfinite(t) | (t < low)
    if high is not None:
        bad |= (t > high) if closed else (t >= high)
    if bad.any():
        raise LmechError(f"{name} must be finite and {allowed}, got {value!r}")
    return t


def member_view(value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """An ``(M,)`` hyperparameter shaped ``(M, 1, …)`` in `like`'s dtype and device."""
    return value.to(dtype=like.dtype, device=like.device).view(-1, *([1] * (like.dim() - 1)))


def scheduled(lr: torch.Tensor, schedule: Schedule | None, step: int) -> torch.Tensor:
    """The ``(M,)`` learning rate of update `step`: lr · schedule(step)."""
    if schedule is None:
        return lr
    factor = schedule(step)
    if isinstance(factor, torch.Tensor):
        factor = factor.detach().to("cpu", torch.float64)
        if factor.dim() not in (0, 1) or (factor.dim() == 1 and factor.shape != lr.shape):
            raise LmechError(f"schedule({step}) must be a number or an (M,) tensor with M = "
                             f"{lr.numel()}, got shape {tuple(factor.shape)}")
    out = lr * factor
    if not torch.isfinite(out).all() or (out < 0).any():
        raise LmechError(f"schedule({step}) gave a negative or non-finite factor {factor!r}")
    return out


def linear_warmup(steps: int) -> Schedule:
    """The factor min(1, (t + 1)/steps): the learning rate ramps up over `steps` updates.

    Example:
        >>> [linear_warmup(4)(t) for t in range(6)]
        [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise LmechError(f"warm-up steps must be an integer >= 1, got {steps!r}")
    return _LinearWarmup(steps)


class _LinearWarmup:
    def __init__(self, steps: int) -> None:
        self.steps = steps

    def __call__(self, step: int) -> float:
        return min(1.0, (step + 1) / self.steps)

    def __repr__(self) -> str:
        return f"linear_warmup({self.steps})"


_REGISTRY: dict[str, Callable[..., Optimizer]] = {}


def register(name: str, factory: Callable[..., Optimizer]) -> None:
    """Make ``get_optimizer(name, **kwargs)`` return ``factory(**kwargs)``.

    Each optimiser module registers its own names, so adding an optimiser is adding one
    module to `lmech.ensemble.optim` (the package imports every module in it).
    """
    key = name.lower()
    if key in _REGISTRY and _REGISTRY[key] is not factory:
        raise LmechError(f"an optimizer named {name!r} is already registered")
    _REGISTRY[key] = factory


def known() -> list[str]:
    """The registered names, sorted."""
    return sorted(_REGISTRY)


def get_optimizer(name: str, **kwargs) -> Optimizer:
    """An optimiser by name (see `known`): sgd, momentum, nesterov, adam, adamw, ….

    Example:
        >>> get_optimizer("nesterov", lr=0.1).nesterov
        True
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in _REGISTRY:
        raise LmechError(f"unknown optimizer {name!r}; known: {', '.join(known())}")
    return _REGISTRY[key](**kwargs)
