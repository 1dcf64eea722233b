"""Gradient flow θ̇ = −∇L integrated by an explicit Adams–Bashforth method, per member.

The q-step Adams–Bashforth method uses the gradients of the last q steps, one new
gradient per step, so it runs in the ensemble's step loop like any optimiser. With step
h_n = lr·schedule(n) and the past gradients g_{n−j} at times τ_j = t_{n−j} − t_n:

    θ_{n+1} = θ_n − Σ_{j<q} w_j g_{n−j},    Σ_j w_j τ_j^i = h_n^{i+1}/(i + 1)  (i < q)

(the integral over [t_n, t_n + h_n] of the polynomial through the past gradients). With
equal steps w = h·b: q = 1: b = (1) (explicit Euler: gradient descent); q = 2: (3, −1)/2;
q = 3: (23, −16, 5)/12; q = 4: (55, −59, 37, −9)/24. The first q − 1 steps use the
highest order their history allows (Euler, then AB2, …); Euler's local error ½h²‖H∇L‖
is made once and carried along, so from a cold start at full step the method is only of
second order. `doubling_start(m)` avoids that: the first m + 1 steps are h·2⁻ᵐ, h·2⁻ᵐ,
h·2⁻ᵐ⁺¹, …, h/2 (summing to exactly one step h), so the start-up errors shrink by 4⁻ᵐ
and the method keeps its order q. On a quadratic with curvature λ and equal steps it is
stable while hλ is below 2 (q = 1), 1 (q = 2), 6/11 (q = 3) or 3/10 (q = 4).

Source: E. Hairer, S. P. Nørsett, G. Wanner, *Solving Ordinary Differential Equations I*
(2nd ed., 1993), §III.1, eqs. (1.5) and (5.3) (fixed and variable steps), Table 1.1 (the
coefficients); §V.1 (stability).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lmech.ensemble.optim._base import (
    Hyper,
    Params,
    Schedule,
    hyper,
    member_count,
    member_view,
    register,
    scheduled,
)
from lmech.errors import LmechError

__all__ = ["ORDERS", "AdamsBashforth", "doubling_start"]

ORDERS = (1, 2, 3, 4)
"""The orders q the method offers."""


def doubling_start(m: int) -> Schedule:
    """Step factors 2⁻ᵐ, 2⁻ᵐ, 2⁻ᵐ⁺¹, …, 1/2, then 1: the first m + 1 steps sum to exactly
    one full step, so after them the time is (n − m)·h.

    Example:
        >>> [doubling_start(2)(t) for t in range(5)]
        [0.25, 0.25, 0.5, 1.0, 1.0]
    """
    if isinstance(m, bool) or not isinstance(m, int) or m < 0:
        raise LmechError(f"doubling_start needs m, an integer >= 0, got {m!r}")
    return _DoublingStart(m)


class _DoublingStart:
    def __init__(self, m: int) -> None:
        self.m = m

    def __call__(self, step: int) -> float:
        return 2.0 ** (max(step, 1) - 1 - self.m) if step <= self.m else 1.0

    def __repr__(self) -> str:
        return f"doubling_start({self.m})"


def _weights(steps: list[torch.Tensor]) -> torch.Tensor:
    """``(M, q)`` w_j for the newest step h = steps[0] and past steps steps[1:] (each
    ``(M,)``): Σ_j w_j τ_j^i = h^{i+1}/(i + 1), τ_0 = 0, τ_j = −(steps[1] + … + steps[j])."""
    h = steps[0]
    q = len(steps)
    tau = torch.stack([-sum(steps[1:j + 1], torch.zeros_like(h)) for j in range(q)], 1)
    s = tau / h[:, None]  # nodes in units of h, in [−(q−1)·max ratio, 0]
    powers = torch.arange(q, dtype=torch.float64)
    vander = s[:, None, :] ** powers[None, :, None]  # (M, i, j) = s_j^i
    rhs = (1 / (powers + 1)).expand(h.numel(), q)
    return h[:, None] * torch.linalg.solve(vander, rhs)


@dataclass(frozen=True)
class AdamsBashforth:
    """The gradient flow θ̇ = −∇L, integrated with time step `lr` by the `order`-step
    Adams–Bashforth method (order 1 is gradient descent).

    Attributes:
        lr: the time step h > 0, a number or ``(M,)`` tensor.
        order: q in 1..4.
        schedule: factor of the step of update t (see `lmech.ensemble.optim`), e.g.
            `doubling_start`, or None; the weights follow the steps actually taken.

    Example:
        >>> opt = AdamsBashforth(lr=0.1, order=2)
        >>> p = {"w": torch.ones(1, 1, dtype=torch.float64)}
        >>> state = opt.init(p)
        >>> for _ in range(10):  # θ̇ = −θ from θ = 1 to t = 1
        ...     p, state = opt.update({"w": p["w"]}, state, p)
        >>> round(p["w"].item(), 4)  # exp(−1) = 0.36788
        0.3675
    """

    lr: Hyper
    order: int = 3
    schedule: Schedule | None = None

    def init(self, params: Params) -> dict:
        if self.order not in ORDERS:
            raise LmechError(f"order must be one of {ORDERS}, got {self.order!r}")
        m = member_count(params)
        lr = hyper(self.lr, "lr", m)
        if bool((lr <= 0).any()):
            raise LmechError(f"lr (the time step) must be > 0, got {self.lr!r}")
        return {"step": 0, "hyper": {"lr": lr}, "history": [], "steps": []}

    def update(self, grads: Params, state: dict, params: Params) -> tuple[Params, dict]:
        t = state["step"]
        h = scheduled(state["hyper"]["lr"], self.schedule, t)
        if bool((h <= 0).any()):
            raise LmechError(f"the time step of update {t} must be > 0 for every member")
        # newest first, copied: the engine may reuse its gradient buffers
        history = [{k: g.clone() for k, g in grads.items()}, *state["history"]][:self.order]
        steps = [h, *state["steps"]][:self.order]
        w = _weights(steps)  # (M, q)
        new = {}
        for k, p in params.items():
            step = sum(member_view(w[:, j], p) * g[k] for j, g in enumerate(history))
            new[k] = p - step
        return new, {**state, "step": t + 1, "history": history, "steps": steps}


register("adams_bashforth", AdamsBashforth)
