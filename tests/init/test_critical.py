"""lmech.init.critical_ and the `lmech critical` command."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from lmech.cli import app
from lmech.errors import LmechError
from lmech.init import critical_, critical_summary
from lmech.theory import kernel_recursion


def _mlp(depth: int, width: int, act: nn.Module) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(16, width)]
    for _ in range(depth - 1):
        layers += [act, nn.Linear(width, width)]
    return nn.Sequential(*layers)


def _last_preactivation_variance(net: nn.Sequential, x: torch.Tensor) -> float:
    with torch.no_grad():
        return float(net(x).pow(2).mean())


@pytest.mark.parametrize(("name", "module"), [("relu", nn.ReLU()), ("tanh", nn.Tanh())])
def test_critical_init_follows_the_kernel_recursion(name, module, generator) -> None:
    """Effect on signal propagation: at depth 10 the variance is the critical recursion's
    (ReLU: constant; tanh: ~1/(2l)); PyTorch's default init (C_W = 1/3) decays instead."""
    depth, width, nets = 10, 256, 8
    x = torch.randn(64, 16, generator=generator)
    q = float(x.pow(2).mean())
    got, default = [], []
    for _ in range(nets):
        net = _mlp(depth, width, module)
        cp = critical_(net, name, generator=generator)
        got.append(_last_preactivation_variance(net, x))
        default.append(_last_preactivation_variance(_mlp(depth, width, module), x))
    want = kernel_recursion(name, depth, cp.C_W, cp.C_b, cp.C_b + cp.C_W * q)[-1]
    # one network's variance fluctuates by √(κ/3) ≈ 0.42 for ReLU here (κ = 15·9/256);
    # over 8 networks that is 0.15, so 0.5 is 3.4 standard errors
    assert sum(got) / nets == pytest.approx(want, rel=0.5)
    assert sum(default) / nets < 0.2 * want


def test_gelu_critical_init_uses_positive_bias(generator) -> None:
    net = _mlp(3, 32, nn.GELU())
    cp = critical_(net, "gelu", generator=generator)
    assert cp.C_b > 0 and cp.universality_class == "half-stable"
    bias_var = float(net[0].bias.detach().var())
    assert bias_var == pytest.approx(cp.C_b, rel=0.8)


def test_errors() -> None:
    with pytest.raises(LmechError, match="no critical point"):
        critical_(_mlp(2, 4, nn.Softplus()), "softplus")
    with pytest.raises(LmechError, match="no nn.Linear"):
        critical_(nn.Sequential(nn.ReLU()), "relu")


def test_summary_has_infinite_depth_scales_at_criticality() -> None:
    s = critical_summary("tanh")
    assert s["C_W"] == pytest.approx(1.0) and s["universality class"] == "K*=0"
    assert math.isinf(s["xi_perp"]) and math.isinf(s["xi_parallel"])


def test_cli_critical(tmp_path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["critical", "relu"])
    assert result.exit_code == 0 and "C_W: 2" in result.output
    png = tmp_path / "gelu.png"
    result = runner.invoke(app, ["critical", "gelu", "--plot", "--png", str(png)])
    assert result.exit_code == 0 and png.stat().st_size > 1000
    result = runner.invoke(app, ["critical", "relu6"])
    assert result.exit_code == 2 and "unknown activation" in result.output
