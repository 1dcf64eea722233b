"""Small model families for the symmetry tests (float64 so identities show at 1e-12)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

EXACT_EPS = 1e-30  # below float64 resolution of σ²: the normalisation is exactly invariant


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 7), nn.LeakyReLU(0.1),
                         nn.Linear(7, 4)).double()


class CNN(nn.Module):
    """conv → BN → ReLU → maxpool → conv → BN → ReLU → mean → linear."""

    def __init__(self, eps: float = EXACT_EPS) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4, eps=eps)
        self.conv2, self.bn2 = nn.Conv2d(4, 6, 3, padding=1), nn.BatchNorm2d(6, eps=eps)
        self.fc = nn.Linear(6, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.relu(self.bn2(self.conv2(x)))
        return self.fc(x.mean((2, 3)))


class PreNormBlock(nn.Module):
    """Embedding, one pre-norm transformer block (single head, ReLU MLP), final LN, head."""

    def __init__(self, d_in: int = 5, d: int = 8, n_classes: int = 3) -> None:
        super().__init__()
        self.embed = nn.Linear(d_in, d)
        self.ln1, self.ln2, self.ln_f = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.fc1, self.fc2 = nn.Linear(d, 2 * d), nn.Linear(2 * d, d)
        self.head = nn.Linear(d, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, T, d_in)
        h = self.embed(x)
        a = self.ln1(h)
        scores = self.q(a) @ self.k(a).transpose(1, 2) / a.shape[-1] ** 0.5
        h = h + self.o(torch.softmax(scores, dim=-1) @ self.v(a))
        h = h + self.fc2(F.relu(self.fc1(self.ln2(h))))
        return self.head(self.ln_f(h)).mean(1)  # (B, n_classes)


class NoSymmetry(nn.Module):
    """tanh units and a sigmoid output: no scale, translation or rescale symmetry."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, 6), nn.Linear(6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc2(torch.tanh(self.fc1(x))))


class Gain(nn.Module):
    """A custom layer with its own parameter: detect must skip it, not guess."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gain


class WithCustomLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.gain, self.fc2 = nn.Linear(4, 6), Gain(6), nn.Linear(6, 6)
        self.fc3 = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc3(F.relu(self.fc2(F.relu(self.gain(self.fc1(x))))))


class Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # Python control flow on a tensor value
            return self.fc(x)
        return -self.fc(x)
