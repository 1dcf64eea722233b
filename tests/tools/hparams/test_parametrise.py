"""lmech.tools.hparams.parametrise: μP initialisation, optimizer groups and wrappers on
ordinary modules that train with torch.optim and save with state_dict."""

from __future__ import annotations

import io
import math

import pytest
import torch
from mup_nets import TinyLM, mlp
from torch import nn

from lmech.errors import LmechError
from lmech.measure.mu_parametrisation import mlp_mup_table
from lmech.models import MLP, MLPConfig
from lmech.tools.hparams import (
    Readout,
    ResidualBranch,
    attention_scale,
    mup_init_,
    mup_model,
    mup_param_groups,
    plan_from_factory,
    scale_readouts,
)


def _lr_by_name(model: nn.Module, groups: list[dict]) -> dict[str, float]:
    lr = {id(p): g["lr"] for g in groups for p in g["params"]}
    return {name: lr[id(p)] for name, p in model.named_parameters()}


def test_mlp_learning_rates_by_hand(generator) -> None:
    """16 → 256 → 256 → 4 against a base of 64 (m = 4), η = 0.1 (Table 8)."""
    net, plan = mup_model(mlp, 256, base_width=64, generator=generator)
    assert isinstance(net[4], Readout) and net[4].multiplier == 0.25
    sgd = _lr_by_name(net, mup_param_groups(net, plan, lr=0.1, optimizer="sgd"))
    adam = _lr_by_name(net, mup_param_groups(net, plan, lr=0.1, optimizer="adam"))
    want_sgd = {"0.weight": 0.4, "0.bias": 0.4, "2.weight": 0.1, "2.bias": 0.4,
                "4.layer.weight": 0.4, "4.layer.bias": 0.1}
    want_adam = {"0.weight": 0.1, "0.bias": 0.1, "2.weight": 0.025, "2.bias": 0.1,
                 "4.layer.weight": 0.1, "4.layer.bias": 0.1}
    assert sgd == pytest.approx(want_sgd, rel=1e-12)
    assert adam == pytest.approx(want_adam, rel=1e-12)


def test_weight_decay_keeps_the_shrink_per_step(generator) -> None:
    net, plan = mup_model(mlp, 256, base_width=64, generator=generator)
    for group in mup_param_groups(net, plan, lr=0.1, optimizer="adamw", weight_decay=0.01):
        assert group["lr"] * group["weight_decay"] == pytest.approx(0.1 * 0.01, rel=1e-12)


def test_init_variances_on_a_wide_mlp(generator) -> None:
    """Sample variances against σ²/fan_in (σ²/base_fan_in for the readout). A sample
    variance of N Gaussian draws has relative standard error √(2/N); each tolerance below
    is ≈ 4.5 of those."""
    net, _ = mup_model(mlp, 1024, base_width=64, generator=generator, weight_variance=2.0)
    cases = [(net[0].weight, 2 / 16, 0.05),          # N = 16 384: se 1.1 %
             (net[2].weight, 2 / 1024, 0.006),       # N = 1 048 576: se 0.14 %
             (net[4].layer.weight, 2 / 64, 0.1)]     # N = 4 096: se 2.2 %
    for weight, variance, rel in cases:
        assert float(weight.detach().double().var()) == pytest.approx(variance, rel=rel)
    for bias in (net[0].bias, net[2].bias, net[4].layer.bias):
        assert torch.count_nonzero(bias) == 0


def test_zero_readout_and_embeddings_and_gains(generator) -> None:
    net, _ = mup_model(TinyLM, 256, base_width=16, generator=generator, zero_readout=True)
    assert torch.count_nonzero(net.head.layer.weight) == 0
    # N(0, σ²) rows, N = 50·256 = 12 800: se of the variance 1.25 %, tolerance 4 se
    assert float(net.embed.weight.detach().double().var()) == pytest.approx(1.0, rel=0.05)
    assert torch.all(net.norm.weight == 1) and torch.count_nonzero(net.norm.bias) == 0
    # in_proj (3n × n) is hidden: σ²/n; N = 196 608, se 0.32 %
    var = float(net.attn.in_proj_weight.detach().double().var())
    assert var == pytest.approx(1 / 256, rel=0.015)


def test_a_tied_readout_is_one_parameter(generator) -> None:
    net, plan = mup_model(lambda n: TinyLM(n, tied=True), 64, base_width=16,
                          generator=generator)
    assert net.head.layer.weight is net.embed.weight
    groups = mup_param_groups(net, plan, lr=0.01, optimizer="sgd")
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(net.parameters()))
    # embedding (fan_out grows ×4) and readout (fan_in grows ×4) agree under Table 8
    assert _lr_by_name(net, groups)["embed.weight"] == pytest.approx(0.04)


def test_trains_with_torch_optim_and_round_trips_state_dict(generator) -> None:
    x, y = torch.randn(32, 16, generator=generator), torch.randn(32, 4, generator=generator)
    net, plan = mup_model(mlp, 128, base_width=32, generator=generator)
    opt = torch.optim.AdamW(mup_param_groups(net, plan, lr=0.01, optimizer="adamw",
                                             weight_decay=0.1))
    losses = []
    for _ in range(20):
        loss = nn.functional.mse_loss(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.8 * losses[0]
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    buffer.seek(0)
    fresh, _ = mup_model(mlp, 128, base_width=32, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        assert not torch.equal(fresh(x), net(x))
        fresh.load_state_dict(torch.load(buffer, weights_only=True))
        assert torch.equal(fresh(x), net(x))
    assert sorted(net.state_dict()) == ["0.bias", "0.weight", "2.bias", "2.weight",
                                        "4.layer.bias", "4.layer.weight"]


def test_scale_readouts_is_idempotent_and_init_needs_it(generator) -> None:
    plan = plan_from_factory(mlp, 128, base_width=32)
    net = mlp(128)
    with pytest.raises(LmechError, match="call scale_readouts"):
        mup_init_(net, plan, generator=generator)
    scale_readouts(scale_readouts(net, plan), plan)
    assert isinstance(net[4], Readout) and isinstance(net[4].layer, nn.Linear)
    with pytest.raises(LmechError, match="make the plan from this model"):
        mup_param_groups(mlp(64), plan, lr=0.1, optimizer="sgd")
    with pytest.raises(LmechError, match="generator must be"):
        mup_init_(net, plan, generator=0)
    with pytest.raises(LmechError, match="lr must be > 0"):
        mup_param_groups(net, plan, lr=0.0, optimizer="sgd")


class _ResidualMLP(nn.Module):
    def __init__(self, width: int, depth: int, base_depth: int = 2) -> None:
        super().__init__()
        self.inp = nn.Linear(8, width)
        self.blocks = nn.ModuleList(
            ResidualBranch(nn.Sequential(nn.ReLU(), nn.Linear(width, width)), depth,
                           base_depth) for _ in range(depth))
        self.out = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        for block in self.blocks:
            x = x + block(x)
        return self.out(x)


def test_residual_branches_keep_the_stream_finite_in_depth(generator) -> None:
    """x ← x + a f(x), f = W relu(x) with σ² = 2: Var f = Var x, so the stream's variance
    grows as (1 + a²)^L: 2^L unscaled (a = 1), (1 + L₀/L)^L → e^{L₀} with a = √(L₀/L)."""
    x = torch.randn(256, 8, generator=generator)

    @torch.no_grad()
    def stream(depth: int, base_depth: int) -> float:
        net, _ = mup_model(lambda n: _ResidualMLP(n, depth, base_depth), 256, base_width=64,
                           generator=generator, weight_variance=2.0)
        h = net.inp(x)
        first = float(h.pow(2).mean())
        for block in net.blocks:
            h = h + block(h)
        return float(h.pow(2).mean()) / first

    assert stream(64, 64) > 1e15  # a = 1: 2^64 ≈ 2·10¹⁹
    # a = 1/8: (1 + 1/64)^64 = 2.70 at infinite width; a pilot of this recursion with
    # Gaussian weights finds 2.51 at n = 256 and 2.59 at n = 1024, an O(1/√n) correction
    assert stream(64, 1) == pytest.approx((1 + 1 / 64) ** 64, rel=0.15)
    assert stream(16, 1) == pytest.approx((1 + 1 / 16) ** 16, rel=0.15)


def test_adam_lr_of_a_residual_branch_is_scaled_by_depth(generator) -> None:
    net, plan = mup_model(lambda n: _ResidualMLP(n, 8, 2), 128, base_width=32,
                          generator=generator)
    lr = _lr_by_name(net, mup_param_groups(net, plan, lr=1.0, optimizer="adam"))
    assert lr["blocks.0.branch.1.weight"] == pytest.approx(0.25 * 0.5)  # 1/m_in · √(2/8)
    assert lr["inp.weight"] == 1.0
    sgd = _lr_by_name(net, mup_param_groups(net, plan, lr=1.0, optimizer="sgd"))
    assert sgd["blocks.0.branch.1.weight"] == 1.0


def test_attention_scale_is_one_over_sqrt_d_at_the_base() -> None:
    assert attention_scale(32, 32) == pytest.approx(1 / math.sqrt(32))
    assert attention_scale(128, 32) * 128 == pytest.approx(math.sqrt(32))
    with pytest.raises(LmechError, match="d_head must be"):
        attention_scale(0, 8)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_shape_classification_agrees_with_the_mlp_table(optimizer) -> None:
    """Two code paths: roles found by comparing shapes of `lmech.models.MLP` at two widths,
    and the closed-form table the laws use for stacked ensembles."""
    plan = plan_from_factory(lambda n: MLP(MLPConfig(8, n, 3, 2)), 512, base_width=64)
    table = mlp_mup_table(8, 512, 3, 2, base_width=64, optimizer=optimizer,
                          weight_variance=1.5)
    assert set(table) == set(plan.roles)
    for name, want in table.items():
        got = plan.roles[name].multipliers(optimizer, weight_variance=1.5)
        assert got.lr_multiplier == pytest.approx(want.lr_multiplier, rel=1e-12), name
        if name.endswith("weight"):  # biases: the table starts them at 0, as mup_init_ does
            assert (got.init_std, got.forward_multiplier) == pytest.approx(
                (want.init_std, want.forward_multiplier), rel=1e-12), name
