"""prune.saliency_conservation: biases break the identity (the measurement can fail),
SynFlow's R against the product of |W| matrices, and the loss saliency's normaliser
against a finite difference along the output's scale."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lmech.laws import get_law
from lmech.laws.prune._initial_networks import initial_networks
from lmech.laws.prune.saliency_conservation import ROUNDING, _loss_sums, _synflow_sums
from lmech.measure.saliency import synaptic_flow
from lmech.models import MLP, MLPConfig

LAW = get_law("prune.saliency_conservation")


def _mlp(bias: bool) -> nn.Module:
    config = MLPConfig(6, 9, 2, 3, activation="relu", bias=bias)
    return initial_networks(lambda: MLP(config), 1, seed=5).member(0)


def test_biases_break_what_the_identity_checks() -> None:
    """Wrong but plausible: conservation with biases. Their layer totals and neuron
    balances miss the identity by far more than the rounding tolerance."""
    layers, imbalance = _synflow_sums(_mlp(bias=True), (6,))
    assert np.abs(layers - 1).max() > 1e3 * ROUNDING
    assert imbalance.max() > 1e3 * ROUNDING
    layers, imbalance = _synflow_sums(_mlp(bias=False), (6,))
    assert np.abs(layers - 1).max() < ROUNDING and imbalance.max() < ROUNDING


def test_synaptic_flow_is_the_product_of_absolute_weights() -> None:
    """Independent route: R = 1ᵀ|W₃||W₂||W₁|1 for a bias-free MLP."""
    net = _mlp(bias=False)
    weights = [m.weight.detach().double().abs() for m in net.modules()
               if isinstance(m, nn.Linear)]
    r = torch.ones(6, dtype=torch.float64)
    for w in weights:
        r = w @ r
    assert synaptic_flow(net, (6,)) == pytest.approx(float(r.sum()), rel=1e-12)


def test_loss_normaliser_is_the_derivative_along_the_output_scale(generator) -> None:
    """Oracle: ⟨f, ∂L/∂f⟩ = d/dα L(α f) at α = 1, by a central difference; each layer's
    total over it is 1 and the identity holds for the loss's signed scores."""
    net = _mlp(bias=False)
    x = torch.randn(16, 6, generator=generator, dtype=torch.float64)
    y = torch.randint(0, 3, (16,), generator=generator)
    f = net.double()(x).detach()
    h = 1e-6
    euler = (F.cross_entropy((1 + h) * f, y) - F.cross_entropy((1 - h) * f, y)) / (2 * h)
    g = torch.autograd.grad(F.cross_entropy(f.requires_grad_(), y), f)[0]
    assert float((f.detach() * g).sum()) == pytest.approx(float(euler), rel=1e-7)
    layers, imbalance = _loss_sums(net, x, y)
    np.testing.assert_allclose(layers, 1, atol=ROUNDING)
    assert imbalance.max() < ROUNDING
