"""Networks at PyTorch's default initialisation, drawn from the seed scheme (private).

The pruning laws study networks as they are *before* training, at the initialisation
the scores were designed for: ``nn.Linear`` and ``nn.Conv2d``'s default, weights
U(−1/√fan_in, 1/√fan_in). `lmech.ensemble.init_ensemble` (``init="torch"``) draws
member i from the generator of (seed, "init", i); building the template module draws
from torch's global generator, so its state is restored afterwards.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from lmech.ensemble import Ensemble, init_ensemble
from lmech.measure.saliency import layout_of


def template(build: Callable[[], nn.Module]) -> nn.Module:
    """`build()`, leaving torch's global generator as it was."""
    with torch.random.fork_rng(devices=[]):
        return build()


def initial_networks(build: Callable[[], nn.Module], count: int, seed: int, *,
                     first: int = 0, device: str = "cpu") -> Ensemble:
    """`count` networks at PyTorch's default initialisation, member ids first, first + 1, …"""
    return init_ensemble(template(build), seed=seed, init="torch",
                         member_ids=list(range(first, first + count)), device=device)


def layer_shapes(net: nn.Module) -> tuple[list[int], list[int]]:
    """(sizes N_l, fan-ins) of the prunable weights in module order."""
    shapes = layout_of(net).shapes
    return [s.numel() for s in shapes], [s[1:].numel() for s in shapes]
