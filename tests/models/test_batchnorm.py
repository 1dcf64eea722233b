"""BatchNorm'd networks: exact scale invariance, and batch statistics per stacked member
(an ensemble member equals the module alone on that member's batch)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lmech.ensemble import init_ensemble
from lmech.errors import LmechError
from lmech.models import (
    BatchNormCNN,
    BatchNormCNNConfig,
    BatchNormMLP,
    BatchNormMLPConfig,
    batchnorm_mlp_forward,
)
from lmech.models.batchnorm import batch_standardise

F64 = torch.float64


def test_standardise_has_zero_mean_unit_variance(generator) -> None:
    h = torch.randn(3, 20, 5, generator=generator, dtype=F64) * 4 + 2
    z = batch_standardise(h)
    torch.testing.assert_close(z.mean(1), torch.zeros(3, 5, dtype=F64), atol=1e-14, rtol=0)
    torch.testing.assert_close(z.var(1, unbiased=False), torch.ones(3, 5, dtype=F64))


def test_mlp_weights_are_exactly_scale_invariant(generator) -> None:
    """ε = 0: W_k → αW_k leaves the logits unchanged to rounding, for every layer."""
    net = BatchNormMLP(BatchNormMLPConfig(6, (8, 7), 4)).double()
    x = torch.randn(16, 6, generator=generator, dtype=F64)
    before = net(x)
    with torch.no_grad():
        for alpha, layer in zip((0.01, 30.0, 7.0), net.layers, strict=True):
            layer.weight.mul_(alpha)
    torch.testing.assert_close(net(x), before, rtol=1e-12, atol=1e-12)


def test_mlp_stacked_forward_is_each_member_alone(generator) -> None:
    ens = init_ensemble(BatchNormMLP(BatchNormMLPConfig(6, (8,), 4)), members=3, seed=0,
                        init="torch", dtype=F64)
    x = torch.randn(3, 10, 6, generator=generator, dtype=F64)  # each member its own batch
    out = batchnorm_mlp_forward(ens.params, x)
    for i in range(3):
        torch.testing.assert_close(out[i], ens.member(i)(x[i]), rtol=1e-13, atol=1e-13)


def test_cnn_batch_statistics_are_per_member(generator) -> None:
    """Oracle: the engine's vectorised forward and gradient of member i equal the module
    alone on member i's batch; another member's batch does not enter them."""
    ens = init_ensemble(BatchNormCNN(BatchNormCNNConfig(channels=(3, 4))), members=3, seed=1,
                        init="torch", dtype=F64)
    x = torch.randn(3, 12, 1, 8, 8, generator=generator, dtype=F64)
    y = torch.randint(0, 10, (3, 12), generator=generator)
    params = {k: v.clone().requires_grad_() for k, v in ens.params.items()}
    out = ens.forward(x, params)  # (M, B, 10)
    loss = F.cross_entropy(out.reshape(-1, 10), y.reshape(-1), reduction="sum")
    grads = torch.autograd.grad(loss, list(params.values()))
    for i in range(3):
        net = ens.member(i)
        alone = net(x[i])
        torch.testing.assert_close(out[i], alone, rtol=1e-12, atol=1e-12)
        g = torch.autograd.grad(F.cross_entropy(alone, y[i], reduction="sum"),
                                list(net.parameters()))
        for name, a, b in zip(params, grads, g, strict=True):
            torch.testing.assert_close(a[i], b, rtol=1e-10, atol=1e-12, msg=name)
    other = x.clone()
    other[1] = torch.randn(12, 1, 8, 8, generator=generator, dtype=F64)
    torch.testing.assert_close(ens.forward(other)[0], out[0].detach(), rtol=0, atol=0)


def test_cnn_conv_groups_are_scale_invariant(generator) -> None:
    net = BatchNormCNN(BatchNormCNNConfig()).double()
    x = torch.randn(16, 1, 8, 8, generator=generator, dtype=F64)
    before = net(x)
    with torch.no_grad():
        for p in (net.conv1.weight, net.conv1.bias, net.conv2.weight, net.conv2.bias):
            p.mul_(5.0)
    torch.testing.assert_close(net(x), before, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("make,name", [
    (lambda: BatchNormMLP(BatchNormMLPConfig(widths=())), "widths"),
    (lambda: BatchNormMLP(BatchNormMLPConfig(n_in=0)), "n_in"),
    (lambda: BatchNormMLP(BatchNormMLPConfig(eps=-1.0)), "eps"),
    (lambda: BatchNormCNN(BatchNormCNNConfig(size=7)), "size"),
    (lambda: BatchNormCNN(BatchNormCNNConfig(eps=0.0)), "eps"),
    (lambda: BatchNormCNN(BatchNormCNNConfig(channels=(4,))), "channels"),
])
def test_bad_config_names_the_field(make, name) -> None:
    with pytest.raises(LmechError, match=name):
        make()
