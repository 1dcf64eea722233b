"""Each functional optimiser against the torch.optim class it follows, on single members."""

from __future__ import annotations

import copy

import pytest
import torch

from lmech.ensemble import Ensemble, get_optimizer, train
from lmech.errors import LmechError
from lmech.models import MLP, MLPConfig

CASES = [
    ("sgd", dict(lr=0.1), torch.optim.SGD, dict(lr=0.1)),
    ("sgd", dict(lr=0.1, weight_decay=0.05), torch.optim.SGD, dict(lr=0.1, weight_decay=0.05)),
    ("momentum", dict(lr=0.05, momentum=0.8, weight_decay=0.01), torch.optim.SGD,
     dict(lr=0.05, momentum=0.8, weight_decay=0.01)),
    ("nesterov", dict(lr=0.05, momentum=0.9), torch.optim.SGD,
     dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("adam", dict(lr=0.01, weight_decay=0.1), torch.optim.Adam, dict(lr=0.01, weight_decay=0.1)),
    ("adamw", dict(lr=0.01, weight_decay=0.1, betas=(0.8, 0.95)), torch.optim.AdamW,
     dict(lr=0.01, weight_decay=0.1, betas=(0.8, 0.95))),
]


def _torch_run(module, optim_cls, kw, x, y, steps):
    module = copy.deepcopy(module)
    opt = optim_cls(module.parameters(), **kw)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(module(x), y).backward()
        opt.step()
    return module


@pytest.mark.parametrize("name,ours,optim_cls,theirs", CASES)
def test_optimizer_matches_torch_optim(name, ours, optim_cls, theirs, generator) -> None:
    """Two members with different learning rates, each against its own torch.optim run."""
    x = torch.randn(32, 3, generator=generator, dtype=torch.float64)
    y = torch.randn(32, 2, generator=generator, dtype=torch.float64)
    nets = [MLP(MLPConfig(3, 6, 2, 2)).double() for _ in range(2)]
    with torch.no_grad():
        for p in (p for n in nets for p in n.parameters()):
            p.copy_(torch.randn(p.shape, generator=generator, dtype=torch.float64) * 0.5)
    ens = Ensemble.from_modules(nets)
    scale = torch.tensor([1.0, 0.5], dtype=torch.float64)
    kw = dict(ours, lr=ours["lr"] * scale)
    train(ens, x, y, optimizer=get_optimizer(name, **kw), steps=7, loss="mse")
    for i, net in enumerate(nets):
        want = _torch_run(net, optim_cls, dict(theirs, lr=theirs["lr"] * float(scale[i])),
                          x, y, 7)
        got = ens.member(i)
        for (k, a), b in zip(got.named_parameters(), want.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=f"{name} {k}")


def test_unknown_optimizer_and_bad_knobs() -> None:
    with pytest.raises(LmechError, match="optimizer"):
        get_optimizer("rmsprop", lr=0.1)
    ens = Ensemble.from_modules([MLP(MLPConfig(2, 3, 1)) for _ in range(3)])
    x, y = torch.zeros(4, 2), torch.zeros(4, 1)
    with pytest.raises(LmechError, match="lr"):
        train(ens, x, y, optimizer=get_optimizer("sgd", lr=torch.ones(2)), steps=1)
    with pytest.raises(LmechError, match="weight_decay"):
        train(ens, x, y, optimizer=get_optimizer("adam", lr=0.1, weight_decay=-1.0), steps=1)
    with pytest.raises(LmechError, match="momentum"):
        train(ens, x, y, optimizer=get_optimizer("momentum", lr=0.1, momentum=1.5), steps=1)
