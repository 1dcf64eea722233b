"""Stacked networks: vectorised forward against a loop of modules, physics-knob
initialisation, export to and from nn.Module, bad input."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lmech.ensemble import Ensemble, init_ensemble
from lmech.errors import LmechError
from lmech.models import CNNConfig, MLPConfig, deep_linear


@pytest.mark.parametrize("model,x_shape", [
    (MLPConfig(5, 7, 3, 2, activation="tanh"), (11, 5)),
    (MLPConfig(5, (4, 9), 2, 3, activation="relu", bias=False), (11, 5)),
    (deep_linear(4, 6, 2, 3), (11, 4)),
    (CNNConfig(in_channels=2, size=6, channels=(4, 4), n_out=3, norm="group"), (5, 2, 6, 6)),
    (CNNConfig(in_channels=1, size=5, channels=(3,), n_out=2, norm="layer"), (5, 1, 5, 5)),
])
def test_forward_matches_a_loop_over_exported_members(model, x_shape, generator) -> None:
    ens = init_ensemble(model, members=4, seed=3, C_W=1.5, C_b=0.1, dtype=torch.float64)
    x = torch.randn(x_shape, generator=generator, dtype=torch.float64)
    out = ens(x)
    per_member_x = torch.randn(4, *x_shape, generator=generator, dtype=torch.float64)
    out_pm = ens(per_member_x)
    for i in range(4):
        net = ens.member(i)
        torch.testing.assert_close(out[i], net(x))
        torch.testing.assert_close(out_pm[i], net(per_member_x[i]))
    back = Ensemble.from_modules([ens.member(i) for i in range(4)])
    torch.testing.assert_close(back(x), out)


def test_physics_init_per_layer_and_per_member_variances() -> None:
    """Var W^(l) = C_W^(l)/fan_in, Var b^(l) = C_b^(l), per member (200·200 draws each)."""
    c_w = [torch.tensor([1.0, 4.0]), 2.0]
    ens = init_ensemble(MLPConfig(200, 200, 1, 200), members=2, seed=0, C_W=c_w,
                        C_b=torch.tensor([0.5, 0.0]), dtype=torch.float64)
    w0, w1 = ens.params["layers.0.weight"], ens.params["layers.1.weight"]
    # A variance from 40,000 normals has relative SE sqrt(2/40000) = 0.7 %.
    torch.testing.assert_close(w0.var(dim=(1, 2)) * 200, torch.tensor([1.0, 4.0],
                               dtype=torch.float64), rtol=0.04, atol=0)
    torch.testing.assert_close(w1.var(dim=(1, 2)) * 200, torch.tensor([2.0, 2.0],
                               dtype=torch.float64), rtol=0.04, atol=0)
    b = ens.params["layers.0.bias"]
    assert abs(b[0].var().item() - 0.5) < 0.5 * 5 * (2 / 200) ** 0.5  # 5 SE
    assert torch.all(b[1] == 0)


def test_torch_init_has_pytorchs_bounds() -> None:
    ens = init_ensemble(MLPConfig(16, 8, 1), members=3, seed=0, init="torch")
    w = ens.params["layers.0.weight"]
    assert w.abs().max() <= 0.25 and w.abs().max() > 0.2  # U(−1/√16, 1/√16)


def test_member_ids_give_the_same_initialisation() -> None:
    full = init_ensemble(MLPConfig(3, 5, 2), members=6, seed=9)
    alone = init_ensemble(MLPConfig(3, 5, 2), member_ids=[4], seed=9)
    for k, v in full.params.items():
        assert torch.equal(v[4], alone.params[k][0])
    assert not torch.equal(full.params["layers.0.weight"][0],
                           full.params["layers.0.weight"][1])


@pytest.mark.parametrize("call,name", [
    (lambda: init_ensemble(MLPConfig(3, 5, 2), members=0, seed=0), "members"),
    (lambda: init_ensemble(MLPConfig(3, 5, 2), members=2, seed=0, C_W=[1.0, 2.0]), "C_W"),
    (lambda: init_ensemble(MLPConfig(3, 5, 2), members=2, seed=0,
                           C_b=torch.ones(3)), "C_b"),
    (lambda: init_ensemble(MLPConfig(3, 5, 2, activation="nope"), members=2, seed=0),
     "activation"),
    (lambda: init_ensemble(MLPConfig(3, 5, 2), members=2, seed=0, init="xavier"), "init"),
    (lambda: init_ensemble(MLPConfig(3, 5, 2), members=2, seed=0)(torch.ones(4, 2)),
     "inputs"),
    (lambda: init_ensemble(MLPConfig(3, 5, 2), members=2, seed=0)(torch.ones(3, 4, 3)),
     "inputs"),
    (lambda: init_ensemble(CNNConfig(channels=(3,), groups=2), members=2, seed=0), "groups"),
    (lambda: init_ensemble("mlp", members=2, seed=0), "model"),
])
def test_bad_input_names_the_argument(call, name) -> None:
    with pytest.raises(LmechError, match=name):
        call()


def test_modules_without_an_input_shape(generator) -> None:
    """Plain nn.Sequential members: the input shape comes from the first Linear, or is
    given."""
    nets = [torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(),
                                torch.nn.Linear(4, 1)).double() for _ in range(2)]
    ens = Ensemble.from_modules(nets)
    x = torch.randn(5, 3, generator=generator, dtype=torch.float64)
    for i in range(2):
        torch.testing.assert_close(ens(x)[i], nets[i](x))
    conv = [torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten()).double()]
    with pytest.raises(LmechError, match="input_shape"):
        Ensemble.from_modules(conv)(torch.zeros(2, 1, 5, 5, dtype=torch.float64))
    given = Ensemble.from_modules(conv, input_shape=(1, 5, 5))
    assert given(torch.zeros(2, 1, 5, 5, dtype=torch.float64)).shape == (1, 2, 18)


def test_parameters_it_does_not_know_are_refused_not_left_constant() -> None:
    class Embedded(nn.Module):
        input_shape = (3,)

        def __init__(self) -> None:
            super().__init__()
            self.embed, self.norm = nn.Embedding(5, 4), nn.LayerNorm(4)
            self.out = nn.Linear(4, 2)

    refused = r"'embed.weight' \(of an nn.Embedding\).*default_parameters"
    with pytest.raises(LmechError, match=refused):
        init_ensemble(Embedded(), members=2, seed=0)

    class Normed(nn.Module):
        input_shape = (4,)

        def __init__(self) -> None:
            super().__init__()
            self.norm, self.out = nn.LayerNorm(4), nn.Linear(4, 2)

    ens = init_ensemble(Normed(), members=2, seed=0)
    assert torch.equal(ens.params["norm.weight"], torch.ones(2, 4))
