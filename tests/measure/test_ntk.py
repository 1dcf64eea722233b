"""lmech.measure.empirical_ntk against the autograd Jacobian of single networks."""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call, jacrev

from lmech.ensemble import init_ensemble
from lmech.errors import LmechError
from lmech.measure import empirical_ntk
from lmech.models import MLPConfig


def _jacobian_ntk(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Θ = J Jᵀ from the full Jacobian of f over every parameter (brute force)."""
    params = {k: v.detach() for k, v in module.named_parameters()}
    jac = jacrev(lambda p: functional_call(module, p, (x,))[:, 0])(params)
    flat = torch.cat([j.reshape(x.shape[0], -1) for j in jac.values()], dim=1)
    return flat @ flat.T


@pytest.mark.parametrize(("activation", "bias", "depth"), [
    ("relu", True, 3), ("tanh", False, 2), ("tanh", True, 1), ("linear", False, 0)])
def test_matches_the_jacobian_of_each_member(activation, bias, depth) -> None:
    config = MLPConfig(n_in=3, width=7, depth=depth, n_out=1, activation=activation, bias=bias)
    ens = init_ensemble(config, members=3, seed=1, C_W=2.0, C_b=0.1, dtype=torch.float64)
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    theta = empirical_ntk(ens, x)
    for m in range(3):
        torch.testing.assert_close(theta[m], _jacobian_ntk(ens.member(m), x),
                                   rtol=1e-10, atol=1e-12)


def test_per_member_inputs_and_explicit_params() -> None:
    config = MLPConfig(n_in=2, width=4, depth=2, n_out=1, activation="relu")
    ens = init_ensemble(config, members=2, seed=0, C_W=2.0, dtype=torch.float64)
    x = torch.randn(2, 3, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    theta = empirical_ntk(ens, x)
    for m in range(2):
        torch.testing.assert_close(theta[m], _jacobian_ntk(ens.member(m), x[m]))
    doubled = {k: 2 * v for k, v in ens.params.items()}
    assert not torch.allclose(empirical_ntk(ens, x, doubled), theta)


def test_refuses_several_outputs() -> None:
    ens = init_ensemble(MLPConfig(n_in=2, width=4, depth=1, n_out=2), members=1, seed=0)
    with pytest.raises(LmechError, match="n_out = 1"):
        empirical_ntk(ens, torch.zeros(3, 2))
