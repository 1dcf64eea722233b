"""Every pruning score against numbers written from its formula with numpy, on a 2-layer
network small enough to follow by hand: y = W₂ relu(W₁x + b₁) + b₂ (3 → 4 → 2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lmech.measure.pruning import prune_masks
from lmech.measure.saliency import (
    grasp_scores,
    magnitude_scores,
    random_scores,
    snip_scores,
    synaptic_flow,
    synflow_scores,
)

W1 = np.array([[0.5, -1.0, 0.25], [-0.75, 0.5, 1.5], [1.0, 0.25, -0.5], [0.2, -0.3, 0.1]])
B1 = np.array([0.1, -0.2, 0.3, -1.5])  # the last unit is off for every sample below
W2 = np.array([[1.0, -0.5, 0.25, 2.0], [-1.5, 0.75, 1.0, -0.25]])
B2 = np.array([0.05, -0.1])
X = np.array([[1.0, 0.5, -0.5], [0.2, -1.0, 1.0], [-0.3, 0.4, 0.8]])
Y = np.array([[0.5, -1.0], [1.0, 0.0], [-0.5, 0.25]])
NAMES = ("0.weight", "0.bias", "2.weight", "2.bias")


def _net() -> nn.Sequential:
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).double()
    with torch.no_grad():
        for p, value in zip(net.parameters(), (W1, B1, W2, B2), strict=True):
            p.copy_(torch.from_numpy(value))
    return net


def _mse(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((out - target) ** 2).mean()


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(X), torch.from_numpy(Y)


def _gradient(v1=None, c1=None, v2=None, c2=None):
    """∇L of L = mean((f − y)²) by the chain rule, or with a direction (v1, c1, v2, c2)
    the directional derivative of ∇L: the Hessian–vector product."""
    n = Y.size
    h = X @ W1.T + B1
    d = (h > 0).astype(float)
    a = d * h
    e = 2 * (a @ W2.T + B2 - Y) / n
    if v1 is None:
        dh = (e @ W2) * d
        return dh.T @ X, dh.sum(0), e.T @ a, e.sum(0)
    a_dot = d * (X @ v1.T + c1)
    e_dot = 2 * (a @ v2.T + a_dot @ W2.T + c2) / n
    dh_dot = (e_dot @ W2 + e @ v2) * d
    return dh_dot.T @ X, dh_dot.sum(0), e_dot.T @ a + e.T @ a_dot, e_dot.sum(0)


def _check(scores: dict[str, torch.Tensor], expected, names=NAMES) -> None:
    assert list(scores) == list(names)
    for name, want in zip(names, expected, strict=True):
        np.testing.assert_allclose(scores[name].detach().numpy(), want, rtol=1e-12, atol=1e-15)


def test_the_fixture_has_a_dead_unit_and_live_ones() -> None:
    h = X @ W1.T + B1
    assert (h[:, 3] < 0).all() and (h[:, :3] > 0).any()


def test_magnitude_is_the_absolute_weight() -> None:
    _check(magnitude_scores(_net(), biases=True), [np.abs(t) for t in (W1, B1, W2, B2)])
    _check(magnitude_scores(_net()), [np.abs(W1), np.abs(W2)], ("0.weight", "2.weight"))


def test_random_scores_are_the_generators_uniforms_in_layer_order() -> None:
    scores = random_scores(_net(), torch.Generator().manual_seed(7), biases=True)
    u = torch.rand(12 + 4 + 8 + 2, generator=torch.Generator().manual_seed(7),
                   dtype=torch.float64).numpy()
    _check(scores, [u[:12].reshape(4, 3), u[12:16], u[16:24].reshape(2, 4), u[24:]])


def test_snip_is_the_absolute_weight_times_gradient() -> None:
    grads = _gradient()
    expected = [np.abs(t * g) for t, g in zip((W1, B1, W2, B2), grads, strict=True)]
    _check(snip_scores(_net(), _data(), _mse, biases=True), expected)
    assert float(snip_scores(_net(), _data(), _mse)["0.weight"][3].abs().sum()) == 0  # dead


def test_grasp_is_minus_weight_times_hessian_gradient() -> None:
    g = _gradient()
    hg = _gradient(*g)
    expected = [-t * x for t, x in zip((W1, B1, W2, B2), hg, strict=True)]
    _check(grasp_scores(_net(), _data(), _mse, biases=True), expected)


def test_grasp_keeps_the_smallest_scores() -> None:
    hg = _gradient(*_gradient())
    s = np.concatenate([(-W1 * hg[0]).ravel(), (-W2 * hg[2]).ravel()])
    masks = prune_masks(_net(), "grasp", 20 / 7, data=_data(), loss=_mse)
    kept = np.concatenate([masks["0.weight"].numpy().ravel(), masks["2.weight"].numpy().ravel()])
    assert kept.sum() == 7
    assert set(np.flatnonzero(kept)) == set(np.argsort(s)[:7])


def test_synflow_on_the_absolute_network() -> None:
    """R = 1ᵀ(|W₂| h + |b₂|) with h = |W₁|1 + |b₁| (all positive, so ReLU passes it);
    ∂R/∂h_j = c_j = Σ_k |W₂[k, j]|."""
    h = np.abs(W1).sum(1) + np.abs(B1)
    c = np.abs(W2).sum(0)
    expected = [np.abs(W1) * c[:, None], np.abs(B1) * c, np.abs(W2) * h[None, :], np.abs(B2)]
    _check(synflow_scores(_net(), biases=True), expected)
    assert synaptic_flow(_net()) == pytest.approx((np.abs(W2) @ h + np.abs(B2)).sum(),
                                                  rel=1e-14)


def test_synflow_ignores_the_signs_and_sees_masks() -> None:
    flipped = _net()
    with torch.no_grad():
        for p in flipped.parameters():
            p.neg_()
    _check(synflow_scores(flipped, biases=True), list(synflow_scores(_net(), biases=True)
                                                      .values()))
    mask = torch.ones(2, 4, dtype=torch.bool)
    mask[:, 1] = False  # hidden unit 1 has no way out
    scores = synflow_scores(_net(), masks={"2.weight": mask})
    assert float(scores["0.weight"][1].abs().sum()) == 0
    assert float(scores["2.weight"][:, 1].abs().sum()) == 0


def _bn_net(running_var: float) -> nn.Sequential:
    net = nn.Sequential(nn.Linear(3, 2, bias=False), nn.BatchNorm1d(2),
                        nn.Linear(2, 1, bias=False)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, -2.0, 0.5], [0.25, 0.5, -1.0]]))
        net[1].weight.copy_(torch.tensor([2.0, -0.5]))
        net[1].bias.copy_(torch.tensor([0.0, 0.0]))
        net[1].running_var.fill_(running_var)
        net[1].running_mean.fill_(3.0)  # centring is dropped either way
        net[2].weight.copy_(torch.tensor([[-1.5, 4.0]]))
    return net


def test_synflow_batchnorm_running_mode_divides_by_the_running_sigma() -> None:
    net = _bn_net(running_var=3.0)
    a = np.array([2.0, 0.5]) / np.sqrt(3.0 + 1e-5)  # |γ|/√(var + ε)
    w1, w2 = np.abs(net[0].weight.detach().numpy()), np.abs(net[2].weight.detach().numpy())
    h = w1.sum(1)
    _check(synflow_scores(net, norms="running"),
           [w1 * (a * w2[0])[:, None], w2 * (a * h)[None, :]], ("0.weight", "2.weight"))


def test_synflow_batchnorm_flow_mode_divides_by_its_own_rms_held_fixed() -> None:
    """One sample: each channel's root mean square is h_c itself, so the normalised
    signal is 1 and ∂R/∂h_c = |w₂,c|·|γ_c|/h_c with σ = h_c held constant."""
    net = _bn_net(running_var=3.0)
    g = np.array([2.0, 0.5])
    w1, w2 = np.abs(net[0].weight.detach().numpy()), np.abs(net[2].weight.detach().numpy())
    h = w1.sum(1)
    _check(synflow_scores(net, norms="flow"),
           [w1 * (w2[0] * g / h)[:, None], w2 * g[None, :]], ("0.weight", "2.weight"))


def test_scores_never_touch_the_users_model() -> None:
    net = _net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    synflow_scores(net)
    snip_scores(net, _data(), _mse)
    grasp_scores(net, _data(), _mse)
    prune_masks(net, "synflow", 4, iterations=5)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(p.grad is None for p in net.parameters())
