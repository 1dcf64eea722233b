"""The LSTM: shapes, causality, parameter count and matching, the stacked forward."""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call

from lmech.errors import LmechError
from lmech.models.initialise import default_parameters
from lmech.models.lstm import LSTMConfig, LSTMModel, lstm_forward, matched_lstm
from lmech.models.transformer import TransformerConfig

CONFIG = LSTMConfig(vocab=9, max_len=7, hidden=12, layers=2)


def test_shapes(generator) -> None:
    net = LSTMModel(CONFIG)
    assert net(torch.randint(9, (3, 5), generator=generator)).shape == (3, 5, 9)
    assert net.input_shape == (7,)


def test_output_at_t_does_not_depend_on_later_inputs(generator) -> None:
    net = LSTMModel(CONFIG)
    net.load_state_dict(default_parameters(net, generator))
    tokens = torch.randint(9, (4, 7), generator=generator)
    changed = tokens.clone()
    changed[:, 4:] = (changed[:, 4:] + 1) % 9
    a, b = net(tokens), net(changed)
    torch.testing.assert_close(a[:, :4], b[:, :4], rtol=0, atol=0)
    assert (a[:, 4:] - b[:, 4:]).abs().max() > 1e-3


def test_matches_torch_lstm_gate_equations(generator) -> None:
    """One layer against torch.nn.LSTM with the same weights (its gate order i, f, g, o)."""
    config = LSTMConfig(vocab=6, max_len=5, hidden=4)
    net = LSTMModel(config)
    net.load_state_dict(default_parameters(net, generator))
    ref = torch.nn.LSTM(4, 4, batch_first=True)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(net.inputs[0].weight)
        ref.bias_ih_l0.copy_(net.inputs[0].bias)
        ref.weight_hh_l0.copy_(net.recurrent[0].weight)
        ref.bias_hh_l0.zero_()
    tokens = torch.randint(6, (2, 5), generator=generator)
    hidden, _ = ref(net.embed(tokens))
    torch.testing.assert_close(net(tokens), net.readout(hidden), rtol=1e-5, atol=1e-6)


def test_parameter_count_is_the_modules() -> None:
    for config in (CONFIG, LSTMConfig(vocab=16, max_len=11, hidden=56)):
        assert config.parameter_count == sum(p.numel() for p in LSTMModel(config).parameters())


def test_matched_lstm_is_the_nearest_in_parameters() -> None:
    target = TransformerConfig(vocab=16, max_len=11).parameter_count
    lstm = matched_lstm(target, vocab=16, max_len=11)
    gaps = [abs(LSTMConfig(16, 11, n).parameter_count - target) for n in range(1, 200)]
    assert abs(lstm.parameter_count - target) == min(gaps)
    assert abs(lstm.parameter_count - target) <= 0.02 * target
    with pytest.raises(LmechError, match="parameters"):
        matched_lstm(0, vocab=16, max_len=11)


def test_stacked_forward_is_every_member_as_a_module(generator) -> None:
    net = LSTMModel(CONFIG)
    drawn = [default_parameters(net, torch.Generator().manual_seed(i)) for i in range(3)]
    params = {k: torch.stack([p[k] for p in drawn]) for k in drawn[0]}
    tokens = torch.randint(9, (3, 4, 6), generator=generator)
    looped = torch.stack([functional_call(net, {k: v[i] for k, v in params.items()},
                                          (tokens[i],)) for i in range(3)])
    torch.testing.assert_close(lstm_forward(params, tokens, CONFIG), looped,
                               rtol=1e-5, atol=1e-5)


def test_bad_config_names_the_field() -> None:
    with pytest.raises(LmechError, match="hidden"):
        LSTMModel(LSTMConfig(vocab=9, max_len=7, hidden=0))
