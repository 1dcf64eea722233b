"""detect on each model family: what it finds, what it skips, and that what it finds holds."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from symmetry_nets import (
    CNN_GROUPS,
    MLP_GROUPS,
    NoSymmetry,
    Untraceable,
    WithCustomLayer,
    cnn,
    mlp,
    prenorm_block,
    seeded,
)
from torch import nn

from lmech.errors import LmechError
from lmech.measure import gradient_geometry
from lmech.tools import detect


def _found(detection) -> set[tuple[str, tuple[str, ...]]]:
    return {(s.kind, s.params) for s in detection}


def test_mlp() -> None:
    net = mlp()
    found = detect(net, torch.zeros(3, 6, dtype=torch.float64), loss="cross_entropy")
    assert _found(found) == _found(MLP_GROUPS)
    assert [s.incoming for s in found.of_kind("rescale")] == [("0.weight", "0.bias"),
                                                             ("2.weight", "2.bias")]
    without_loss = detect(net, torch.zeros(3, 6, dtype=torch.float64))
    assert not without_loss.of_kind("translation")


def test_cnn_with_batchnorm() -> None:
    found = detect(cnn(), torch.zeros(2, 1, 8, 8, dtype=torch.float64), loss="cross_entropy")
    assert _found(found) == _found(CNN_GROUPS)
    assert "BatchNorm" in found.of_kind("scale")[0].reason
    assert found.skipped == ()


def test_prenorm_transformer_block() -> None:
    """The residual stream feeds LayerNorm *and* the residual add, so nothing before a
    LayerNorm is scale-invariant; ln2 → fc1 and fc1 → ReLU → fc2 rescale; the head's output
    is averaged over tokens before the loss, which keeps the translation symmetry only if
    detect looked through the mean — it does not guess, so no translation is reported."""
    found = detect(prenorm_block(), torch.zeros(2, 4, 5, dtype=torch.float64),
                   loss="cross_entropy")
    assert _found(found) == {
        ("rescale", ("ln2.weight", "ln2.bias", "fc1.weight")),
        ("rescale", ("fc1.weight", "fc1.bias", "fc2.weight")),
        ("rescale", ("ln_f.weight", "ln_f.bias", "head.weight")),
    }


def test_model_without_symmetry() -> None:
    found = detect(seeded(NoSymmetry), torch.zeros(2, 4))
    assert list(found) == [] and found.skipped == ()


def test_custom_layer_is_skipped_not_guessed() -> None:
    found = detect(seeded(WithCustomLayer), torch.zeros(2, 4), loss="cross_entropy")
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

    found = detect(seeded(Shared), torch.zeros(2, 4), loss="cross_entropy")
    assert [s.name for s in found.skipped] == ["fc"]
    assert _found(found) == {("translation", ("out.weight", "out.bias"))}


@pytest.mark.parametrize("make,shape", [
    (mlp, (16, 6)), (cnn, (16, 1, 8, 8)), (prenorm_block, (16, 4, 5))])
def test_what_detect_finds_holds(make, shape, generator) -> None:
    """Oracle: every reported group satisfies its gradient identity to float64 rounding."""
    net = make()
    x = torch.randn(*shape, generator=generator, dtype=torch.float64)
    y = torch.randint(0, 3, (shape[0],), generator=generator)
    found = detect(net, x[:2], loss="cross_entropy")
    checks = gradient_geometry(net, F.cross_entropy, x, y, found)
    assert checks and all(abs(c.residual) < 1e-12 for c in checks), checks


@pytest.mark.parametrize("model, example, loss, fragment", [
    (lambda: seeded(Untraceable), torch.zeros(2, 4), None, "cannot trace Untraceable"),
    (mlp, torch.zeros(2, 5, dtype=torch.float64), None,
     r"example input of shape \(2, 5\) does not fit Sequential: mat1 and mat2 shapes cannot "
     r"be multiplied \(2x5 and 6x8\)$"),
    (cnn, torch.zeros(2, 3, 8, 8, dtype=torch.float64), None,
     r"example input of shape \(2, 3, 8, 8\) does not fit CNN: .*channels"),
    (cnn, (torch.zeros(2, 1, 8, 8, dtype=torch.float64),) * 2, None,
     r"example input of shape \(2, 1, 8, 8\), \(2, 1, 8, 8\) does not fit CNN: .*argument"),
    (mlp, torch.zeros(2, 6, dtype=torch.float64), "mse", "unknown loss 'mse'"),
    (lambda: (lambda x: x), torch.zeros(2), None, "nn.Module"),
])
def test_bad_inputs_are_one_line_errors(model, example, loss, fragment, capfd) -> None:
    """A wrong example input names its shape and the model's own one-line complaint; nothing
    (no torch.fx node dump, no traceback) is printed."""
    with pytest.raises(LmechError, match=fragment) as err:
        detect(model(), example, loss=loss)
    assert "\n" not in str(err.value)
    out, errors = capfd.readouterr()
    assert out == "" and errors == ""


def test_detect_leaves_the_model_alone(generator) -> None:
    net = cnn()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    detect(net, torch.randn(4, 1, 8, 8, generator=generator, dtype=torch.float64))
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
