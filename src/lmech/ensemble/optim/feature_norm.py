"""Adam after the decoupled feature-norm decay of Liu, Liu & Gore (2025), whose sign is the
knob between weak and strong superposition in the toy model.

Before Adam's update t, with η_t = lr · schedule(t), each parameter named in `decay` with
its γ (a weight ``W (M, m, n)`` whose columns are features):

    γ > 0:  W ← W (1 − η_t γ)                      (plain decoupled decay, as AdamW)
    γ < 0:  W_i ← W_i + η_t γ W_i (1 − 1/‖W_i‖)     (every feature's norm pulled to 1)

A negative γ never grows a norm beyond 1, unlike a negative weight decay, which `Adam`
itself refuses. Source: Y. Liu, Z. Liu & J. Gore, "Superposition yields robust neural
scaling", NeurIPS 2025 (arXiv:2505.10465), §3 (and their released code's optimiser).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import torch

from lmech.ensemble.optim._base import Params, register
from lmech.ensemble.optim.adam import Adam

__all__ = ["FeatureNormAdam", "feature_norm_decay", "warmup_cosine"]


def feature_norm_decay(w: torch.Tensor, gamma: float, eta: float) -> torch.Tensor:
    """One decay step of ``W (M, m, n)`` (columns: features) at rate η and strength γ."""
    if gamma == 0:
        return w
    if gamma > 0:
        return w * (1 - eta * gamma)
    norm = w.norm(dim=-2, keepdim=True).clamp_min(1e-8)  # (M, 1, n)
    return w + eta * gamma * w * (1 - 1 / norm)


@dataclass(frozen=True)
class warmup_cosine:  # noqa: N801 - a schedule, called like a function
    """Linear warm-up over `warmup` updates, then cosine decay to `floor` at `steps`."""

    warmup: int
    steps: int
    floor: float = 0.05

    def __call__(self, t: int) -> float:
        if t < self.warmup:
            return (t + 1) / self.warmup
        phase = (t - self.warmup) / max(1, self.steps - self.warmup)
        return self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * min(phase, 1.0)))


@dataclass(frozen=True)
class FeatureNormAdam:
    """Adam (learning rate `lr`, multiplied by `schedule(t)`) after the feature-norm decay
    of the parameters named in `decay`, γ each (see the module)."""

    lr: float
    decay: Mapping[str, float] = field(default_factory=dict)
    schedule: warmup_cosine | None = None

    @cached_property
    def adam(self) -> Adam:  # built once, not at every update
        return Adam(lr=self.lr, schedule=self.schedule)

    def init(self, params: Params) -> dict:
        return self.adam.init(params)

    def update(self, grads: Params, state: dict, params: Params) -> tuple[Params, dict]:
        eta = self.lr * (1.0 if self.schedule is None else self.schedule(state["step"]))
        decayed = {k: feature_norm_decay(p, self.decay.get(k, 0.0), eta)
                   for k, p in params.items()}
        return self.adam.update(grads, state, decayed)


register("feature_norm_adam", FeatureNormAdam)
