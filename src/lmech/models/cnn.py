"""A small convolutional network with a per-sample normalisation layer.

conv(k×k) → norm → σ, repeated once per entry of `channels`, then a global average pool
and a linear readout. The normalisation is LayerNorm over (C, H, W) or GroupNorm; both act
on each sample alone, so an ensemble of them vectorises without cross-member coupling.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from lmech.errors import LmechError
from lmech.theory import Activation, get_activation

__all__ = ["CNNConfig", "SmallCNN"]

NORMS = ("layer", "group", "none")


@dataclass(frozen=True)
class CNNConfig:
    """A small CNN on ``(in_channels, size, size)`` images.

    Attributes:
        in_channels, size: input image shape.
        channels: output channels of each convolution.
        n_out: outputs of the readout.
        kernel: convolution kernel size (odd; padding keeps the image size).
        norm: "layer" (LayerNorm over C, H, W), "group" (GroupNorm), or "none".
        groups: GroupNorm groups (must divide every entry of channels).
        activation: a name or object for `lmech.theory.get_activation`.
    """

    in_channels: int = 1
    size: int = 8
    channels: tuple[int, ...] = (8, 8)
    n_out: int = 10
    kernel: int = 3
    norm: str = "group"
    groups: int = 2
    activation: str | Activation | Callable = "relu"

    def check(self) -> CNNConfig:
        """Self, or an LmechError naming the bad field."""
        if self.norm not in NORMS:
            raise LmechError(f"CNNConfig.norm must be one of {NORMS}, got {self.norm!r}")
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise LmechError(f"CNNConfig.kernel must be odd and >= 1, got {self.kernel}")
        if not self.channels or min(self.channels) < 1:
            raise LmechError(f"CNNConfig.channels must be positive, got {self.channels}")
        if self.norm == "group" and any(c % self.groups for c in self.channels):
            raise LmechError(
                f"CNNConfig.groups = {self.groups} must divide every channel count "
                f"{self.channels}"
            )
        get_activation(self.activation)
        return self


class SmallCNN(nn.Module):
    """The network of a `CNNConfig`: ``(B, C, H, W)`` → ``(B, n_out)``.

    Example:
        >>> SmallCNN(CNNConfig())(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """

    def __init__(self, config: CNNConfig) -> None:
        super().__init__()
        self.config = config.check()
        blocks, c_in = [], config.in_channels
        for c in config.channels:
            blocks.append(nn.Conv2d(c_in, c, config.kernel, padding=config.kernel // 2))
            if config.norm == "layer":
                blocks.append(nn.LayerNorm([c, config.size, config.size]))
            elif config.norm == "group":
                blocks.append(nn.GroupNorm(config.groups, c))
            c_in = c
        self.blocks = nn.ModuleList(blocks)
        self.readout = nn.Linear(c_in, config.n_out)
        self.sigma = get_activation(config.activation).torch

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.config.in_channels, self.config.size, self.config.size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
            if not isinstance(block, nn.Conv2d) or self.config.norm == "none":
                x = self.sigma(x)
        return self.readout(x.mean(dim=(-2, -1)))
