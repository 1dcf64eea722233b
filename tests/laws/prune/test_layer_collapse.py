"""prune.layer_collapse: the plain-network rule for a residual net refuted, "SNIP reaches
ρ_max" refuted, the cut of the theory against the network's structure, and the exact
critical compression (magnitude and SNIP) against a scan of every kept count."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lmech.laws import Curve, Series, get_law
from lmech.laws.prune._initial_networks import initial_networks, layer_shapes, template
from lmech.laws.prune.layer_collapse import (
    MAGNITUDE,
    SNIP,
    _architectures,
    _cut_fan_in,
    _exact_critical,
    snip_batch,
)
from lmech.measure.collapse import layer_collapse
from lmech.measure.pruning import prune_masks
from lmech.measure.saliency import magnitude_scores, snip_scores
from lmech.models import SmallVGG, VGGConfig
from lmech.run import Outcome, judge
from lmech.tasks import digits
from lmech.testing import SEED
from lmech.theory.pruning import magnitude_collapse_compression

LAW = get_law("prune.layer_collapse")


def test_the_plain_network_rule_is_refuted_on_the_resnet(law_run) -> None:
    """Wrong but plausible: magnitude collapses when the layer of largest fan-in empties,
    as in a plain network. In a ResNet the shortcuts carry the signal past it."""
    params, prediction, measurement, foil, tol = law_run(LAW, SEED)
    net = template(_architectures(params)["ResNet"])
    sizes, fans = layer_shapes(net)
    plain = math.log10(magnitude_collapse_compression(sizes, fans, max(fans)))
    curves = []
    for c in prediction.curves():
        y = [plain] if (c.panel, c.name) == (MAGNITUDE, "ResNet") else c.y
        curves.append(Curve(c.panel, c.name, c.x, y))
    wrong = Series.from_curves(curves)
    assert judge(wrong, measurement, foil, tol).outcome is Outcome.REFUTED


def test_snip_reaching_the_maximum_is_refuted(law_run) -> None:
    """Wrong but plausible (the SNIP panel's foil): SNIP, like iterative SynFlow, keeps a
    path up to ρ_max in every network (fraction collapsed below ρ_max = 0)."""
    params, prediction, measurement, foil, tol = law_run(LAW, SEED)
    curves = [Curve(c.panel, c.name, c.x, [0.0] if c.panel == SNIP else c.y)
              for c in prediction.curves()]
    wrong = Series.from_curves(curves)
    assert judge(wrong, measurement, foil, tol).outcome is Outcome.REFUTED


def test_the_cut_is_the_largest_fan_in_on_the_shortest_path() -> None:
    """Independent route: emptying layers by decreasing fan-in first disconnects a plain
    net at its largest fan-in, and a ResNet (whose 3×3 block convolutions have the larger
    fan-ins) when the widest-fan-in layer of stem, projections and readout empties."""
    params = LAW.parameters("quick")
    nets = {k: template(b) for k, b in _architectures(params).items()}
    assert _cut_fan_in(nets["VGG"]) == max(layer_shapes(nets["VGG"])[1])
    resnet = nets["ResNet"]
    path = [m for n, m in resnet.named_modules()
            if n == "stem" or n == "readout" or n.endswith("shortcut") and m is not None]
    assert len(path) == resnet.shortest_path
    assert _cut_fan_in(resnet) == max(m.weight[0].numel() for m in path)


@pytest.mark.parametrize("method", ["magnitude", "snip"])
def test_exact_critical_compression_against_every_kept_count(method: str) -> None:
    """Oracle: the bisection's N/k_min equals the smallest k (of all 1…N) whose top-k
    single-shot mask leaves the network connected, on a tiny VGG. The top-k masks come
    from one full sort of the scores (|θ|, or SNIP's on a digits batch average-pooled to
    the tiny net's 4×4 input), not from `prune_masks`."""
    build = lambda: SmallVGG(VGGConfig(size=4, layout=(1, "M", 2), n_out=2, bias=False))  # noqa: E731
    net = initial_networks(build, 1, seed=11).member(0)
    shape = net.input_shape
    x, y = snip_batch(digits(), 32, seed=11, member=0)
    data = (torch.nn.functional.avg_pool2d(x, 2), y % 2)
    scores = magnitude_scores(net) if method == "magnitude" else snip_scores(net, data)
    names = list(scores)
    flat = torch.cat([scores[n].flatten() for n in names])
    order = torch.sort(flat, descending=True, stable=True).indices  # ties: earlier first
    sizes = [scores[n].numel() for n in names]

    def top(k: int) -> dict[str, torch.Tensor]:
        keep = torch.zeros(flat.numel(), dtype=torch.bool)
        keep[order[:k]] = True
        return {n: m.reshape(scores[n].shape)
                for n, m in zip(names, keep.split(sizes), strict=True)}

    total = flat.numel()
    connected = [not layer_collapse(net, top(k), shape).collapsed for k in range(1, total)]
    connected.append(True)  # k = N keeps everything
    k_min = 1 + int(np.argmax(connected))
    assert all(connected[k_min - 1:])  # nested masks: connected from k_min on
    extra = {} if method == "magnitude" else {"data": data}
    assert _exact_critical(net, shape, method, **extra) == total / k_min


def test_snip_batches_are_the_networks_own() -> None:
    """Each network's SNIP batch is reproducible and drawn from its own stream."""
    data = digits()
    first, again, other = (snip_batch(data, 50, 5, m) for m in (0, 0, 1))
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert first[0].shape == (50, 1, 8, 8) and not torch.equal(first[0], other[0])


def test_synflow_at_the_maximal_compression_keeps_one_path() -> None:
    """The prediction's ρ_max is reachable: iterative SynFlow at N/L keeps one weight in
    each of the L layers and stays connected (tiny VGG, 100 iterations)."""
    build = lambda: SmallVGG(VGGConfig(size=4, layout=(2, "M", 3), n_out=2, bias=False))  # noqa: E731
    net = initial_networks(build, 1, seed=3).member(0)
    total = sum(p.numel() for p in net.parameters())
    masks = prune_masks(net, "synflow", total / net.shortest_path,
                        input_shape=net.input_shape, iterations=100)
    assert [int(m.sum()) for m in masks.values()] == [1] * net.shortest_path
    assert layer_collapse(net, masks, net.input_shape).connected
    assert torch.is_tensor(next(iter(masks.values())))
