"""lmech.models.superposition: the toy model's forward, one member and an ensemble."""

from __future__ import annotations

import pytest
import torch

from lmech.errors import LmechError
from lmech.models import ToyModel, ToyModelConfig, toy_model_forward


def test_forward_is_relu_of_wtw_x_plus_b(generator) -> None:
    model = ToyModel(ToyModelConfig(n_features=5, hidden=2))
    with torch.no_grad():
        model.b.copy_(torch.randn(5, generator=generator))
    x = torch.rand(7, 5, generator=generator)
    w, b = model.W.detach(), model.b.detach()
    by_hand = torch.clamp(torch.stack([w.T @ (w @ row) for row in x]) + b, min=0.0)
    torch.testing.assert_close(model(x), by_hand)


def test_antipodal_pair_cancels_interference() -> None:
    """W = (1, −1), b = 0: a lone feature is read back exactly, its partner stays at zero."""
    model = ToyModel(ToyModelConfig(n_features=2, hidden=1))
    with torch.no_grad():
        model.W.copy_(torch.tensor([[1.0, -1.0]]))
    out = model(torch.tensor([[0.7, 0.0], [0.0, 0.4]]))
    torch.testing.assert_close(out, torch.tensor([[0.7, 0.0], [0.0, 0.4]]))


def test_stacked_forward_matches_each_member(generator) -> None:
    w = torch.randn(3, 2, 6, generator=generator)
    b = torch.randn(3, 6, generator=generator)
    x = torch.rand(3, 4, 6, generator=generator)
    out = toy_model_forward({"W": w, "b": b}, x)
    assert out.shape == (3, 4, 6)
    for i in range(3):
        model = ToyModel(ToyModelConfig(n_features=6, hidden=2))
        with torch.no_grad():
            model.W.copy_(w[i])
            model.b.copy_(b[i])
        torch.testing.assert_close(out[i], model(x[i]))


def test_initial_weights_have_unit_column_norm_on_average() -> None:
    model = ToyModel(ToyModelConfig(n_features=4000, hidden=8))
    norms = model.W.detach().square().sum(0)  # mean of 4000 columns: sd 0.008 about 1
    assert float(norms.mean()) == pytest.approx(1.0, abs=0.05)
    assert torch.all(model.b == 0)


def test_bad_config_is_named() -> None:
    with pytest.raises(LmechError, match="n_features and hidden"):
        ToyModelConfig(n_features=0, hidden=2)
