"""A small residual convolutional network: ResNet's basic blocks at toy size.

stem conv 3×3 → ReLU → blocks → global average pool → linear readout. Each block computes
ReLU(conv₂(ReLU(conv₁ x)) + shortcut(x)); the shortcut is the identity where the block
keeps its channels and stride, else a 1×1 convolution (the projection). A stage is a
downsampling block (stride 2, twice the channels) followed by `blocks_per_stage − 1`
identity blocks; the first stage keeps the stem's channels and stride. No normalisation
layers, so members vectorise with ``torch.vmap``.

Source: K. He, X. Zhang, S. Ren & J. Sun, CVPR 2016 (arXiv:1512.03385), §3.3 and Fig. 3
(basic blocks, projection shortcuts).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lmech.errors import LmechError

__all__ = ["ResNetConfig", "SmallResNet"]


@dataclass(frozen=True)
class ResNetConfig:
    """A small ResNet on ``(in_channels, size, size)`` images.

    Attributes:
        in_channels, size: input image shape.
        width: the stem's channels; stage s has width · 2^s.
        stages: number of stages (the first keeps the stem's resolution).
        blocks_per_stage: basic blocks per stage.
        n_out: outputs of the readout.
        bias: whether convolutions and the readout carry biases.
    """

    in_channels: int = 1
    size: int = 8
    width: int = 8
    stages: int = 3
    blocks_per_stage: int = 2
    n_out: int = 10
    bias: bool = True

    def check(self) -> ResNetConfig:
        """Self, or an LmechError naming the bad field."""
        for name in ("in_channels", "size", "width", "stages", "blocks_per_stage", "n_out"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise LmechError(f"ResNetConfig.{name} must be a positive integer, got "
                                 f"{value!r}")
        if self.size % 2 ** (self.stages - 1):
            raise LmechError(f"ResNetConfig.size = {self.size} must be divisible by "
                             f"2^(stages − 1) = {2 ** (self.stages - 1)}")
        return self


class BasicBlock(nn.Module):
    """ReLU(conv₂(ReLU(conv₁ x)) + shortcut(x)), the shortcut a 1×1 projection or None."""

    def __init__(self, c_in: int, c_out: int, stride: int, bias: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=bias)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=bias)
        self.shortcut = (nn.Conv2d(c_in, c_out, 1, stride, bias=bias)
                         if stride != 1 or c_in != c_out else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.shortcut is None else self.shortcut(x)
        return F.relu(self.conv2(F.relu(self.conv1(x))) + skip)


class SmallResNet(nn.Module):
    """The network of a `ResNetConfig`: ``(B, C, H, W)`` → ``(B, n_out)``.

    Example:
        >>> SmallResNet(ResNetConfig())(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """

    def __init__(self, config: ResNetConfig) -> None:
        super().__init__()
        self.config = config.check()
        self.stem = nn.Conv2d(config.in_channels, config.width, 3, 1, 1, bias=config.bias)
        blocks, c = [], config.width
        for s in range(config.stages):
            for b in range(config.blocks_per_stage):
                down = s > 0 and b == 0
                blocks.append(BasicBlock(c, 2 * c if down else c, 2 if down else 1,
                                         config.bias))
                c = 2 * c if down else c
        self.blocks = nn.Sequential(*blocks)
        self.readout = nn.Linear(c, config.n_out, bias=config.bias)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.config.in_channels, self.config.size, self.config.size)

    @property
    def shortest_path(self) -> int:
        """Weights on the shortest input–output path: the stem, one projection shortcut
        per downsampling stage and the readout (identity shortcuts carry no weight)."""
        return 2 + self.config.stages - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(F.relu(self.stem(x)))
        return self.readout(x.mean(dim=(-2, -1)))
