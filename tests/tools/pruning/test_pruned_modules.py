"""`lmech.tools.pruning.prune` returns an ordinary module: masks through
``torch.nn.utils.prune``, a copy unless asked, training with `torch.optim`, saving and
loading with ``state_dict``; every bad input is a named LmechError."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune as torch_prune

from lmech.errors import LmechError
from lmech.tools.pruning import (
    apply_masks,
    layer_table,
    load_pruned,
    prune,
    prune_masks,
    save_pruned,
)


def _cnn() -> nn.Sequential:
    torch.manual_seed(0)  # the layers' own initialisation
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8),
                         nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 10))


N_WEIGHTS = 8 * 3 * 9 + 8 * 8 * 9 + 10 * 288
SHAPE = (3, 6, 6)


def test_prune_returns_a_pruned_copy_through_torch_prune() -> None:
    net = _cnn()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    pruned = prune(net, "synflow", 20, input_shape=SHAPE, iterations=20)
    assert pruned is not net
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert not torch_prune.is_pruned(net) and torch_prune.is_pruned(pruned)
    layers = [pruned[0], pruned[3], pruned[7]]
    for layer in layers:
        assert {"weight_orig"} <= {n for n, _ in layer.named_parameters()}
        torch.testing.assert_close(layer.weight, layer.weight_orig * layer.weight_mask)
        assert not hasattr(layer, "bias_mask")
    assert sum(int(layer.weight_mask.sum()) for layer in layers) == round(N_WEIGHTS / 20)
    assert not hasattr(pruned[1], "weight_mask")  # BatchNorm is never pruned


def test_inplace_prunes_the_model_itself() -> None:
    net = _cnn()
    assert prune(net, "magnitude", 4, inplace=True) is net
    assert torch_prune.is_pruned(net)


def test_biases_are_pruned_on_request() -> None:
    pruned = prune(_cnn(), "magnitude", 4, biases=True)
    assert hasattr(pruned[0], "bias_mask") and hasattr(pruned[7], "bias_mask")
    total = N_WEIGHTS + 8 + 10
    kept = sum(int(b.sum()) for n, b in pruned.named_buffers() if n.endswith("_mask"))
    assert kept == round(total / 4)


def test_pruning_again_compounds_and_counts_everything_removed() -> None:
    once = prune(_cnn(), "magnitude", 4)
    twice = prune(once, "synflow", 40, input_shape=SHAPE, iterations=10)
    for a, b in ((once[0], twice[0]), (once[7], twice[7])):
        assert bool((b.weight_mask <= a.weight_mask).all())  # nothing revived
    assert layer_table(twice).kept == round(N_WEIGHTS / 40)


def test_training_with_torch_optim_keeps_pruned_weights_zero(generator) -> None:
    pruned = prune(_cnn(), "synflow", 10, input_shape=SHAPE, iterations=10)
    x = torch.randn(16, *SHAPE, generator=generator)
    y = torch.randint(0, 10, (16,), generator=generator)
    opt = torch.optim.SGD(pruned.parameters(), lr=0.1, momentum=0.9)
    start = pruned[7].weight_orig.detach().clone()
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = F.cross_entropy(pruned(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]
    pruned(x)  # the pruning hooks recompute each weight = weight_orig ⊙ mask
    for layer in (pruned[0], pruned[3], pruned[7]):
        assert float(layer.weight.detach()[~layer.weight_mask.bool()].abs().sum()) == 0
    moved = pruned[7].weight_orig.detach() != start
    assert bool(moved[pruned[7].weight_mask.bool()].any())


def test_state_dict_round_trip_into_a_fresh_model(tmp_path) -> None:
    pruned = prune(_cnn(), "synflow", 10, input_shape=SHAPE, iterations=10).eval()
    path = save_pruned(pruned, tmp_path / "pruned.pt")
    x = torch.ones(2, *SHAPE)
    for source in (path, pruned.state_dict()):
        fresh = _cnn()
        with torch.no_grad():
            for p in fresh.parameters():
                p.zero_()  # nothing of the fresh weights may survive the load
        loaded = load_pruned(fresh, source).eval()
        torch.testing.assert_close(loaded(x), pruned(x))
        assert torch.equal(loaded[3].weight_mask, pruned[3].weight_mask)
        assert layer_table(loaded).lines() == layer_table(pruned).lines()


def test_the_layer_table() -> None:
    net = _cnn()
    masks = prune_masks(net, "synflow", 10, input_shape=SHAPE, iterations=10)
    pruned = apply_masks(_cnn(), masks)
    table = layer_table(pruned)
    assert [r.name for r in table.rows] == ["0.weight", "3.weight", "7.weight"]
    assert [r.kept for r in table.rows] == [int(m.sum()) for m in masks.values()]
    assert table.total == N_WEIGHTS and table.kept == round(N_WEIGHTS / 10)
    assert table.compression == pytest.approx(N_WEIGHTS / round(N_WEIGHTS / 10))
    assert layer_table(net, masks).rows == table.rows  # masks given by name
    frame = table.frame()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["name", "kind", "shape", "kept", "total", "remaining"]
    assert frame["remaining"].tolist() == [r.kept / r.total for r in table.rows]
    lines = table.lines()
    assert lines[0].split() == ["layer", "type", "shape", "kept", "/", "total", "remaining"]
    assert lines[2].split()[:3] == ["3.weight", "Conv2d", "8×8×3×3"]
    assert lines[-1].startswith("total") and "compression 10" in lines[-1]
    empty = layer_table(net, {"3.weight": torch.zeros(8, 8, 3, 3, dtype=torch.bool)})
    assert empty.empty == ("3.weight",) and "emptied (0 % left): 3.weight" in empty.lines()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"compression": 1}, "compression must be a finite number > 1"),
    ({"compression": 0.5}, "compression must be a finite number > 1"),
    ({"compression": math.inf}, "compression must be a finite number > 1"),
    ({"compression": math.nan}, "compression must be a finite number > 1"),
    ({"compression": "ten"}, "compression must be a number > 1"),
    ({"compression": 10 * N_WEIGHTS}, f"more pruned than exist); allowed: 1 < compression "
                                      f"<= {N_WEIGHTS}"),
    ({"method": "l1"}, "unknown pruning method 'l1'; allowed: synflow, magnitude, snip"),
    ({"method": "snip"}, "snip needs a data batch: pass data=(inputs, targets)"),
    ({"method": "grasp"}, "grasp needs a data batch"),
    ({"method": "snip", "data": torch.ones(3)}, "snip's data must be a pair (inputs, targets)"),
    ({"iterations": 0}, "iterations must be an integer >= 1"),
    ({"norms": "train"}, "unknown normalisation mode 'train'; allowed: flow, running"),
])
def test_bad_inputs_are_named(kwargs, message) -> None:
    args = {"method": "synflow", "compression": 10, "input_shape": SHAPE} | kwargs
    with pytest.raises(LmechError) as err:
        prune(_cnn(), **args)
    assert message in str(err.value)


def test_a_model_without_prunable_layers_is_named() -> None:
    with pytest.raises(LmechError, match="Sequential has no prunable layer: pruning acts on "
                                         "the weights of Linear, Conv1d, Conv2d, Conv3d"):
        prune(nn.Sequential(nn.ReLU(), nn.LayerNorm(4)), "magnitude", 2)
    with pytest.raises(LmechError, match="pruning acts on a torch.nn.Module, got str"):
        prune("model", "magnitude", 2)


def test_shape_errors_are_named() -> None:
    with pytest.raises(LmechError, match="first layer is a Conv2d; give input_shape"):
        prune(_cnn(), "synflow", 10)
    with pytest.raises(LmechError, match=r"does not accept an input of shape \(1, 3, 7, 7\)"):
        prune(_cnn(), "synflow", 10, input_shape=(3, 7, 7))
    with pytest.raises(LmechError, match="mask for 3.weight has shape"):
        apply_masks(_cnn(), {"3.weight": torch.ones(2, 2, dtype=torch.bool)})
    with pytest.raises(LmechError, match="the model has no layer '9'"):
        apply_masks(_cnn(), {"9.weight": torch.ones(2, dtype=torch.bool)})
    state = prune(_cnn(), "magnitude", 2).state_dict()
    with pytest.raises(LmechError, match="the state_dict prunes 3.weight, but the model has "
                                         "no layer '3'"):
        load_pruned(nn.Sequential(nn.Linear(3, 2)), state)
    with pytest.raises(LmechError, match="the state_dict does not fit Sequential"):
        load_pruned(nn.Sequential(nn.Linear(3, 2)), {"0.weight": torch.ones(5, 5)})


def test_a_zero_initialised_layer_is_named_for_synflow() -> None:
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    with torch.no_grad():
        net[2].weight.zero_()
    with pytest.raises(LmechError, match="SynFlow's scores are all 0 on the unpruned network"):
        prune(net, "synflow", 2)
