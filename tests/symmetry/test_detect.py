"""detect on each model family: what it finds, what it skips, and that what it finds holds."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from symmetry_nets import (
    CNN,
    NoSymmetry,
    PreNormBlock,
    Untraceable,
    WithCustomLayer,
    mlp,
)
from torch import nn

from lmech.errors import LmechError
from lmech.symmetry import detect, gradient_geometry


def _found(detection) -> set[tuple[str, tuple[str, ...]]]:
    return {(s.kind, s.params) for s in detection}


def test_mlp() -> None:
    net = mlp()
    found = _found(detect(net, torch.zeros(3, 6, dtype=torch.float64), loss="cross_entropy"))
    assert found == {
        ("translation", ("4.weight", "4.bias")),
        ("rescale", ("0.weight", "0.bias", "2.weight")),  # ReLU
        ("rescale", ("2.weight", "2.bias", "4.weight")),  # leaky ReLU
    }
    without_loss = detect(net, torch.zeros(3, 6, dtype=torch.float64))
    assert not without_loss.of_kind("translation")


def test_cnn_with_batchnorm() -> None:
    found = detect(CNN().double(), torch.zeros(2, 1, 8, 8, dtype=torch.float64),
                   loss="cross_entropy")
    assert _found(found) == {
        ("translation", ("fc.weight", "fc.bias")),
        ("scale", ("conv1.weight", "conv1.bias")),
        ("scale", ("conv2.weight", "conv2.bias")),
        ("rescale", ("bn1.weight", "bn1.bias", "conv2.weight")),  # through ReLU and max-pool
        ("rescale", ("bn2.weight", "bn2.bias", "fc.weight")),  # through ReLU and the mean
    }
    assert "BatchNorm" in found.of_kind("scale")[0].reason
    assert found.skipped == ()


def test_prenorm_transformer_block() -> None:
    """The residual stream feeds LayerNorm *and* the residual add, so nothing before a
    LayerNorm is scale-invariant; ln2 → fc1 and fc1 → ReLU → fc2 rescale; the head's output
    is averaged over tokens before the loss, which keeps the translation symmetry only if
    detect looked through the mean — it does not guess, so no translation is reported."""
    found = detect(PreNormBlock().double(), torch.zeros(2, 4, 5, dtype=torch.float64),
                   loss="cross_entropy")
    assert _found(found) == {
        ("rescale", ("ln2.weight", "ln2.bias", "fc1.weight")),
        ("rescale", ("fc1.weight", "fc1.bias", "fc2.weight")),
        ("rescale", ("ln_f.weight", "ln_f.bias", "head.weight")),
    }


def test_model_without_symmetry() -> None:
    found = detect(NoSymmetry(), torch.zeros(2, 4))
    assert list(found) == [] and found.skipped == ()


def test_custom_layer_is_skipped_not_guessed() -> None:
    found = detect(WithCustomLayer(), torch.zeros(2, 4), loss="cross_entropy")
    assert [s.name for s in found.skipped] == ["gain"]
    assert "Gain" in found.skipped[0].reason
    assert _found(found) == {
        ("translation", ("fc3.weight", "fc3.bias")),
        ("rescale", ("fc2.weight", "fc2.bias", "fc3.weight")),
    }  # nothing through the custom layer: fc1 → gain → … is not claimed


def test_shared_layer_is_skipped() -> None:
    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc, self.out = nn.Linear(4, 4), nn.Linear(4, 2)

        def forward(self, x):
            return self.out(F.relu(self.fc(F.relu(self.fc(x)))))

    found = detect(Shared(), torch.zeros(2, 4), loss="cross_entropy")
    assert [s.name for s in found.skipped] == ["fc"]
    assert _found(found) == {("translation", ("out.weight", "out.bias"))}


@pytest.mark.parametrize("make,shape", [
    (mlp, (16, 6)), (CNN, (16, 1, 8, 8)), (PreNormBlock, (16, 4, 5))])
def test_what_detect_finds_holds(make, shape, generator) -> None:
    """Oracle: every reported group satisfies its gradient identity to float64 rounding."""
    net = make().double()
    x = torch.randn(*shape, generator=generator, dtype=torch.float64)
    y = torch.randint(0, 3, (shape[0],), generator=generator)
    found = detect(net, x[:2], loss="cross_entropy")
    checks = gradient_geometry(net, F.cross_entropy, x, y, found)
    assert checks and all(abs(c.residual) < 1e-12 for c in checks), checks


def test_bad_inputs() -> None:
    with pytest.raises(LmechError, match="cannot trace Untraceable"):
        detect(Untraceable(), torch.zeros(2, 4))
    with pytest.raises(LmechError, match=r"example input of shape \(2, 5\)"):
        detect(mlp(), torch.zeros(2, 5, dtype=torch.float64))
    with pytest.raises(LmechError, match="unknown loss 'mse'"):
        detect(mlp(), torch.zeros(2, 6, dtype=torch.float64), loss="mse")
    with pytest.raises(LmechError, match="nn.Module"):
        detect(lambda x: x, torch.zeros(2))


def test_detect_leaves_the_model_alone() -> None:
    net = CNN().double()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    detect(net, torch.randn(4, 1, 8, 8, dtype=torch.float64))
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
