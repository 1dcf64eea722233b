"""models.resnet: shapes, parameter count by hand, projections where the shape changes,
the shortest path through stem, projections and readout, state_dict round trip."""

from __future__ import annotations

import pytest
import torch

from lmech.errors import LmechError
from lmech.measure.collapse import layer_collapse
from lmech.models import ResNetConfig, SmallResNet
from lmech.models.initialise import default_parameters

CONFIG = ResNetConfig(in_channels=1, size=8, width=2, stages=2, blocks_per_stage=2, n_out=3,
                      bias=False)


def test_shapes() -> None:
    assert SmallResNet(CONFIG)(torch.zeros(4, 1, 8, 8)).shape == (4, 3)


def test_parameter_count_by_hand() -> None:
    """stem 2·9; stage 0: two blocks 2→2 (2 convs of 2·2·9); stage 1: a 2→4 block (4·2·9,
    4·4·9 and a 1×1 projection 4·2) and a 4→4 block (2 · 4·4·9); readout 3·4."""
    expected = 18 + 4 * 36 + (72 + 144 + 8) + 2 * 144 + 12
    assert sum(p.numel() for p in SmallResNet(CONFIG).parameters()) == expected


def test_only_shape_changing_blocks_project() -> None:
    net = SmallResNet(CONFIG)
    assert [b.shortcut is not None for b in net.blocks] == [False, False, True, False]


def test_shortest_path_runs_through_stem_projections_and_readout(generator) -> None:
    """Oracle: emptying every 3×3 convolution of every block leaves the input connected
    through identities and projections; emptying the stem or the projection cuts it."""
    net = SmallResNet(CONFIG)
    net.load_state_dict(default_parameters(net, generator))
    assert net.shortest_path == 3
    masks = {n: torch.ones_like(p, dtype=torch.bool) for n, p in net.named_parameters()}
    branches = {n: (torch.zeros_like(m) if ".conv" in n else m) for n, m in masks.items()}
    assert layer_collapse(net, branches, net.input_shape).connected
    for cut in ("stem.weight", "blocks.2.shortcut.weight", "readout.weight"):
        emptied = {n: (torch.zeros_like(m) if n == cut else m) for n, m in branches.items()}
        assert layer_collapse(net, emptied, net.input_shape).collapsed


def test_state_dict_round_trip(generator) -> None:
    net, other = SmallResNet(CONFIG), SmallResNet(CONFIG)
    net.load_state_dict(default_parameters(net, generator))
    other.load_state_dict(net.state_dict())
    x = torch.randn(2, 1, 8, 8, generator=generator)
    torch.testing.assert_close(other(x), net(x), rtol=0, atol=0)


@pytest.mark.parametrize("config,match", [
    (ResNetConfig(width=0), "width"),
    (ResNetConfig(stages=True), "stages"),
    (ResNetConfig(size=6, stages=3), "size"),
])
def test_bad_config_names_the_field(config, match) -> None:
    with pytest.raises(LmechError, match=match):
        SmallResNet(config)
