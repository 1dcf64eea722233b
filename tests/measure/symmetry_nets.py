"""Small model families for the symmetry tests (float64 so identities show at 1e-12).

Module constructors draw their initial weights from torch's global generator, so every
network here is built by `seeded`: inside `fork_rng` with a fixed seed, the same on every
run, and the global state restored afterwards (nothing leaks into other tests).

`MLP_GROUPS` and `CNN_GROUPS` are the symmetries Kunin et al. 2021 (Table 1) give for these
architectures, written out by hand: the geometry and tracker tests use them directly, and
the detect tests check that `detect` finds exactly them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from lmech.measure import Symmetry

EXACT_EPS = 1e-30  # below float64 resolution of σ²: the normalisation is exactly invariant

M = TypeVar("M", bound=nn.Module)


def seeded(make: Callable[..., M], *args, **kwargs) -> M:
    """`make(*args, **kwargs)` with its initial weights drawn from a fixed seed."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return make(*args, **kwargs)


def mlp() -> nn.Module:
    return seeded(lambda: nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 7),
                                        nn.LeakyReLU(0.1), nn.Linear(7, 4)).double())


MLP_GROUPS = (
    Symmetry("translation", ("4.weight", "4.bias")),  # the logits, under cross-entropy
    Symmetry.rescale(("0.weight", "0.bias"), ("2.weight",)),  # through ReLU
    Symmetry.rescale(("2.weight", "2.bias"), ("4.weight",)),  # through leaky ReLU
)


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


def cnn(eps: float = EXACT_EPS) -> nn.Module:
    return seeded(CNN, eps).double()


CNN_GROUPS = (
    Symmetry("translation", ("fc.weight", "fc.bias")),
    Symmetry("scale", ("conv1.weight", "conv1.bias")),  # feeds BatchNorm
    Symmetry("scale", ("conv2.weight", "conv2.bias")),
    Symmetry.rescale(("bn1.weight", "bn1.bias"), ("conv2.weight",)),  # ReLU, max-pool
    Symmetry.rescale(("bn2.weight", "bn2.bias"), ("fc.weight",)),  # ReLU, the mean
)


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


def prenorm_block() -> nn.Module:
    return seeded(PreNormBlock).double()


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
