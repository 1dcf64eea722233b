"""Networks and the tracked training loop shared by the symmetry laws (private).

Every network is float64 and initialised from an explicit generator (PyTorch's default
uniform ±1/√fan_in bounds, drawn from that generator); its BatchNorm ε is 1e-30, below
float64 resolution of the batch variance, so the normalisation is exactly scale-invariant
(PyTorch refuses ε = 0; its default 1e-5 breaks the symmetry at the ε/σ² level, which the
tests of `lmech.measure.symmetry_geometry` show).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from lmech.measure import NoetherTracker, Symmetry, detect
from lmech.tasks import digits

EXACT_EPS = 1e-30


@cache
def _digits(flatten: bool):
    return digits(flatten=flatten, dtype=torch.float64)  # parsed once per process


class DigitsCNN(nn.Module):
    """conv(1→c1) → BN → ReLU → max-pool → conv(c1→c2) → BN → ReLU → mean → linear(10)."""

    def __init__(self, c1: int = 4, c2: int = 8) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, c1, 3, padding=1), nn.BatchNorm2d(c1, EXACT_EPS)
        self.conv2, self.bn2 = nn.Conv2d(c1, c2, 3, padding=1), nn.BatchNorm2d(c2, EXACT_EPS)
        self.fc = nn.Linear(c2, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, 1, 8, 8)
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.relu(self.bn2(self.conv2(x)))
        return self.fc(x.mean((2, 3)))


def digits_mlp(width: int) -> nn.Module:
    """64 → width (ReLU) → 10 logits."""
    return nn.Sequential(nn.Linear(64, width), nn.ReLU(), nn.Linear(width, 10))


def build(make: Callable[[], nn.Module], generator: torch.Generator) -> nn.Module:
    """`make()` in float64 with every parameter drawn from `generator` (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        net = make().double()
    with torch.no_grad():
        for name, p in net.named_parameters():
            module = net.get_submodule(name.rsplit(".", 1)[0]) if "." in name else net
            if isinstance(module, nn.BatchNorm2d):
                continue  # γ = 1, β = 0 as PyTorch sets them
            fan_in = module.weight[0].numel()
            bound = fan_in**-0.5
            p.copy_((torch.rand(p.shape, generator=generator, dtype=p.dtype) * 2 - 1) * bound)
    return net


def train_tracked(
    net: nn.Module,
    symmetries: list[Symmetry],
    *,
    flatten: bool,
    steps: int,
    batch: int | None,
    n_train: int,
    generator: torch.Generator,
    cadence: int,
    lr: float,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
) -> pd.DataFrame:
    """Train on the first `n_train` digits with SGD (full batch when `batch` is None).

    Returns the NoetherTracker table of `symmetries`.
    """
    data = _digits(flatten)
    x, y = data.x[:n_train], data.y[:n_train]
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum,
                          weight_decay=weight_decay)
    with NoetherTracker(net, opt, symmetries, cadence=cadence) as tracker:
        for _ in range(steps):
            idx = (slice(None) if batch is None
                   else torch.randint(0, n_train, (batch,), generator=generator))
            opt.zero_grad()
            F.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
    return tracker.records()


def symmetries_of(net: nn.Module, kind: str, flatten: bool) -> list[Symmetry]:
    example = torch.zeros((2, 64) if flatten else (2, 1, 8, 8), dtype=torch.float64)
    return detect(net, example, loss="cross_entropy").of_kind(kind)


def source_fraction(rows: pd.DataFrame) -> np.ndarray:
    """(Q − Q_source-free)/(Q̂ − Q_source-free): the share of the predicted η² source that
    the measured charge shows (1 for the theory, 0 for the gradient-flow answer).

    Raises:
        RuntimeError: the predicted source is too small to measure (≤ 1e-6 of the charge).
    """
    source = (rows.prediction - rows.source_free).to_numpy()
    if np.any(np.abs(source) <= 1e-6 * np.abs(rows.charge.to_numpy())):
        raise RuntimeError("the η² source is below 1e-6 of the charge: nothing to measure; "
                           "train longer or with a larger learning rate")
    return (rows.charge - rows.source_free).to_numpy() / source


def mean_and_stderr(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error over the first axis (the seeds)."""
    return values.mean(0), values.std(0, ddof=1) / np.sqrt(values.shape[0])
