"""A brute-force oracle shared by the identity laws' tests: a stacked member's charge
trajectory against the same network trained alone by torch.optim.SGD."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def torch_sgd_trajectory(net: nn.Module, x: torch.Tensor, y: torch.Tensor,
                         hyper: tuple[float, float, float], steps: int,
                         charge: Callable[[Mapping[str, torch.Tensor]], float | np.ndarray]
                         ) -> np.ndarray:
    """`charge(params)` at steps 0 … `steps` of full-batch torch.optim.SGD (η, λ, β); trains
    `net` in place."""
    eta, lam, beta = hyper
    opt = torch.optim.SGD(net.parameters(), lr=eta, weight_decay=lam, momentum=beta)
    out = [charge({k: v.detach() for k, v in net.named_parameters()})]
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
        out.append(charge({k: v.detach() for k, v in net.named_parameters()}))
    return np.array(out)
