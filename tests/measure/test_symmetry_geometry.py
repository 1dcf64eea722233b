"""Gradient and Hessian identities: hold for true symmetries, fail for groups without one."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from symmetry_nets import CNN_GROUPS, MLP_GROUPS, cnn, mlp

from lmech.errors import LmechError
from lmech.measure import Symmetry, gradient_geometry, hessian_identity, noether_charge


def _batch(generator, shape):
    x = torch.randn(*shape, generator=generator, dtype=torch.float64)
    return x, torch.randint(0, 4, (shape[0],), generator=generator)


@pytest.mark.parametrize("make,groups,shape", [(mlp, MLP_GROUPS, (12, 6)),
                                               (cnn, CNN_GROUPS, (12, 1, 8, 8))])
def test_identities_hold(make, groups, shape, generator) -> None:
    net = make()
    x, y = _batch(generator, shape)
    for check in gradient_geometry(net, F.cross_entropy, x, y, groups):
        assert check.identity == "gradient" and abs(check.residual) < 1e-12, check
    for sym in groups:
        check = hessian_identity(net, F.cross_entropy, x, y, sym)
        assert check.identity == "hessian" and check.residual < 1e-10, check


def test_wrong_groups_fail(generator) -> None:
    """A claimed symmetry that is not one: the identities are violated at O(1)."""
    net = mlp()
    x, y = _batch(generator, (12, 6))
    fakes = [Symmetry("scale", ("0.weight", "0.bias")),  # no normalisation after it
             Symmetry("translation", ("2.weight", "2.bias")),  # hidden layer, not logits
             Symmetry.rescale(("0.weight",), ("2.weight",))]  # incoming bias left out
    for check in gradient_geometry(net, F.cross_entropy, x, y, fakes):
        assert abs(check.residual) > 1e-3, check
    for sym in fakes:
        assert hessian_identity(net, F.cross_entropy, x, y, sym).residual > 1e-3


def test_default_batchnorm_eps_breaks_scale_symmetry_slightly(generator) -> None:
    """PyTorch's default ε = 1e-5: ⟨g, θ⟩ ≠ 0 at the ε/σ² level, not at rounding level."""
    net = cnn(eps=1e-5)
    x, y = _batch(generator, (12, 1, 8, 8))
    scale = [s for s in CNN_GROUPS if s.kind == "scale"]
    residuals = [abs(c.residual) for c in gradient_geometry(net, F.cross_entropy, x, y, scale)]
    assert all(1e-9 < r < 1e-2 for r in residuals), residuals


def test_checks_leave_running_statistics_alone(generator) -> None:
    net = cnn()
    x, y = _batch(generator, (12, 1, 8, 8))
    before = net.bn1.running_mean.clone()
    sym = CNN_GROUPS[1]
    gradient_geometry(net, F.cross_entropy, x, y, [sym])
    hessian_identity(net, F.cross_entropy, x, y, sym)
    assert torch.equal(net.bn1.running_mean, before)


def test_noether_charge_by_hand() -> None:
    net = mlp()
    w0, b0, w2 = net[0].weight.detach(), net[0].bias.detach(), net[2].weight.detach()
    rescale = Symmetry.rescale(("0.weight", "0.bias"), ("2.weight",))
    expected = float((w0**2).sum() + (b0**2).sum() - (w2**2).sum())
    assert abs(noether_charge(net, rescale) - expected) < 1e-12
    translation = Symmetry("translation", ("4.weight", "4.bias"))
    total = float(net[4].weight.detach().sum() + net[4].bias.detach().sum())
    assert abs(noether_charge(net, translation) - total) < 1e-12


def test_unknown_parameter_name(generator) -> None:
    net = mlp()
    x, y = _batch(generator, (4, 6))
    with pytest.raises(LmechError, match="parameter '9.weight' is not in the model"):
        gradient_geometry(net, F.cross_entropy, x, y, [Symmetry("scale", ("9.weight",))])
    with pytest.raises(LmechError, match="unknown symmetry kind"):
        Symmetry("boost", ("0.weight",))
    with pytest.raises(LmechError, match="incoming and outgoing"):
        Symmetry("rescale", ("0.weight",))
