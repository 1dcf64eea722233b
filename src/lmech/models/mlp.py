"""Multilayer perceptrons and deep linear networks, configured by a small dataclass.

z¹ = b¹ + W¹ x, z^(l+1) = b^(l+1) + W^(l+1) σ(z^(l)) for l = 1 … depth, the last layer
(the readout, l = depth + 1) has no activation after it. Physics-knob initialisation
(W ~ N(0, C_W/fan_in), b ~ N(0, C_b)) lives in `lmech.ensemble.init_ensemble`.

Source: Roberts, Yaida & Hanin, *Principles of Deep Learning Theory* (arXiv:2106.10165), §2.1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from lmech.errors import LmechError
from lmech.theory import Activation, get_activation

__all__ = ["MLP", "MLPConfig", "deep_linear"]


@dataclass(frozen=True)
class MLPConfig:
    """An MLP: `depth` hidden layers of `width` units (or a tuple of widths), then a readout.

    Attributes:
        n_in: input dimension n_0.
        width: hidden width n, or a tuple of `depth` widths.
        depth: number of hidden layers (>= 0; 0 is a linear model).
        n_out: output dimension.
        activation: a name or object for `lmech.theory.get_activation`.
        bias: whether every layer has a bias.
    """

    n_in: int
    width: int | tuple[int, ...]
    depth: int
    n_out: int = 1
    activation: str | Activation | Callable = "tanh"
    bias: bool = True

    @property
    def widths(self) -> list[int]:
        """[n_0, n_1, …, n_depth, n_out]."""
        hidden = list(self.width) if isinstance(self.width, tuple) else [self.width] * self.depth
        return [self.n_in, *hidden, self.n_out]

    def check(self) -> MLPConfig:
        """Self, or an LmechError naming the bad field."""
        for name in ("n_in", "depth", "n_out"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (0 if name == "depth" else 1):
                raise LmechError(f"MLPConfig.{name} must be a positive integer, got {v!r}")
        hidden = self.widths[1:-1]
        if len(hidden) != self.depth or any(not isinstance(w, int) or w < 1 for w in hidden):
            raise LmechError(
                f"MLPConfig.width must be a positive integer or a tuple of depth = {self.depth}"
                f" of them, got {self.width!r}"
            )
        get_activation(self.activation)
        return self


def deep_linear(n_in: int, width: int, depth: int, n_out: int) -> MLPConfig:
    """A deep linear network y = W^(depth+1) … W¹ x: linear activation, no biases."""
    return MLPConfig(n_in, width, depth, n_out, activation="linear", bias=False)


class MLP(nn.Module):
    """The network of an `MLPConfig`; parameters ``layers.{k}.weight`` ``(n_{k+1}, n_k)``,
    its activation object ``activation`` and σ on tensors ``sigma``.

    Example:
        >>> net = MLP(MLPConfig(n_in=3, width=8, depth=2))
        >>> net(torch.zeros(5, 3)).shape
        torch.Size([5, 1])
    """

    def __init__(self, config: MLPConfig) -> None:
        super().__init__()
        self.config = config.check()
        w = config.widths
        self.layers = nn.ModuleList(
            nn.Linear(a, b, bias=config.bias) for a, b in zip(w[:-1], w[1:], strict=True)
        )
        self.activation = get_activation(config.activation)
        self.sigma = self.activation.torch

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.config.n_in,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, n_in)`` → ``(B, n_out)``."""
        for layer in self.layers[:-1]:
            x = self.sigma(layer(x))
        return self.layers[-1](x)
