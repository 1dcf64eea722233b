"""The modified loss and the landscape observables against dense Hessians of each member."""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call

from lmech.ensemble import init_ensemble
from lmech.ensemble.train import mse
from lmech.errors import LmechError
from lmech.measure.modified_loss import landscape, modified_loss
from lmech.models import MLPConfig


@pytest.fixture
def problem(generator):
    ens = init_ensemble(MLPConfig(3, 4, 1, 1, "tanh"), members=2, seed=1, C_b=0.1,
                        dtype=torch.float64)
    x = torch.randn(2, 12, 3, generator=generator, dtype=torch.float64)
    y = torch.randn(2, 12, 1, generator=generator, dtype=torch.float64)

    def objective(p, batch):
        return mse(ens.forward(batch[0], p), batch[1])

    return ens, (x, y), objective


def _member_loss(ens, batch, i):
    """L_i as a function of member i's flat parameter vector, and that vector."""
    names = list(ens.params)
    shapes = [ens.params[k][i].shape for k in names]
    flat = torch.cat([ens.params[k][i].flatten() for k in names])

    def loss(theta):
        pieces = torch.split(theta, [s.numel() for s in shapes])
        p = {k: v.view(s) for k, v, s in zip(names, pieces, shapes, strict=True)}
        out = functional_call(ens.member(i), p, (batch[0][i],))
        return (out - batch[1][i]).square().mean()

    return loss, flat


def test_gradient_of_the_modified_loss_is_grad_plus_hessian_times_grad(problem) -> None:
    """∇(L + c‖∇L‖²) = ∇L + 2c H∇L, member by member, with its own c."""
    ens, batch, objective = problem
    c = torch.tensor([0.05, 0.2], dtype=torch.float64)
    p = {k: v.clone().requires_grad_() for k, v in ens.params.items()}
    total = modified_loss(objective, c)(p, batch).sum()
    grads = torch.autograd.grad(total, list(p.values()))
    got = torch.cat([g.flatten(1) for g in grads], 1)
    for i in range(2):
        loss, flat = _member_loss(ens, batch, i)
        g = torch.func.grad(loss)(flat)
        h = torch.autograd.functional.hessian(loss, flat)
        torch.testing.assert_close(got[i], g + 2 * c[i] * h @ g, rtol=1e-10, atol=1e-12)


def test_value_is_the_same_with_and_without_grad_mode(problem) -> None:
    ens, batch, objective = problem
    modified = modified_loss(objective, 0.25)
    with torch.no_grad():
        plain = modified(ens.params, batch)
    p = {k: v.clone().requires_grad_() for k, v in ens.params.items()}
    torch.testing.assert_close(modified(p, batch).detach(), plain, rtol=1e-14, atol=0)
    assert not plain.requires_grad


def test_landscape_equals_dense_computation(problem) -> None:
    ens, batch, objective = problem
    out = landscape(objective, ens.params, batch, tol=1e-10)
    for i in range(2):
        loss, flat = _member_loss(ens, batch, i)
        g = torch.func.grad(loss)(flat)
        h = torch.autograd.functional.hessian(loss, flat)
        assert out["loss"][i].item() == pytest.approx(loss(flat).item(), rel=1e-12)
        assert out["grad_sq"][i].item() == pytest.approx((g @ g).item(), rel=1e-10)
        assert out["sharpness"][i].item() == pytest.approx(
            torch.linalg.eigvalsh(h)[-1].item(), rel=1e-8)


def test_an_objective_without_a_member_axis_is_named(problem) -> None:
    ens, batch, _ = problem
    with pytest.raises(LmechError, match="one loss per member"):
        landscape(lambda p, b: p["layers.0.weight"].sum(), ens.params, batch)
