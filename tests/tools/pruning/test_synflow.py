"""SynFlow's theory on our code: synaptic saliency is conserved at every neuron and across
every layer, iterative SynFlow avoids the layer collapse that one-shot scores hit, a
residual network keeps its shortcut, and deep networks do not overflow."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lmech.errors import LmechError
from lmech.measure.collapse import critical_compression, layer_collapse
from lmech.measure.pruning import keep_count, keep_top, prune_masks, remaining_fractions
from lmech.measure.saliency import synaptic_flow, synflow_scores


def _mlp(widths, generator, bias=False) -> nn.Sequential:
    layers = []
    for a, b in zip(widths, widths[1:], strict=False):
        layers += [nn.Linear(a, b, bias=bias), nn.ReLU()]
    net = nn.Sequential(*layers[:-1]).double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=torch.float64)
                    / math.sqrt(p.shape[-1]))
    return net


def _assert_conserved(scores: list[torch.Tensor], r: float) -> None:
    """Per neuron: incoming = outgoing (rows of layer l vs columns of layer l+1, summed
    over any kernel positions); per layer: the total equals R."""
    for s in scores:
        assert float(s.sum()) == pytest.approx(r, rel=1e-12)
    for s_in, s_out in zip(scores, scores[1:], strict=False):
        incoming = s_in.reshape(s_in.shape[0], -1).sum(1)
        outgoing = s_out.transpose(0, 1).reshape(s_out.shape[1], -1).sum(1)
        torch.testing.assert_close(incoming, outgoing, rtol=1e-12, atol=1e-12 * r)


def test_saliency_is_conserved_in_a_bias_free_relu_mlp(generator) -> None:
    net = _mlp([5, 7, 6, 4, 3], generator)
    scores = list(synflow_scores(net).values())
    _assert_conserved(scores, synaptic_flow(net))
    masks = prune_masks(net, "synflow", 3, iterations=10)  # and on the pruned network
    _assert_conserved(list(synflow_scores(net, masks=masks).values()),
                      synaptic_flow(net, masks=masks))


@pytest.mark.parametrize("norms", ["flow", "running"])
def test_saliency_is_conserved_through_convolutions_and_batchnorm(generator, norms) -> None:
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4),
                        nn.ReLU(), nn.Conv2d(4, 3, 3, padding=1, bias=False),
                        nn.BatchNorm2d(3), nn.ReLU(), nn.Conv2d(3, 2, 1, bias=False)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=torch.float64))
        net[1].running_var.uniform_(0.5, 2.0, generator=generator)
        net[1].bias.zero_()  # a BatchNorm shift is a bias: conservation needs none
        net[4].bias.zero_()
    scores = list(synflow_scores(net, (2, 5, 5), norms=norms).values())
    _assert_conserved(scores, synaptic_flow(net, (2, 5, 5), norms=norms))


def test_biases_break_the_per_layer_equality(generator) -> None:
    """With biases, flow enters mid-network: the foil to the conservation tests."""
    net = _mlp([5, 7, 6, 3], generator, bias=True)
    totals = [float(s.sum()) for s in synflow_scores(net).values()]
    assert totals[-1] > totals[0] * (1 + 1e-6)


def test_masks_keep_exactly_the_asked_count_even_with_ties() -> None:
    ranking = torch.tensor([1.0, 2.0, 2.0, 2.0, 0.5, 2.0], dtype=torch.float64)
    alive = torch.tensor([True, True, True, False, True, True])
    keep = keep_top(ranking, alive, 2)
    assert keep.tolist() == [False, True, True, False, False, False]  # ties: earlier first
    assert keep_top(ranking, alive, 9).tolist() == alive.tolist()  # never revives the dead
    net = nn.Sequential(nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 10))
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(0.5)  # every score ties
    for method in ("synflow", "magnitude"):
        masks = prune_masks(net, method, 200 / 37)
        assert sum(int(m.sum()) for m in masks.values()) == 37 == keep_count(200, 200 / 37)


def test_the_schedule_is_exponential(generator, monkeypatch) -> None:
    import lmech.measure.pruning as pruning

    counts = []
    real = pruning.keep_top
    monkeypatch.setattr(pruning, "keep_top",
                        lambda r, a, k: counts.append(k) or real(r, a, k))
    net = _mlp([6, 20, 20, 4], generator)
    n_total = 6 * 20 + 20 * 20 + 20 * 4
    prune_masks(net, "synflow", 100, iterations=4)
    assert counts == [round(n_total * 100 ** (-k / 4)) for k in range(1, 5)]


def _funnel(generator) -> nn.Sequential:
    """10 → 200 → 200 → 5: a wide middle layer of small weights beside a small last layer
    of equally small ones, which one-shot scores empty together."""
    net = nn.Sequential(nn.Linear(10, 200, bias=False), nn.ReLU(),
                        nn.Linear(200, 200, bias=False), nn.ReLU(),
                        nn.Linear(200, 5, bias=False))
    with torch.no_grad():
        for p in net.parameters():
            p.uniform_(-1, 1, generator=generator).div_(math.sqrt(p.shape[1]))
    return net


def test_iterative_synflow_avoids_the_collapse_one_shot_methods_hit(generator) -> None:
    net = _funnel(generator)
    grid = [10, 30, 100, 300, 1000]
    magnitude = critical_compression(net, "magnitude", grid)
    one_shot = critical_compression(net, "synflow", grid, iterations=1)
    iterative = critical_compression(net, "synflow", grid)
    assert magnitude.first_collapse is not None and magnitude.first_collapse <= 100
    assert one_shot.first_collapse is not None and one_shot.first_collapse <= 30
    # conservation gives every layer the same total, so the widest layer scores lowest
    assert one_shot.empty_layers[-1] == ("2.weight",)
    assert iterative.first_collapse is None and iterative.critical == 1000
    assert iterative.compressions == tuple(float(c) for c in grid)
    # the maximal critical compression of a 3-layer MLP is N/3: one path of 3 weights
    n = 10 * 200 + 200 * 200 + 200 * 5
    masks = prune_masks(net, "synflow", n / 3)
    assert not layer_collapse(net, masks).collapsed
    assert [int(m.sum()) for m in masks.values()] == [1, 1, 1]


def test_a_collapsed_sequential_net_has_an_empty_layer_and_no_path(generator) -> None:
    net = _funnel(generator)
    masks = prune_masks(net, "magnitude", 300)
    check = layer_collapse(net, masks)
    assert check.collapsed and not check.connected and check.empty_layers
    assert synaptic_flow(net, masks=masks) == 0.0


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:  # the 1×1 projection shortcut
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class SmallResNet(nn.Module):
    """ResNet-18's pattern at toy size: identity blocks and two downsampling blocks with
    1×1 convolution shortcuts."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.blocks = nn.Sequential(_Block(width, width, 1), _Block(width, 2 * width, 2),
                                    _Block(2 * width, 2 * width, 1),
                                    _Block(2 * width, 4 * width, 2))
        self.fc = nn.Linear(4 * width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(F.relu(self.bn(self.stem(x))))
        return self.fc(x.mean((2, 3)))


def _resnet() -> SmallResNet:
    torch.manual_seed(0)  # nn.Conv2d's own initialisation; nothing else draws from it
    return SmallResNet()


def test_synflow_at_high_compression_keeps_the_shortcuts_and_every_layer() -> None:
    net = _resnet()
    masks = prune_masks(net, "synflow", 100, input_shape=(3, 8, 8))
    check = layer_collapse(net, masks, (3, 8, 8))
    kept = remaining_fractions(masks)
    assert check.connected and check.empty_layers == ()
    for name in ("blocks.1.shortcut.0.weight", "blocks.3.shortcut.0.weight"):
        assert kept[name] >= 0.02, (name, kept[name])


def test_running_batchnorm_statistics_empty_whole_residual_branches() -> None:
    """The foil: with evaluation-mode BatchNorm (the identity at initialisation), the same
    pruning leaves the network connected through its shortcuts but empties whole
    convolutions of the main branches."""
    net = _resnet()
    masks = prune_masks(net, "synflow", 100, input_shape=(3, 8, 8), norms="running")
    check = layer_collapse(net, masks, (3, 8, 8))
    assert check.connected and any("conv" in name for name in check.empty_layers)


def test_a_deep_network_whose_flow_overflows_float32_is_scored_in_float64(generator) -> None:
    net = nn.Sequential(*[nn.Linear(64, 64, bias=False) for _ in range(30)])
    with torch.no_grad():
        for layer in net:
            layer.weight.uniform_(0, 1, generator=generator)  # gain ≈ 32 per layer
    r = synaptic_flow(net)
    assert 1e38 < r < 1e300  # beyond float32, inside float64
    scores = list(synflow_scores(net).values())
    assert all(float(s.sum()) == pytest.approx(r, rel=1e-10) for s in scores)
    masks = prune_masks(net, "synflow", 10, iterations=5)
    assert not layer_collapse(net, masks).collapsed


def test_an_overflowing_flow_is_named_not_returned_as_inf(generator) -> None:
    net = nn.Sequential(*[nn.Linear(64, 64, bias=False) for _ in range(200)])
    with torch.no_grad():
        for layer in net:
            layer.weight.uniform_(0, 2, generator=generator)  # gain ≈ 64: R ≈ 64²⁰¹
    with pytest.raises(LmechError, match="overflowed float64"):
        synflow_scores(net)


def test_a_tied_weight_is_scored_once_with_the_flow_of_both_uses(generator) -> None:
    shared = nn.Linear(4, 4, bias=False)
    net = nn.Sequential(shared, nn.ReLU(), shared, nn.ReLU(), nn.Linear(4, 2, bias=False))
    with torch.no_grad():
        shared.weight.uniform_(0.1, 1, generator=generator)
    scores = synflow_scores(net)
    assert list(scores) == ["0.weight", "4.weight"]
    # R = 1ᵀW₄ W W 1 is quadratic in the tied W: its score sums to 2R (Euler)
    r = synaptic_flow(net)
    assert float(scores["0.weight"].sum()) == pytest.approx(2 * r, rel=1e-12)
    masks = prune_masks(net, "synflow", 4, iterations=3)
    assert sum(int(m.sum()) for m in masks.values()) == round(24 / 4)


@pytest.mark.parametrize("norms", ["flow", "running"])
def test_every_normalisation_layer_is_linearised_and_never_pruned(generator, norms) -> None:
    net = nn.Sequential(nn.Conv1d(2, 4, 3, padding=1), nn.GroupNorm(2, 4), nn.ReLU(),
                        nn.Conv1d(4, 4, 3, padding=1), nn.InstanceNorm1d(4, affine=True),
                        nn.ReLU(), nn.Conv1d(4, 4, 1), nn.BatchNorm1d(4), nn.ReLU(),
                        nn.Flatten(), nn.Linear(4 * 6, 8), nn.LayerNorm(8), nn.ReLU(),
                        nn.Linear(8, 8), nn.RMSNorm(8), nn.Linear(8, 3))
    masks = prune_masks(net, "synflow", 5, input_shape=(2, 6), iterations=10, norms=norms,
                        biases=True)
    assert set(masks) == {f"{i}.{a}" for i in (0, 3, 6, 10, 13, 15) for a in ("weight", "bias")}
    assert not layer_collapse(net, masks, (2, 6)).collapsed
    scores = synflow_scores(net, (2, 6), norms=norms)
    assert all(bool(torch.isfinite(s).all()) and float(s.min()) >= 0 for s in scores.values())
