"""models.vgg: shapes, parameter count by hand, the shortest path, state_dict round trip."""

from __future__ import annotations

import pytest
import torch

from lmech.errors import LmechError
from lmech.measure.collapse import layer_collapse
from lmech.models import SmallVGG, VGGConfig
from lmech.models.initialise import default_parameters

CONFIG = VGGConfig(in_channels=2, size=8, layout=(4, "M", 6, "M"), n_out=3, bias=False)


def test_shapes_and_features() -> None:
    net = SmallVGG(CONFIG)
    assert CONFIG.features == 6 * 2 * 2
    assert net(torch.zeros(5, 2, 8, 8)).shape == (5, 3)
    assert net.input_shape == (2, 8, 8)


@pytest.mark.parametrize("bias", [False, True])
def test_parameter_count_by_hand(bias) -> None:
    net = SmallVGG(VGGConfig(in_channels=2, size=8, layout=(4, "M", 6, "M"), n_out=3,
                             bias=bias))
    weights = 4 * 2 * 9 + 6 * 4 * 9 + 3 * 24
    biases = (4 + 6 + 3) if bias else 0
    assert sum(p.numel() for p in net.parameters()) == weights + biases


def test_shortest_path_is_one_weight_per_layer(generator) -> None:
    """Oracle: keeping every weight of all layers but one emptied layer collapses; a mask
    with one weight in each layer along one path (channel 0 to channel 0, the centre tap,
    pixel 0 of the readout) stays connected; so a path needs one weight per layer."""
    net = SmallVGG(CONFIG)
    net.load_state_dict(default_parameters(net, generator))
    names = [n for n, p in net.named_parameters() if n.endswith("weight")]
    assert net.shortest_path == len(names) == 3
    path = {n: torch.zeros_like(p, dtype=torch.bool) for n, p in net.named_parameters()}
    for n in names[:-1]:
        path[n][0, 0, 1, 1] = True  # centre tap keeps pixel (i, j) → (i, j)
    path[names[-1]][0, 0] = True  # the readout reads channel 0 at pooled pixel 0
    assert layer_collapse(net, path, net.input_shape).connected
    for n in names:
        emptied = {k: torch.ones_like(v) if k != n else torch.zeros_like(v)
                   for k, v in path.items()}
        assert layer_collapse(net, emptied, net.input_shape).collapsed


def test_state_dict_round_trip(generator) -> None:
    net, other = SmallVGG(CONFIG), SmallVGG(CONFIG)
    net.load_state_dict(default_parameters(net, generator))
    other.load_state_dict(net.state_dict())
    x = torch.randn(2, 2, 8, 8, generator=generator)
    torch.testing.assert_close(other(x), net(x), rtol=0, atol=0)


@pytest.mark.parametrize("config,match", [
    (VGGConfig(layout=("M",)), "layout"),
    (VGGConfig(layout=(4, -1)), "layout"),
    (VGGConfig(size=6, layout=(4, "M", "M")), "size"),
    (VGGConfig(n_out=0), "n_out"),
])
def test_bad_config_names_the_field(config, match) -> None:
    with pytest.raises(LmechError, match=match):
        SmallVGG(config)
