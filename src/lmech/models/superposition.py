"""The toy model of superposition: x' = ReLU(WᵀW x + b), n features in m dimensions.

A feature i is stored as the column W_i ∈ ℝᵐ, read back through the same matrix and
filtered by the ReLU and its bias. Source: N. Elhage et al., "Toy models of
superposition", Transformer Circuits Thread (2022), §"Demonstrating superposition";
docs/theory/superposition.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lmech.errors import LmechError

__all__ = ["ToyModel", "ToyModelConfig", "toy_model_forward"]


@dataclass(frozen=True)
class ToyModelConfig:
    """n features in m hidden dimensions."""

    n_features: int
    hidden: int

    def __post_init__(self) -> None:
        if self.n_features < 1 or self.hidden < 1:
            raise LmechError(f"n_features and hidden must be >= 1, got {self.n_features} and "
                             f"{self.hidden}")


class ToyModel(nn.Module):
    """x' = ReLU(WᵀW x + b) with W ``(m, n)`` and b ``(n,)`` (W drawn N(0, 1/m), b = 0).

    Example:
        >>> model = ToyModel(ToyModelConfig(n_features=4, hidden=2))
        >>> model(torch.rand(3, 4)).shape
        torch.Size([3, 4])
    """

    def __init__(self, config: ToyModelConfig) -> None:
        super().__init__()
        self.config = config
        self.input_shape = (config.n_features,)
        self.W = nn.Parameter(torch.randn(config.hidden, config.n_features)
                              / config.hidden**0.5)
        self.b = nn.Parameter(torch.zeros(config.n_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x @ self.W.T @ self.W + self.b)


def toy_model_forward(params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Every member's reconstruction: params ``W (M, m, n)``, ``b (M, n)``; x ``(M, B, n)``
    → ``(M, B, n)``."""
    w, b = params["W"], params["b"]
    hidden = x @ w.transpose(-1, -2)  # (M, B, m)
    return torch.relu(hidden @ w + b.unsqueeze(-2))
