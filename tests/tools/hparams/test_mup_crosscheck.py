"""Cross-check against Microsoft's `mup` package (skipped where it is not installed): the
same per-parameter learning rates for SGD and Adam, the same readout multiplier, and
initial weights of the same spread, on a 3-layer MLP."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from lmech.tools.hparams import mup_model, mup_param_groups

mup = pytest.importorskip("mup")

BASE, DELTA, WIDTH = 64, 128, 1024


class _Net(nn.Module):
    """16 → n → n → 4 with the readout as ``readout``: mup's MuReadout or a Linear."""

    def __init__(self, n: int, mu_readout: bool) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(16, n), nn.Linear(n, n)
        self.readout = mup.MuReadout(n, 4) if mu_readout else nn.Linear(n, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def _theirs() -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = _Net(WIDTH, True)
        mup.set_base_shapes(model, _Net(BASE, True), delta=_Net(DELTA, True))
    return model


def _ours() -> tuple[nn.Module, object]:
    # PyTorch's default Linear init has variance 1/(3 fan_in): σ² = 1/3 in our table
    return mup_model(lambda n: _Net(n, False), WIDTH, base_width=BASE,
                     generator=torch.Generator().manual_seed(0), weight_variance=1 / 3)


def _canonical(name: str) -> str:
    return name.replace("readout.layer.", "readout.")


@pytest.mark.parametrize(("ours_name", "theirs_cls"), [("sgd", "MuSGD"), ("adam", "MuAdam")])
def test_learning_rates_agree(ours_name, theirs_cls) -> None:
    theirs = _theirs()
    opt = getattr(mup, theirs_cls)(theirs.parameters(), lr=0.1)
    lr_theirs = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    theirs_lr = {n: lr_theirs[id(p)] for n, p in theirs.named_parameters()}
    net, plan = _ours()
    groups = mup_param_groups(net, plan, lr=0.1, optimizer=ours_name)
    lr_ours = {id(p): g["lr"] for g in groups for p in g["params"]}
    ours_lr = {_canonical(n): lr_ours[id(p)] for n, p in net.named_parameters()}
    assert ours_lr == pytest.approx(theirs_lr, rel=1e-12)


def test_readout_multiplier_and_init_spread_agree(generator) -> None:
    theirs = _theirs()
    net, _ = _ours()
    x = torch.randn(8, WIDTH, generator=generator)
    with torch.no_grad():
        theirs.readout.weight.copy_(net.readout.layer.weight)
        theirs.readout.bias.copy_(net.readout.layer.bias)
        assert torch.allclose(theirs.readout(x), net.readout(x), rtol=1e-5, atol=1e-6)
    their_params = dict(theirs.named_parameters())
    for name, p in net.named_parameters():
        if p.dim() < 2:
            continue  # biases: theirs keep PyTorch's uniform init, ours start at zero
        q = their_params[_canonical(name)]
        # uniform vs normal draws of one variance: the sample variances of N draws have
        # relative standard errors √(0.8/N) and √(2/N); 5 of their combined se
        n = p.numel()
        ratio = float(p.detach().double().var() / q.detach().double().var())
        assert ratio == pytest.approx(1.0, abs=5 * math.sqrt(2.8 / n)), name
