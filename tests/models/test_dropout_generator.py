"""The dropout generator: inverted masks keep the mean, the stacked forward is each member's."""

from __future__ import annotations

import torch

from lmech.ensemble import init_ensemble
from lmech.models import MLP, MLPConfig
from lmech.models.dropout_generator import dropout_generator, inverted_dropout


def test_inverted_dropout_keeps_the_mean(generator) -> None:
    """ζ = [ξ < 1 − p]/(1 − p) takes 0 or 1/(1 − p) and has mean 1 (5 standard errors)."""
    n, rate = 200_000, 0.3
    mask = inverted_dropout(torch.rand(n, generator=generator, dtype=torch.float64), rate)
    assert set(torch.unique(mask).tolist()) == {0.0, 1 / 0.7}
    sd = (rate / (1 - rate)) ** 0.5  # of ζ
    assert abs(mask.mean().item() - 1) < 5 * sd / n**0.5


def test_stacked_forward_is_each_members_masked_mlp(generator) -> None:
    """With a mask of ones it is the MLP; a mask scales the hidden units it multiplies."""
    config = MLPConfig(6, 5, 1, 4, activation="tanh")
    ensemble = init_ensemble(config, members=2, seed=3, C_b=0.1, dtype=torch.float64)
    codes = torch.randn(7, 6, dtype=torch.float64, generator=generator)
    ones = torch.ones(2, 7, 5, dtype=torch.float64)
    out = dropout_generator(ensemble.params, codes, ones)
    mask = (torch.rand(2, 7, 5, generator=generator) < 0.5).double() * 2
    masked = dropout_generator(ensemble.params, codes, mask)
    for m in range(2):
        net = MLP(config).double()
        net.load_state_dict({k: v[m] for k, v in ensemble.params.items()})
        torch.testing.assert_close(out[m], net(codes))
        hidden = torch.tanh(net.layers[0](codes)) * mask[m]
        torch.testing.assert_close(masked[m], net.layers[1](hidden))
