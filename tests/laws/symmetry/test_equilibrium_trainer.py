"""The equilibrium laws' trainer against brute force: one member of the stacked run equals
an nn.Module trained alone by torch.optim.SGD or AdamW on the same minibatches, and its
window sums equal the sums over that module's steps."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lmech.ensemble import MemberStreams, generator, init_ensemble
from lmech.laws.symmetry._charges import digits_set
from lmech.laws.symmetry._equilibrium import (
    EquilibriumParams,
    Setting,
    _train_group,
    check_equilibrium,
)
from lmech.models import BatchNormMLP, BatchNormMLPConfig

SEED, BURN, TOTAL = 5, 2, 7
PARAMS = EquilibriumParams(width=8, batch=16, n_seeds=2)


def _brute(member: int, setting: Setting, optimizer: str) -> dict[str, list[float]]:
    """Sums over the window steps k of member `member` trained alone, per layer."""
    net = init_ensemble(BatchNormMLP(BatchNormMLPConfig(64, (PARAMS.width,), 10)),
                        member_ids=[member], seed=SEED, init="torch",
                        dtype=torch.float64).member(0)
    x, y = digits_set(1797, flatten=True, device="cpu")
    if setting.data == 1:
        y = y[torch.randperm(len(y), generator=generator(SEED, "noise", member))]
    streams = MemberStreams(SEED, [member])
    if optimizer == "sgd":
        opt = torch.optim.SGD(net.parameters(), lr=setting.lr, momentum=setting.momentum,
                              weight_decay=setting.weight_decay)
    else:
        opt = torch.optim.AdamW(net.parameters(), lr=setting.lr,
                                betas=(setting.momentum, 0.999), eps=1e-8,
                                weight_decay=setting.weight_decay)
    sums = {q: [0.0, 0.0] for q in ("dot", "theta_sq", "next_sq", "grad_sq")}
    for k in range(TOTAL):
        idx = streams.randint("batch", len(y), PARAMS.batch)[0]
        opt.zero_grad()
        F.cross_entropy(net(x[idx]), y[idx]).backward()
        before = [p.detach().clone() for p in net.parameters()]
        grads = [p.grad.detach().clone() for p in net.parameters()]
        opt.step()
        if k < BURN:
            continue
        for layer, (old, new, g) in enumerate(zip(before, net.parameters(), grads,
                                                  strict=True)):
            sums["dot"][layer] += float((old * new.detach()).sum())
            sums["theta_sq"][layer] += float(old.square().sum())
            sums["next_sq"][layer] += float(new.detach().square().sum())
            sums["grad_sq"][layer] += float(g.square().sum())
    return sums


@pytest.mark.parametrize("optimizer,data,momentum", [("sgd", 1, 0.9), ("adamw", 0, 0.5)])
def test_window_sums_equal_a_module_trained_alone(optimizer, data, momentum) -> None:
    setting = Setting(data, 0.3 if optimizer == "sgd" else 0.05, 0.05, momentum, BURN, TOTAL)
    sums = _train_group([setting], [3, 4], PARAMS, optimizer, SEED, "cpu", lambda f: None,
                        0.999)
    assert sums["count"].tolist() == [TOTAL - BURN] * 2
    for row, member in enumerate((3, 4)):
        want = _brute(member, setting, optimizer)
        for q, per_layer in want.items():
            for layer in (0, 1):
                assert math.isclose(sums[q][row, layer], per_layer[layer], rel_tol=1e-10), \
                    (q, member, layer)


def test_an_unequilibrated_run_is_refused() -> None:
    """The window tolerance's assumptions are checked: a drifting norm raises."""
    sums = {"count": torch.full((2,), 100).numpy(),
            "theta_sq": torch.full((2, 2), 100.0).numpy(),
            "init": torch.full((2, 2), 1.0).numpy(),
            "first": torch.full((2, 2), 10.0).numpy(),
            "last": torch.tensor([[30.0, 30.0], [31.0, 31.0]]).numpy()}
    check_equilibrium(sums, 2, allowed=5.0)
    with pytest.raises(RuntimeError, match="drifted"):
        check_equilibrium(sums, 2, allowed=0.5)
    far = {**sums, "init": torch.full((2, 2), 1e4).numpy()}
    with pytest.raises(RuntimeError, match="initial"):
        check_equilibrium(far, 2, allowed=5.0)
