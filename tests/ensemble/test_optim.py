"""Each functional optimiser against the torch.optim class it follows, member by member,
in float64 to 1e-12; the protocol, the registry and bad hyperparameters."""

from __future__ import annotations

import copy

import pytest
import torch

from lmech.ensemble import SGD, Adam, Ensemble, Optimizer, get_optimizer, linear_warmup, train
from lmech.ensemble.optim import known
from lmech.errors import LmechError
from lmech.models import MLP, MLPConfig

M = 3
STEPS = 8


def _per_member(*values):
    return torch.tensor(values, dtype=torch.float64)


# (name, our kwargs with per-member tensors, torch class, torch kwargs of member i)
CASES = {
    "sgd": ("sgd", dict(lr=_per_member(0.1, 0.05, 0.2)), torch.optim.SGD,
            lambda i: dict(lr=[0.1, 0.05, 0.2][i])),
    "sgd-decay": ("sgd", dict(lr=0.1, weight_decay=_per_member(0.0, 0.05, 0.3)),
                  torch.optim.SGD, lambda i: dict(lr=0.1, weight_decay=[0.0, 0.05, 0.3][i])),
    "heavy-ball": ("momentum", dict(lr=0.05, momentum=_per_member(0.0, 0.5, 0.9),
                                    dampening=_per_member(0.3, 0.1, 0.0), weight_decay=0.01),
                   torch.optim.SGD, lambda i: dict(lr=0.05, momentum=[0.0, 0.5, 0.9][i],
                                                   dampening=[0.3, 0.1, 0.0][i],
                                                   weight_decay=0.01)),
    "nesterov": ("nesterov", dict(lr=_per_member(0.05, 0.02, 0.1), momentum=0.9,
                                  weight_decay=0.02),
                 torch.optim.SGD, lambda i: dict(lr=[0.05, 0.02, 0.1][i], momentum=0.9,
                                                 nesterov=True, weight_decay=0.02)),
    "adam": ("adam", dict(lr=0.01, weight_decay=_per_member(0.1, 0.0, 0.01),
                          betas=(_per_member(0.9, 0.8, 0.5), 0.999)),
             torch.optim.Adam, lambda i: dict(lr=0.01, weight_decay=[0.1, 0.0, 0.01][i],
                                              betas=([0.9, 0.8, 0.5][i], 0.999))),
    "adamw": ("adamw", dict(lr=_per_member(0.01, 0.03, 0.003), betas=(0.8, 0.95),
                            eps=_per_member(1e-8, 1e-6, 1e-3)),
              torch.optim.AdamW, lambda i: dict(lr=[0.01, 0.03, 0.003][i], betas=(0.8, 0.95),
                                                eps=[1e-8, 1e-6, 1e-3][i])),
}


def _nets(generator):
    nets = [MLP(MLPConfig(3, 6, 2, 2)).double() for _ in range(M)]
    with torch.no_grad():
        for p in (p for n in nets for p in n.parameters()):
            p.copy_(torch.randn(p.shape, generator=generator, dtype=torch.float64) * 0.5)
    x = torch.randn(16, 3, generator=generator, dtype=torch.float64)
    y = torch.randn(16, 2, generator=generator, dtype=torch.float64)
    return nets, x, y


def _torch_run(module, optim_cls, kw, x, y, schedule=None):
    module = copy.deepcopy(module)
    opt = optim_cls(module.parameters(), foreach=False, **kw)
    for t in range(STEPS):
        if schedule is not None:
            for group in opt.param_groups:
                group["lr"] = kw["lr"] * schedule(t)
        opt.zero_grad()
        torch.nn.functional.mse_loss(module(x), y).backward()
        opt.step()
    return module


def _assert_members_match(ens, nets, optim_cls, theirs, x, y, schedule=None, label=""):
    for i, net in enumerate(nets):
        want = _torch_run(net, optim_cls, theirs(i), x, y, schedule)
        got = ens.member(i)
        for (k, a), b in zip(got.named_parameters(), want.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13, msg=f"{label} {i} {k}")


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("engine", ["autograd", "fused"])
def test_optimizer_matches_torch_optim(case, engine, generator) -> None:
    """Three members with different hyperparameters, each against its own torch.optim."""
    name, ours, optim_cls, theirs = CASES[case]
    nets, x, y = _nets(generator)
    ens = Ensemble.from_modules(nets)
    train(ens, x, y, optimizer=get_optimizer(name, **ours), steps=STEPS, engine=engine)
    _assert_members_match(ens, nets, optim_cls, theirs, x, y, label=case)


@pytest.mark.parametrize("case", ["heavy-ball", "adam"])
def test_schedule_matches_torch_with_the_learning_rate_set_each_step(case, generator) -> None:
    name, ours, optim_cls, theirs = CASES[case]
    nets, x, y = _nets(generator)
    ens = Ensemble.from_modules(nets)
    warm = linear_warmup(5)
    train(ens, x, y, optimizer=get_optimizer(name, **ours, schedule=warm), steps=STEPS)
    _assert_members_match(ens, nets, optim_cls, theirs, x, y, schedule=warm, label=case)


def test_per_member_schedule(generator) -> None:
    """A schedule may return one factor per member: member i then follows lr·factor_i."""
    nets, x, y = _nets(generator)
    ens = Ensemble.from_modules(nets)
    factors = _per_member(1.0, 0.5, 0.0)
    train(ens, x, y, optimizer=SGD(lr=0.1, schedule=lambda t: factors), steps=STEPS)
    _assert_members_match(ens, nets, torch.optim.SGD,
                          lambda i: dict(lr=0.1 * float(factors[i])), x, y)
    for k, p in ens.params.items():  # factor 0: member 2 never moves
        assert torch.equal(p[2], dict(nets[2].named_parameters())[k])


def test_update_does_not_modify_its_arguments_or_alias_the_gradients() -> None:
    params = {"w": torch.randn(2, 3, dtype=torch.float64)}
    for opt in (SGD(lr=0.1, momentum=0.9), Adam(lr=0.1)):
        state = opt.init(params)
        grads = {"w": torch.ones(2, 3, dtype=torch.float64)}
        before = params["w"].clone()
        _, new_state = opt.update(grads, state, params)
        assert torch.equal(params["w"], before) and torch.equal(grads["w"], torch.ones(2, 3))
        grads["w"].fill_(7.0)  # the fused engine reuses its gradient buffers
        kept = new_state.get("momentum_buffer") or new_state["exp_avg"]
        assert not torch.any(kept["w"] == 7.0)


class SignDescent:
    """θ ← θ − η sign(g): not in the registry, only the protocol."""

    def __init__(self, lr: float) -> None:
        self.lr = lr

    def init(self, params):
        return {}

    def update(self, grads, state, params):
        return {k: p - self.lr * grads[k].sign() for k, p in params.items()}, state


def test_any_object_with_the_protocol_trains(generator) -> None:
    nets, x, y = _nets(generator)
    opt = SignDescent(1e-3)
    assert isinstance(opt, Optimizer)
    ens = Ensemble.from_modules(nets)
    start = {k: v.clone() for k, v in ens.params.items()}
    train(ens, x, y, optimizer=opt, steps=3)
    for k, v in ens.params.items():  # three sign steps of 1e-3 (or none where g = 0)
        assert torch.all((v - start[k]).abs() <= 3e-3 + 1e-15)
        assert torch.any(v != start[k])


def test_registry_builds_every_name() -> None:
    assert {"sgd", "momentum", "nesterov", "adam", "adamw"} <= set(known())
    params = {"w": torch.zeros(2, 4)}
    for name in known():
        opt = get_optimizer(name, lr=0.1)
        new, _ = opt.update({"w": torch.ones(2, 4)}, opt.init(params), params)
        assert torch.all(new["w"] < 0)
    assert get_optimizer("adamw", lr=0.1).weight_decay == 1e-2  # torch.optim.AdamW's default
    assert get_optimizer("momentum", lr=0.1).momentum == 0.9


@pytest.mark.parametrize("make,name", [
    (lambda: get_optimizer("rmsprop", lr=0.1), "optimizer"),
    (lambda: SGD(lr=torch.ones(2)).init({"w": torch.zeros(3, 2)}), "lr"),
    (lambda: Adam(lr=0.1, weight_decay=-1.0).init({"w": torch.zeros(3, 2)}), "weight_decay"),
    (lambda: SGD(lr=0.1, momentum=1.5).init({"w": torch.zeros(3, 2)}), "momentum"),
    (lambda: SGD(lr=0.1, nesterov=True).init({"w": torch.zeros(3, 2)}), "nesterov"),
    (lambda: Adam(betas=(0.9, 1.0)).init({"w": torch.zeros(3, 2)}), "betas"),
    (lambda: SGD(lr="fast").init({"w": torch.zeros(3, 2)}), "lr"),
    (lambda: linear_warmup(0), "warm-up"),
    (lambda: SGD(lr=0.1, schedule=lambda t: torch.ones(5)).update(
        {"w": torch.zeros(3, 2)}, SGD(lr=0.1).init({"w": torch.zeros(3, 2)}),
        {"w": torch.zeros(3, 2)}), "schedule"),
])
def test_bad_hyperparameters_are_named(make, name) -> None:
    with pytest.raises(LmechError, match=name):
        make()


def test_train_refuses_an_object_without_the_protocol(generator) -> None:
    nets, x, y = _nets(generator)
    with pytest.raises(LmechError, match="optimizer"):
        train(Ensemble.from_modules(nets), x, y, optimizer="sgd", steps=1)
