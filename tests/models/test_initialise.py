"""models.initialise: torch's default distributions, reproducible draws, unknown
parameters named."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from lmech.errors import LmechError
from lmech.models.initialise import default_parameters


def test_distributions_per_module_type(generator) -> None:
    net = nn.Sequential(nn.Conv2d(3, 64, 3), nn.Linear(50, 400), nn.Embedding(200, 100),
                        nn.LayerNorm(7), nn.GroupNorm(2, 4))
    p = default_parameters(net, generator)
    assert set(p) == {k for k, _ in net.named_parameters()}
    assert all(p[k].shape == v.shape for k, v in net.named_parameters())
    for name, fan_in in (("0", 27), ("1", 50)):
        bound = 1 / math.sqrt(fan_in)
        for kind in ("weight", "bias"):
            w = p[f"{name}.{kind}"]
            assert w.abs().max() <= bound
            # U(−b, b) has variance b²/3; 20,000 weights give it to a few per cent
            if kind == "weight":
                assert float(w.double().var()) == pytest.approx(bound**2 / 3, rel=0.06)
    emb = p["2.weight"].double()
    assert abs(float(emb.mean())) < 0.02 and float(emb.var()) == pytest.approx(1, rel=0.05)
    assert torch.equal(p["3.weight"], torch.ones(7)) and torch.equal(p["3.bias"], torch.zeros(7))
    assert torch.equal(p["4.weight"], torch.ones(4)) and torch.equal(p["4.bias"], torch.zeros(4))


def test_same_generator_state_same_parameters() -> None:
    net = nn.Linear(3, 2)
    a = default_parameters(net, torch.Generator().manual_seed(5), dtype=torch.float64)
    b = default_parameters(net, torch.Generator().manual_seed(5), dtype=torch.float64)
    assert all(torch.equal(a[k], b[k]) for k in a) and a["weight"].dtype == torch.float64


def test_unknown_parameter_is_named(generator) -> None:
    with pytest.raises(LmechError, match="PReLU"):
        default_parameters(nn.Sequential(nn.Linear(2, 2), nn.PReLU()), generator)
