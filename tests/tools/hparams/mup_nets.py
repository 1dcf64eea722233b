"""Small networks of each kind, as factories of their width, for the μP tests."""

from __future__ import annotations

import torch
from torch import nn


def mlp(n: int) -> nn.Sequential:
    """16 → n → n → 4, ReLU: the 3-layer MLP of the tests."""
    return nn.Sequential(nn.Linear(16, n), nn.ReLU(), nn.Linear(n, n), nn.ReLU(),
                         nn.Linear(n, 4))


def cnn(n: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, n, 3, padding=1), nn.BatchNorm2d(n), nn.ReLU(),
                         nn.Conv2d(n, n, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(n, 10))


class TinyLM(nn.Module):
    """Tokens → embedding → one attention block (LayerNorm, self-attention) → logits,
    optionally with the readout tied to the embedding."""

    def __init__(self, n: int, heads: int = 2, tied: bool = False) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, n)
        self.norm = nn.LayerNorm(n)
        self.attn = nn.MultiheadAttention(n, heads, batch_first=True)
        self.head = nn.Linear(n, 50, bias=False)
        if tied:
            self.head.weight = self.embed.weight

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        h = self.norm(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return self.head(x)
