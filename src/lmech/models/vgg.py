"""A VGG-like plain convolutional network: 3×3 convolutions and ReLU, max-pools, a readout.

The layout lists each convolution's output channels, with ``"M"`` for a 2×2 max-pool
(VGG's pattern, Simonyan & Zisserman 2015, at toy size); the feature map is flattened into
one linear readout. No normalisation layers, so members vectorise with ``torch.vmap`` and
every input–output path runs through exactly one weight of every prunable layer.

Source: K. Simonyan & A. Zisserman, ICLR 2015 (arXiv:1409.1556), Table 1 (the pattern).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lmech.errors import LmechError

__all__ = ["SmallVGG", "VGGConfig"]


@dataclass(frozen=True)
class VGGConfig:
    """A small VGG on ``(in_channels, size, size)`` images.

    Attributes:
        in_channels, size: input image shape.
        layout: output channels of each 3×3 convolution (padding 1), ``"M"`` for a 2×2
            max-pool.
        n_out: outputs of the readout.
        bias: whether convolutions and the readout carry biases.
    """

    in_channels: int = 1
    size: int = 8
    layout: tuple[int | str, ...] = (16, 16, "M", 32, 32, "M", 64)
    n_out: int = 10
    bias: bool = True

    def check(self) -> VGGConfig:
        """Self, or an LmechError naming the bad field."""
        if any(not (item == "M" or (isinstance(item, int) and item >= 1))
               for item in self.layout) or not any(isinstance(i, int) for i in self.layout):
            raise LmechError(f"VGGConfig.layout must hold positive channel counts and 'M', "
                             f"with at least one convolution; got {self.layout!r}")
        pools = sum(item == "M" for item in self.layout)
        if self.size % 2**pools:
            raise LmechError(f"VGGConfig.size = {self.size} must be divisible by 2^{pools} "
                             f"for the layout's {pools} max-pools")
        if self.in_channels < 1 or self.n_out < 1:
            raise LmechError("VGGConfig.in_channels and n_out must be >= 1")
        return self

    @property
    def features(self) -> int:
        """Inputs of the readout: last channels × the pooled image area."""
        channels = [c for c in self.layout if isinstance(c, int)][-1]
        pools = sum(item == "M" for item in self.layout)
        return channels * (self.size // 2**pools) ** 2


class SmallVGG(nn.Module):
    """The network of a `VGGConfig`: ``(B, C, H, W)`` → ``(B, n_out)``.

    Example:
        >>> SmallVGG(VGGConfig())(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """

    def __init__(self, config: VGGConfig) -> None:
        super().__init__()
        self.config = config.check()
        layers: list[nn.Module] = []
        c_in = config.in_channels
        for item in config.layout:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(c_in, item, 3, padding=1, bias=config.bias), nn.ReLU()]
                c_in = item
        self.features = nn.Sequential(*layers)
        self.readout = nn.Linear(config.features, config.n_out, bias=config.bias)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.config.in_channels, self.config.size, self.config.size)

    @property
    def shortest_path(self) -> int:
        """Weights on the shortest input–output path: one per prunable layer (every path
        of a plain network crosses each layer once)."""
        return sum(isinstance(c, int) for c in self.config.layout) + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.features(x).flatten(-3))
