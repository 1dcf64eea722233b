"""measure.conservation: saliency against hand-computed values and finite differences,
both conservation sums on a bias-free ReLU network, and biases breaking them."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from lmech.errors import LmechError
from lmech.measure.conservation import layer_totals, neuron_balance, saliency
from lmech.models.initialise import default_parameters


def _summed_output(x):
    return lambda m, w: functional_call(m, w, (x,)).sum()


def test_two_layer_linear_net_by_hand(generator) -> None:
    """R = 1ᵀ W₂ W₁ x: S₁ = W₁ ⊙ (W₂ᵀ1) xᵀ and S₂ = W₂ ⊙ 1 (W₁x)ᵀ."""
    net = nn.Sequential(nn.Linear(3, 4, bias=False), nn.Linear(4, 2, bias=False))
    x = torch.randn(1, 3, generator=generator, dtype=torch.float64)
    s = saliency(net, _summed_output(x))
    w1, w2 = net[0].weight.double().detach(), net[1].weight.double().detach()
    ones = torch.ones(2, dtype=torch.float64)
    torch.testing.assert_close(s["0.weight"], w1 * torch.outer(w2.T @ ones, x[0]))
    torch.testing.assert_close(s["1.weight"], w2 * torch.outer(ones, w1 @ x[0]))


def test_saliency_matches_central_differences(generator) -> None:
    """Oracle: θᵢ·(R(θ + hεᵢ) − R(θ − hεᵢ))/2h for a cross-entropy R, every weight."""
    net = nn.Sequential(nn.Linear(3, 4, bias=False), nn.ReLU(), nn.Linear(4, 3, bias=False))
    x = torch.randn(5, 3, generator=generator, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 1, 0])
    s = saliency(net, lambda m, w: F.cross_entropy(functional_call(m, w, (x,)), y))
    h = 1e-6
    for name, p in net.double().named_parameters():
        for i in range(p.numel()):
            values = []
            for sign in (1, -1):
                w = {k: v.detach().clone() for k, v in net.named_parameters()}
                w[name].view(-1)[i] += sign * h
                values.append(F.cross_entropy(functional_call(net, w, (x,)), y).item())
            expected = p.view(-1)[i].item() * (values[0] - values[1]) / (2 * h)
            assert s[name].view(-1)[i].item() == pytest.approx(expected, abs=1e-8)


def _relu_mlp(bias: bool, generator: torch.Generator) -> nn.Module:
    net = nn.Sequential(nn.Linear(5, 7, bias=bias), nn.ReLU(), nn.Linear(7, 6, bias=bias),
                        nn.ReLU(), nn.Linear(6, 2, bias=bias))
    net.load_state_dict(default_parameters(net, generator))
    return net


def test_bias_free_relu_network_conserves_saliency(generator) -> None:
    """Every layer sums to ⟨f, ∂R/∂f⟩ = R for the summed output; every hidden neuron passes
    on what it receives (to rounding)."""
    net = _relu_mlp(False, generator)
    x = torch.randn(8, 5, generator=generator, dtype=torch.float64)
    scores = saliency(net, _summed_output(x))
    r = float(net.double()(x).sum().detach())
    for total in layer_totals(scores).values():
        assert total == pytest.approx(r, rel=1e-12)
    for incoming, outgoing in neuron_balance(scores):
        torch.testing.assert_close(incoming, outgoing, rtol=1e-12, atol=1e-14)


def test_biases_break_conservation(generator) -> None:
    """The foil's world: with biases the layer totals differ by far more than rounding."""
    net = _relu_mlp(True, generator)
    x = torch.randn(8, 5, generator=generator, dtype=torch.float64)
    totals = list(layer_totals(saliency(net, _summed_output(x))).values())
    assert max(totals) - min(totals) > 1e-3 * max(abs(t) for t in totals)


def test_the_model_is_not_modified(generator) -> None:
    net = _relu_mlp(False, generator)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    saliency(net, _summed_output(torch.ones(1, 5, dtype=torch.float64)))
    assert all(v.dtype == torch.float32 for v in net.state_dict().values())
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_bad_input_is_named() -> None:
    with pytest.raises(LmechError, match="no prunable weight"):
        saliency(nn.ReLU(), lambda m, w: torch.zeros(()))
    net = nn.Linear(2, 2, bias=False)
    with pytest.raises(LmechError, match="scalar"):
        saliency(net, lambda m, w: functional_call(m, w, (torch.ones(3, 2).double(),)))
    with pytest.raises(LmechError, match="does not read"):
        neuron_balance({"a": torch.ones(3, 2), "b": torch.ones(2, 4)})
