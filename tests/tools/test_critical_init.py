"""lmech.tools.critical_init: critical_, critical_summary, plot_flows and `lmech critical`."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from typer.testing import CliRunner

from lmech.cli import app
from lmech.errors import LmechError
from lmech.theory import critical_point, kernel_recursion
from lmech.tools import critical_, critical_summary, plot_flows, theory_activation

runner = CliRunner()


def _mlp(depth: int, width: int, act: nn.Module, seed: int = 0, d_in: int = 16) -> nn.Sequential:
    """An MLP with PyTorch's default initialisation, drawn from `seed` (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers: list[nn.Module] = [nn.Linear(d_in, width)]
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
    for i in range(nets):
        net = _mlp(depth, width, module, seed=i)
        cp = critical_(net, name, generator=generator)
        got.append(_last_preactivation_variance(net, x))
        default.append(_last_preactivation_variance(_mlp(depth, width, module, seed=i), x))
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


@pytest.mark.parametrize(("name", "activation"), [
    ("relu", torch.relu), ("relu", F.relu), ("relu", nn.ReLU()), ("tanh", torch.tanh),
    ("tanh", nn.Tanh()), ("gelu", F.gelu), ("gelu", nn.GELU()), ("swish", nn.SiLU()),
    ("erf", torch.erf), ("leaky_relu", nn.LeakyReLU(0.01)), ("leaky_relu", F.leaky_relu),
])
def test_torch_activations_are_the_named_ones(name, activation) -> None:
    """A torch module or function initialises exactly as its name does: same critical point,
    same weights from the same seed (relu stays scale-invariant, not a numerical guess)."""
    by_name, by_torch = _mlp(3, 8, nn.Identity()), _mlp(3, 8, nn.Identity())
    want = critical_(by_name, name, generator=torch.Generator().manual_seed(7))
    got = critical_(by_torch, activation, generator=torch.Generator().manual_seed(7))
    assert got == want
    for a, b in zip(by_name.parameters(), by_torch.parameters(), strict=True):
        assert torch.equal(a, b)


def test_leaky_relu_module_keeps_its_slope() -> None:
    """nn.LeakyReLU(0.2): scale-invariant with a₋ = 0.2, so C_W = 2/(1 + 0.2²)."""
    cp = critical_point(theory_activation(nn.LeakyReLU(0.2)))
    assert cp.universality_class == "scale-invariant"
    assert cp.C_W == pytest.approx(2 / 1.04, rel=1e-12)


def test_other_torch_callables_are_wrapped() -> None:
    """An activation lmech has no name for is evaluated through torch: a torch-only lambda
    for tanh gives tanh's critical point (the quadrature's C_W agrees to 1e-9), and the
    tanh approximation of GELU lands within 1e-3 of GELU's (the two functions differ by
    at most ~5e-4 on the real line)."""
    tanh = critical_point(theory_activation(lambda t: torch.tanh(t)))
    assert tanh.universality_class == "K*=0" and tanh.C_W == pytest.approx(1.0, rel=1e-9)
    approx = critical_point(theory_activation(nn.GELU(approximate="tanh")))
    exact = critical_point("gelu")
    assert approx.C_W == pytest.approx(exact.C_W, rel=1e-3)
    assert approx.C_b == pytest.approx(exact.C_b, rel=1e-2)


def _zero_width(d_in: int, d_out: int) -> nn.Module:
    with warnings.catch_warnings():  # torch warns that initialising an empty tensor is a no-op
        warnings.simplefilter("ignore", UserWarning)
        return nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(d_in, d_out))


with torch.random.fork_rng(devices=[]):  # the layers below draw from a fixed seed, once
    torch.manual_seed(0)
    BAD_ARGUMENTS = [
        ("relu", "relu", {}, "module must be a torch.nn.Module, got str"),
        (nn.Sequential(nn.ReLU()), "relu", {}, "module Sequential has no nn.Linear"),
        (_zero_width(0, 4), "relu", {}, r"layer '2' \(Linear\(in_features=0.*has zero width"),
        (_zero_width(4, 0), "relu", {}, r"layer '2' \(Linear\(.*out_features=0.*has zero width"),
        (nn.Linear(4, 4), "relu", {"generator": 123},
         r"generator must be a torch.Generator .* got 123"),
        (nn.Linear(4, 4), "relu", {"generator": torch.manual_seed}, "generator must be"),
        (nn.Linear(4, 4), "relu6", {}, "unknown activation 'relu6'"),
        (nn.Linear(4, 4), 3, {}, "activation must be a name .* got int"),
        (nn.Linear(4, 4), nn.Softmax(dim=-1), {}, "activation Softmax is not an elementwise"),
        (nn.Linear(4, 4), nn.Linear(3, 3), {}, "activation Linear is not an elementwise"),
        (nn.Linear(4, 4), "softplus", {}, "'softplus' has no critical point"),
    ]


@pytest.mark.parametrize(("module", "activation", "kwargs", "fragment"), BAD_ARGUMENTS)
def test_bad_arguments_are_named(module, activation, kwargs, fragment) -> None:
    before = [p.clone() for p in module.parameters()] if isinstance(module, nn.Module) else []
    with pytest.raises(LmechError, match=fragment):
        critical_(module, activation, **kwargs)
    if isinstance(module, nn.Module):  # refused before anything was overwritten
        assert all(torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True))


def test_summary_has_infinite_depth_scales_at_criticality() -> None:
    s = critical_summary("tanh")
    assert s["C_W"] == pytest.approx(1.0) and s["universality class"] == "K*=0"
    assert math.isinf(s["xi_perp"]) and math.isinf(s["xi_parallel"])


def test_plot_flows_writes_where_it_says(tmp_path) -> None:
    out = tmp_path / "flows.png"
    assert plot_flows("tanh", out, depth=5, width=10) == out
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["flows.png"]


@pytest.mark.parametrize(("png", "fragment"), [
    ("missing/x.png", r"cannot write .*x.png: directory .*missing does not exist"),
    (".", "is a directory; give a file name ending in .png"),
    ("flows", "must end in .png"),
    ("flows.pdf", "must end in .png"),
])
def test_plot_flows_refuses_a_bad_path(png, fragment, tmp_path) -> None:
    with pytest.raises(LmechError, match=fragment):
        plot_flows("relu", tmp_path / png)
    assert list(tmp_path.iterdir()) == []


def test_cli_critical(tmp_path) -> None:
    result = runner.invoke(app, ["critical", "relu"])
    assert result.exit_code == 0 and "C_W: 2" in result.output
    png = tmp_path / "gelu.png"
    result = runner.invoke(app, ["critical", "gelu", "--plot", "--png", str(png)])
    assert result.exit_code == 0 and png.stat().st_size > 1000
    assert f"plot: {png}" in result.output
    result = runner.invoke(app, ["critical", "relu6"])
    assert result.exit_code == 2 and "unknown activation" in result.output


@pytest.mark.parametrize(("png", "fragment"), [
    ("/nonexistent/dir/x.png", "directory /nonexistent/dir does not exist"),
    ("{tmp}", "is a directory"),
    ("{tmp}/x.txt", "must end in .png"),
])
def test_cli_critical_refuses_a_bad_png_before_printing(png, fragment, tmp_path) -> None:
    result = runner.invoke(app, ["critical", "relu", "--plot", "--png",
                                 png.format(tmp=tmp_path)])
    assert result.exit_code == 2
    assert fragment in " ".join(result.output.split())
    assert "C_W" not in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []
