"""Stochastic gradient descent: plain, heavy-ball and Nesterov momentum, per member.

Step t of member m, in the arithmetic of `torch.optim.SGD` (operation for operation), with
η_t = η·schedule(t), weight decay λ, momentum μ, dampening d:

    g ← g + λθ                          (coupled weight decay)
    v ← g  at t = 0;  v ← μv + (1 − d)g  after            (PyTorch's fresh buffer)
    g ← g + μv (Nesterov)  or  g ← v (heavy ball)
    θ ← θ − η_t g

A member with μ = 0 keeps no momentum (its v is g, as PyTorch's buffer-free path).
The momentum buffer is the state's ``"momentum_buffer"`` (PyTorch's name), so trackers of
the step geometry (‖v‖²) find it there.

Source: B. T. Polyak, USSR Comput. Math. Math. Phys. 4 (1964) 1 (heavy ball);
I. Sutskever, J. Martens, G. Dahl, G. Hinton, ICML 2013, eq. 3–4 (Nesterov in this form);
PyTorch's ``torch.optim.SGD`` documentation (the update above).
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

__all__ = ["SGD"]


@dataclass(frozen=True)
class SGD:
    """Gradient descent with optional heavy-ball or Nesterov momentum and weight decay.

    Attributes:
        lr: η >= 0, a number or ``(M,)`` tensor.
        momentum: μ in [0, 1), a number or ``(M,)`` tensor.
        dampening: d in [0, 1], a number or ``(M,)`` tensor (ignored where μ = 0).
        weight_decay: λ >= 0, a number or ``(M,)`` tensor (added to the gradient).
        nesterov: Nesterov's look-ahead form (needs μ > 0 and d = 0 for every member).
        schedule: learning-rate factor of update t (see `lmech.ensemble.optim`), or None.

    Example:
        >>> opt = SGD(lr=0.1, momentum=0.9)
        >>> p = {"w": torch.ones(2, 3, dtype=torch.float64)}
        >>> state = opt.init(p)
        >>> p, state = opt.update({"w": torch.ones(2, 3, dtype=torch.float64)}, state, p)
        >>> p["w"][0, 0].item(), state["momentum_buffer"]["w"][0, 0].item()
        (0.9, 1.0)
    """

    lr: Hyper
    momentum: Hyper = 0.0
    dampening: Hyper = 0.0
    weight_decay: Hyper = 0.0
    nesterov: bool = False
    schedule: Schedule | None = None

    def init(self, params: Params) -> dict:
        m = member_count(params)
        mu = hyper(self.momentum, "momentum", m, high=1.0)
        damp = hyper(self.dampening, "dampening", m, high=1.0, closed=True)
        if self.nesterov and ((mu <= 0).any() or (damp != 0).any()):
            raise LmechError("nesterov=True needs momentum > 0 and dampening = 0 for every "
                             "member")
        knobs = {
            "lr": hyper(self.lr, "lr", m),
            "weight_decay": hyper(self.weight_decay, "weight_decay", m),
            "momentum": mu,
            "dampening": torch.where(mu > 0, damp, torch.zeros_like(damp)),
        }
        state: dict = {"step": 0, "hyper": knobs}
        if (mu > 0).any():
            state["momentum_buffer"] = None  # PyTorch's fresh buffer: set by the first update
        return state

    def update(self, grads: Params, state: dict, params: Params) -> tuple[Params, dict]:
        knobs, t = state["hyper"], state["step"]
        lr = scheduled(knobs["lr"], self.schedule, t)
        decay = knobs["weight_decay"] if bool((knobs["weight_decay"] != 0).any()) else None
        momentum = "momentum_buffer" in state
        old = state.get("momentum_buffer")
        new, buffers = {}, {}
        for k, p in params.items():
            g = grads[k]
            if decay is not None:
                g = torch.addcmul(g, member_view(decay, p), p)
            if momentum:
                mu = member_view(knobs["momentum"], p)
                if old is None:
                    v = g.clone()
                else:
                    v = torch.addcmul(old[k] * mu, 1 - member_view(knobs["dampening"], p), g)
                buffers[k] = v
                g = torch.addcmul(g, mu, v) if self.nesterov else v
            new[k] = torch.addcmul(p, member_view(lr, p), g, value=-1)
        out = {**state, "step": t + 1}
        if momentum:
            out["momentum_buffer"] = buffers
        return new, out


def _momentum(**kwargs) -> SGD:
    return SGD(**{"momentum": 0.9, **kwargs})


def _nesterov(**kwargs) -> SGD:
    return SGD(**{"momentum": 0.9, **kwargs, "nesterov": True})


register("sgd", SGD)
register("momentum", _momentum)
register("nesterov", _nesterov)
