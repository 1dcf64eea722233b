"""Adam and AdamW, per member, in the arithmetic of `torch.optim.Adam` / `AdamW`.

Step t = 1, 2, … of member m, with η_t = η·schedule(t − 1), moments β₁, β₂, ε, decay λ:

    θ ← θ(1 − η_t λ)                       (AdamW: decoupled weight decay)
    g ← g + λθ                             (Adam: coupled weight decay)
    m ← m + (1 − β₁)(g − m)                (torch's lerp)
    v ← β₂v + (1 − β₂)g²
    θ ← θ − (η_t/(1 − β₁ᵗ)) · m / (√v/√(1 − β₂ᵗ) + ε)

The moments are the state's ``"exp_avg"`` and ``"exp_avg_sq"`` (PyTorch's names).

Source: D. P. Kingma & J. Ba, ICLR 2015 (arXiv:1412.6980), Algorithm 1; I. Loshchilov &
F. Hutter, ICLR 2019 (arXiv:1711.05101), Algorithm 2 (AdamW).
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

__all__ = ["Adam"]


@dataclass(frozen=True)
class Adam:
    """Adam, or AdamW with ``decoupled=True``.

    Attributes:
        lr: η >= 0, a number or ``(M,)`` tensor.
        betas: (β₁, β₂), each in [0, 1), a number or ``(M,)`` tensor.
        eps: ε >= 0, a number or ``(M,)`` tensor.
        weight_decay: λ >= 0, a number or ``(M,)`` tensor.
        decoupled: AdamW's decay θ ← θ(1 − ηλ) instead of g ← g + λθ.
        schedule: learning-rate factor of update t (see `lmech.ensemble.optim`), or None.

    Example:
        >>> opt = Adam(lr=0.1)
        >>> p = {"w": torch.zeros(2, 3)}
        >>> p, state = opt.update({"w": torch.ones(2, 3)}, opt.init(p), p)
        >>> round(p["w"][0, 0].item(), 6)  # the first step is −η·sign(g)
        -0.1
    """

    lr: Hyper = 1e-3
    betas: tuple[Hyper, Hyper] = (0.9, 0.999)
    eps: Hyper = 1e-8
    weight_decay: Hyper = 0.0
    decoupled: bool = False
    schedule: Schedule | None = None

    def init(self, params: Params) -> dict:
        m = member_count(params)
        knobs = {
            "lr": hyper(self.lr, "lr", m),
            "beta1": hyper(self.betas[0], "betas[0]", m, high=1.0),
            "beta2": hyper(self.betas[1], "betas[1]", m, high=1.0),
            "eps": hyper(self.eps, "eps", m),
            "weight_decay": hyper(self.weight_decay, "weight_decay", m),
        }
        zeros = {k: torch.zeros_like(p) for k, p in params.items()}
        return {"step": 0, "hyper": knobs, "exp_avg": zeros,
                "exp_avg_sq": {k: z.clone() for k, z in zeros.items()}}

    def update(self, grads: Params, state: dict, params: Params) -> tuple[Params, dict]:
        knobs, t = state["hyper"], state["step"] + 1
        lr = scheduled(knobs["lr"], self.schedule, t - 1)
        b1, b2 = knobs["beta1"], knobs["beta2"]
        decay = knobs["weight_decay"] if bool((knobs["weight_decay"] != 0).any()) else None
        step_size = lr / (1 - b1**t)
        root_c2 = (1 - b2**t).sqrt()
        shrink = None if decay is None or not self.decoupled else 1 - lr * decay
        new, avg, avg_sq = {}, {}, {}
        for k, p in params.items():
            g = grads[k]
            if shrink is not None:
                p = p * member_view(shrink, p)
            elif decay is not None:
                g = torch.addcmul(g, member_view(decay, p), p)
            m1 = torch.lerp(state["exp_avg"][k], g, member_view(1 - b1, p))
            m2 = torch.addcmul(state["exp_avg_sq"][k] * member_view(b2, p),
                               member_view(1 - b2, p), g * g)
            denom = (m2.sqrt() / member_view(root_c2, p)).add_(member_view(knobs["eps"], p))
            new[k] = torch.addcmul(p, member_view(step_size, p), m1 / denom, value=-1)
            avg[k], avg_sq[k] = m1, m2
        return new, {**state, "step": t, "exp_avg": avg, "exp_avg_sq": avg_sq}


def _adamw(**kwargs) -> Adam:
    return Adam(**{"weight_decay": 1e-2, **kwargs, "decoupled": True})


register("adam", Adam)
register("adamw", _adamw)
