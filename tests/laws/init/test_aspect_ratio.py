"""init.aspect_ratio: the measurement against a hand-trained network, the step normalisation,
and the recorded finding's direction."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.func import functional_call, jacrev

from lmech.ensemble import init_ensemble
from lmech.errors import LmechError
from lmech.laws import get_law
from lmech.laws.init.aspect_ratio import _data, relative_ntk_change
from lmech.measure import empirical_ntk
from lmech.models import MLPConfig

LAW = get_law("init.aspect_ratio")


def _jacobian_ntk(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    params = {k: v.detach() for k, v in module.named_parameters()}
    jac = jacrev(lambda p: functional_call(module, p, (x,))[:, 0])(params)
    flat = torch.cat([j.reshape(x.shape[0], -1) for j in jac.values()], dim=1)
    return flat @ flat.T


def test_relative_change_matches_a_hand_trained_network() -> None:
    """Oracle: each member rebuilt as an nn.Module, trained by a hand-written loop with its
    own step η = c·k/(2λ_max), its Jacobian NTK before and after: the same mean r."""
    params = LAW.parameters("smoke", {"members": 3, "steps": 4})
    depth, width, seed, family = 4, 16, 5, 2
    law = relative_ntk_change(params, depth, width, seed, family, "cpu")
    x, y = _data(seed, params)
    ids = [family * params.members + j for j in range(params.members)]
    ens = init_ensemble(MLPConfig(n_in=params.n_in, width=width, depth=depth - 1, n_out=1,
                                  activation="relu", bias=False),
                        member_ids=ids, seed=seed, C_W=2.0)
    rs = []
    for m in range(params.members):
        net = ens.member(m)
        theta0 = _jacobian_ntk(net, x)
        lr = params.step_fraction * params.n_points / (2 * torch.linalg.eigvalsh(theta0)[-1])
        for _ in range(params.steps):
            loss = (net(x) - y).square().mean()
            grads = torch.autograd.grad(loss, list(net.parameters()))
            with torch.no_grad():
                for p, g in zip(net.parameters(), grads, strict=True):
                    p -= lr * g
        rs.append(((_jacobian_ntk(net, x) - theta0).norm() / theta0.norm()).item())
    assert float(law.value) == pytest.approx(np.mean(rs), rel=1e-4)


def test_the_step_moves_the_top_mode_by_the_chosen_fraction() -> None:
    """At first order one step scales the residual's top NTK mode by (1 − c)."""
    x, y = _data(0, LAW.parameters("smoke"))
    ens = init_ensemble(MLPConfig(n_in=x.shape[1], width=256, depth=2, n_out=1,
                                  activation="relu", bias=False), members=1, seed=3, C_W=2.0,
                        dtype=torch.float64)
    x, y = x.double(), y.double()
    theta = empirical_ntk(ens, x)[0]
    vals, vecs = torch.linalg.eigh(theta)
    c, k = 0.2, x.shape[0]
    lr = c * k / (2 * vals[-1])
    f0 = ens(x)[0, :, 0]
    params = {n: v.clone().requires_grad_(True) for n, v in ens.params.items()}
    out = ens.forward(x, params)[0, :, 0]
    grads = torch.autograd.grad((out - y[:, 0]).square().mean(), list(params.values()))
    stepped = {n: (v - lr * g).detach() for (n, v), g in zip(params.items(), grads,
                                                             strict=True)}
    f1 = ens.forward(x, stepped)[0, :, 0]
    top = vecs[:, -1]
    before, after = top @ (f0 - y[:, 0]), top @ (f1 - y[:, 0])
    assert float(after / before) == pytest.approx(1 - c, abs=0.02)


def test_finding_direction_at_smoke(law_run) -> None:
    """The recorded finding's direction already shows at smoke: deeper is larger at equal
    L/n (ratio above 1), not smaller as the 1/n foil says."""
    _, prediction, measurement, foil, _ = law_run(LAW, 7, members=8)
    assert np.all(measurement.y > prediction.y) and np.all(measurement.y > foil.y)


def test_parameters_are_checked() -> None:
    with pytest.raises(LmechError, match="start at 4"):
        LAW.parameters("smoke", {"depths": (2, 8)})
    with pytest.raises(LmechError, match="whole width"):
        LAW.parameters("smoke", {"ratios": (3 / 7,)})
