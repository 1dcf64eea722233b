"""Model families: shapes, deep linear is linear, config errors name the field."""

from __future__ import annotations

import pytest
import torch

from lmech.errors import LmechError
from lmech.models import MLP, CNNConfig, MLPConfig, SmallCNN, deep_linear


def test_mlp_shapes_and_widths() -> None:
    cfg = MLPConfig(3, (4, 5), 2, 2)
    assert cfg.widths == [3, 4, 5, 2]
    assert MLP(cfg)(torch.zeros(7, 3)).shape == (7, 2)


def test_deep_linear_is_the_product_of_its_weights(generator) -> None:
    net = MLP(deep_linear(3, 5, 2, 2))
    x = torch.randn(4, 3, generator=generator)
    w = net.layers[2].weight @ net.layers[1].weight @ net.layers[0].weight
    torch.testing.assert_close(net(x), x @ w.T)
    assert all(layer.bias is None for layer in net.layers)


@pytest.mark.parametrize("norm", ["layer", "group", "none"])
def test_cnn_shapes(norm) -> None:
    cfg = CNNConfig(in_channels=3, size=6, channels=(4, 8), n_out=5, norm=norm)
    assert SmallCNN(cfg)(torch.zeros(2, 3, 6, 6)).shape == (2, 5)


@pytest.mark.parametrize("make,name", [
    (lambda: MLP(MLPConfig(0, 4, 1)), "n_in"),
    (lambda: MLP(MLPConfig(3, (4,), 2)), "width"),
    (lambda: MLP(MLPConfig(3, 4, 1, activation="bogus")), "activation"),
    (lambda: SmallCNN(CNNConfig(norm="batch")), "norm"),
    (lambda: SmallCNN(CNNConfig(kernel=2)), "kernel"),
])
def test_bad_config_names_the_field(make, name) -> None:
    with pytest.raises(LmechError, match=name):
        make()
