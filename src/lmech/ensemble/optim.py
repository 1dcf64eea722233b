"""Functional optimisers on stacked parameters, each with per-member learning rate and decay.

An optimiser is a pair ``init(params) -> state`` and
``update(grads, state, params) -> (params, state)`` (the pattern of JAX's
``example_libraries/optimizers.py``), on dicts of ``(M, …)`` tensors. The learning rate
and weight decay are a number or an ``(M,)`` tensor. Each update follows the arithmetic of
the matching `torch.optim` class, step for step:

- SGD (torch.optim.SGD): g ← g + λθ; heavy-ball v ← μv + g (v = g at the first step);
  Nesterov g ← g + μv, else g ← v; θ ← θ − ηg.
- Adam (torch.optim.Adam): g ← g + λθ; m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
  θ ← θ − (η/(1−β₁ᵗ)) · m / (√v/√(1−β₂ᵗ) + ε).
- AdamW (torch.optim.AdamW): θ ← θ(1 − ηλ), then Adam without the λθ term.

Source: Kingma & Ba, ICLR 2015 (arXiv:1412.6980), Algorithm 1; Loshchilov & Hutter,
ICLR 2019 (arXiv:1711.05101), Algorithm 2; Sutskever et al., ICML 2013 (Nesterov).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lmech.ensemble._knobs import check_members, per_member
from lmech.errors import LmechError

__all__ = ["Adam", "SGD", "get_optimizer"]

Params = dict[str, torch.Tensor]


def _member_view(value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """An ``(M,)`` knob shaped ``(M, 1, …)`` to broadcast against ``like``."""
    return value.to(like.dtype).to(like.device).view(-1, *([1] * (like.dim() - 1)))


@dataclass(frozen=True)
class SGD:
    """Gradient descent, heavy-ball (momentum > 0) or Nesterov momentum.

    Attributes:
        lr: η, a number or ``(M,)`` tensor.
        momentum: μ in [0, 1).
        nesterov: Nesterov's look-ahead form (needs momentum > 0).
        weight_decay: λ, a number or ``(M,)`` tensor (added to the gradient).
    """

    lr: float | torch.Tensor
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float | torch.Tensor = 0.0

    def init(self, params: Params) -> dict:
        if not 0 <= self.momentum < 1:
            raise LmechError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.nesterov and self.momentum == 0:
            raise LmechError("nesterov=True needs momentum > 0")
        return {"step": 0, "velocity": {}, **_knobs(self, params)}

    def update(self, grads: Params, state: dict, params: Params) -> tuple[Params, dict]:
        lr, wd = state["lr"], state["weight_decay"]
        first = state["step"] == 0
        new, velocity = {}, {}
        for k, p in params.items():
            g = grads[k]
            if wd is not None:
                g = g + _member_view(wd, p) * p
            if self.momentum:
                v = g if first else self.momentum * state["velocity"][k] + g
                velocity[k] = v
                g = g + self.momentum * v if self.nesterov else v
            new[k] = p - _member_view(lr, p) * g
        return new, {**state, "step": state["step"] + 1, "velocity": velocity}


@dataclass(frozen=True)
class Adam:
    """Adam, or AdamW with ``decoupled=True``.

    Attributes:
        lr: η, a number or ``(M,)`` tensor.
        betas: (β₁, β₂).
        eps: ε.
        weight_decay: λ, a number or ``(M,)`` tensor.
        decoupled: AdamW's decoupled decay θ ← θ(1 − ηλ) instead of g ← g + λθ.
    """

    lr: float | torch.Tensor
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float | torch.Tensor = 0.0
    decoupled: bool = False

    def init(self, params: Params) -> dict:
        if not all(0 <= b < 1 for b in self.betas):
            raise LmechError(f"betas must be in [0, 1), got {self.betas}")
        zeros = {k: torch.zeros_like(p) for k, p in params.items()}
        return {"step": 0, "m": zeros, "v": {k: z.clone() for k, z in zeros.items()},
                **_knobs(self, params)}

    def update(self, grads: Params, state: dict, params: Params) -> tuple[Params, dict]:
        b1, b2 = self.betas
        t = state["step"] + 1
        lr, wd = state["lr"], state["weight_decay"]
        c1, c2 = 1 - b1**t, 1 - b2**t
        new, m_new, v_new = {}, {}, {}
        for k, p in params.items():
            g = grads[k]
            if wd is not None and self.decoupled:
                p = p * (1 - _member_view(lr * wd, p))
            elif wd is not None:
                g = g + _member_view(wd, p) * p
            m = torch.lerp(state["m"][k], g, 1 - b1)
            v = state["v"][k] * b2 + (1 - b2) * g * g
            denom = (v.sqrt() / c2**0.5) + self.eps
            new[k] = p - _member_view(lr / c1, p) * (m / denom)
            m_new[k], v_new[k] = m, v
        return new, {**state, "step": t, "m": m_new, "v": v_new}


def _knobs(opt, params: Params) -> dict:
    """The checked per-member ``(M,)`` lr and weight decay (None when the decay is all 0)."""
    m = check_members(next(iter(params.values())).shape[0])
    out = {}
    for name in ("lr", "weight_decay"):
        value = per_member(getattr(opt, name), name, m)
        if not torch.isfinite(value).all() or (value < 0).any():
            raise LmechError(f"{name} must be finite and >= 0, got {getattr(opt, name)!r}")
        out[name] = value
    if not (out["weight_decay"] != 0).any():
        out["weight_decay"] = None
    return out


OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw")


def get_optimizer(name: str, **kwargs) -> SGD | Adam:
    """An optimiser by name: sgd, momentum (heavy ball), nesterov, adam, adamw.

    Example:
        >>> get_optimizer("nesterov", lr=0.1, momentum=0.9).nesterov
        True
    """
    key = name.lower() if isinstance(name, str) else name
    if key == "sgd":
        return SGD(**kwargs)
    if key == "momentum":
        return SGD(**{"momentum": 0.9, **kwargs})
    if key == "nesterov":
        return SGD(**{"momentum": 0.9, **kwargs, "nesterov": True})
    if key in ("adam", "adamw"):
        return Adam(**kwargs, decoupled=key == "adamw")
    raise LmechError(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}")
