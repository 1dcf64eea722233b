"""The causal transformer: shapes, causality, parameter count, the stacked forward."""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call

from lmech.errors import LmechError
from lmech.models.initialise import default_parameters
from lmech.models.transformer import CausalTransformer, TransformerConfig, transformer_forward

CONFIG = TransformerConfig(vocab=9, max_len=7, d_model=16, heads=2, layers=2)


def _stacked(net: torch.nn.Module, members: int) -> dict[str, torch.Tensor]:
    drawn = [default_parameters(net, torch.Generator().manual_seed(i)) for i in range(members)]
    return {k: torch.stack([p[k] for p in drawn]) for k in drawn[0]}


def test_shapes(generator) -> None:
    net = CausalTransformer(CONFIG)
    tokens = torch.randint(9, (3, 5), generator=generator)
    assert net(tokens).shape == (3, 5, 9)
    assert net.input_shape == (7,)


def test_output_at_t_does_not_depend_on_later_inputs(generator) -> None:
    net = CausalTransformer(CONFIG)
    net.load_state_dict(default_parameters(net, generator))
    tokens = torch.randint(9, (4, 7), generator=generator)
    changed = tokens.clone()
    changed[:, 4:] = (changed[:, 4:] + 1) % 9  # alter every input after position 3
    a, b = net(tokens), net(changed)
    torch.testing.assert_close(a[:, :4], b[:, :4], rtol=0, atol=1e-6)
    assert (a[:, 4:] - b[:, 4:]).abs().max() > 1e-3  # later outputs do see them


def test_parameter_count_is_the_modules() -> None:
    for config in (CONFIG, TransformerConfig(vocab=16, max_len=11),
                   TransformerConfig(vocab=5, max_len=3, d_model=8, heads=4, layers=3,
                                     mlp_ratio=2)):
        net = CausalTransformer(config)
        assert config.parameter_count == sum(p.numel() for p in net.parameters())


def test_stacked_forward_is_every_member_as_a_module(generator) -> None:
    net = CausalTransformer(CONFIG)
    params = _stacked(net, 3)
    tokens = torch.randint(9, (3, 4, 6), generator=generator)
    looped = torch.stack([functional_call(net, {k: v[i] for k, v in params.items()},
                                          (tokens[i],)) for i in range(3)])
    torch.testing.assert_close(transformer_forward(params, tokens, CONFIG), looped,
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("field,value", [("d_model", 0), ("heads", 3), ("layers", True)])
def test_bad_config_names_the_field(field, value) -> None:
    values = dict(vocab=9, max_len=7, d_model=16, heads=2, layers=2)
    values[field] = value
    with pytest.raises(LmechError, match=field if field != "heads" else "divide"):
        CausalTransformer(TransformerConfig(**values))
