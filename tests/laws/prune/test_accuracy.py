"""prune.accuracy: "any pruning at initialisation trains" refuted at smoke, "SynFlow no
better than random" refuted at quick, magnitude's collapse above ρ_mag checked on the
law's own architecture, a collapsed network shown untrainable (why the law evaluates it
untrained), and the masks against a brute-force ranking."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmech.ensemble import Adam, Ensemble, train
from lmech.laws import Curve, Series, get_law
from lmech.laws.prune._initial_networks import initial_networks
from lmech.laws.prune.accuracy import (
    COLLAPSED,
    METHODS,
    SYNFLOW,
    _judged,
    _masks,
    accuracy_table,
    magnitude_collapse,
)
from lmech.measure.collapse import layer_collapse
from lmech.models import SmallVGG, VGGConfig
from lmech.models.masked import StackedForward
from lmech.run import Outcome, judge
from lmech.testing import SEED

LAW = get_law("prune.accuracy")
FOILLESS = LAW.foilless_panels()
ILLUSTRATIONS = LAW.unjudged_panels()


def _with(prediction: Series, panel: str, value, at: float | None = None) -> Series:
    """`prediction` with the points of `panel` (at ρ = `at`, or all) set to `value`."""
    curves = []
    for c in prediction.curves():
        y = np.array(c.y, dtype=np.float64)
        if c.panel == panel:
            y[np.ones_like(y, bool) if at is None else np.isclose(c.x, at)] = value
        curves.append(Curve(c.panel, c.name, c.x, y))
    return Series.from_curves(curves)


def test_any_pruning_trains_is_refuted(law_run) -> None:
    """Wrong but plausible: at initialisation the method does not matter, magnitude and
    random pruning at high compression train like the dense network (r = 1)."""
    params, prediction, measurement, foil, tol = law_run(LAW, SEED)
    wrong = _with(prediction, COLLAPSED, 1.0)
    assert judge(wrong, measurement, foil, tol, foilless_panels=FOILLESS,
                 unjudged_panels=ILLUSTRATIONS).outcome is Outcome.REFUTED


def test_magnitude_above_its_collapse_cuts_every_path() -> None:
    """Independent route to r = 0 for magnitude: on the law's quick architecture its
    masks at ρ = `middle` and `high` (above the predicted ρ_mag ≈ 22) leave no
    input–output path, and at `low` they leave one."""
    params = LAW.parameters("quick")
    assert params.low < magnitude_collapse(params) < params.middle
    config = VGGConfig(layout=params.layout, bias=False)
    nets = initial_networks(lambda: SmallVGG(config), 2, seed=21)
    shape = nets.template.input_shape
    for i in range(2):
        for rho in params.grid:
            masks = _masks(nets, i, ("magnitude", rho), shape, params, seed=21)
            collapsed = layer_collapse(nets.member(i), masks, shape).collapsed
            assert collapsed == (rho > params.low)


def test_a_collapsed_network_does_not_train() -> None:
    """Why collapsed members are evaluated untrained: with no input–output path the
    bias-free network outputs 0 for every input, every gradient vanishes, and Adam leaves
    the weights exactly as they were (brute force: 20 steps on the smoke architecture)."""
    params = LAW.parameters("smoke")
    config = VGGConfig(layout=params.layout, bias=False)
    nets = initial_networks(lambda: SmallVGG(config), 1, seed=4)
    shape = nets.template.input_shape
    masks = _masks(nets, 0, ("magnitude", params.high), shape, params, seed=4)
    assert layer_collapse(nets.member(0), masks, shape).collapsed
    stacked = {k: m[None].float() for k, m in masks.items()}
    forward = StackedForward(nets.template, stacked, input_dims=len(shape))
    ensemble = Ensemble(nets.template, {k: v.clone() for k, v in nets.params.items()})
    x = torch.randn(32, *shape, generator=torch.Generator().manual_seed(0))
    y = torch.arange(32) % 10
    train(ensemble, x, y, optimizer=Adam(lr=0.1), steps=20, loss="cross_entropy",
          batch_size=8, forward=forward, every=20)
    for k, v in nets.params.items():
        assert torch.equal(ensemble.params[k], v)
    assert torch.equal(forward(ensemble.params, (x,)), torch.zeros(1, 32, 10))


def test_the_table_covers_every_method_and_compression() -> None:
    """`accuracy_table` (the docs' table) measures all four methods at the three
    compressions; magnitude past its collapse sits at chance; and the law's judged points
    are the same numbers whether trained alone or with the whole grid."""
    params = LAW.parameters("smoke", {"steps": 5})
    table = accuracy_table(params, seed=3)
    assert set(table) == {(m, rho) for m in METHODS for rho in params.grid}
    chance = table[("magnitude", params.high)]
    assert abs(float(chance.value)) < 0.1 and chance.units == params.seeds
    judged = accuracy_table(params, seed=3, points=list(_judged(params)))
    for point, estimate in judged.items():
        assert float(estimate.value) == float(table[point].value)


def test_masks_keep_the_largest_magnitudes() -> None:
    """Oracle: magnitude masks keep exactly round(N/ρ) weights, the largest |θ| over all
    layers (a brute-force global sort)."""
    params = LAW.parameters("smoke")
    config = VGGConfig(layout=params.layout, bias=False)
    nets = initial_networks(lambda: SmallVGG(config), 1, seed=2)
    masks = _masks(nets, 0, ("magnitude", 8.0), nets.template.input_shape, params, seed=2)
    net = nets.member(0)
    flat = torch.cat([p.detach().abs().flatten() for n, p in net.named_parameters()
                      if n in masks])
    kept = torch.cat([masks[n].flatten() for n, _ in net.named_parameters() if n in masks])
    k = round(flat.numel() / 8.0)
    assert int(kept.sum()) == k
    assert flat[kept].min() >= flat[~kept].max()


@pytest.mark.slow
def test_synflow_no_better_than_random_is_refuted(law_run) -> None:
    """Wrong but plausible (the foil's SynFlow half): at 100× SynFlow falls to chance
    (r = 0) like random pruning. At the quick budget the SynFlow panel alone rejects it,
    and the prediction stands."""
    params, prediction, measurement, foil, tol = law_run(LAW, SEED, "quick")
    verdict = judge(prediction, measurement, foil, tol, foilless_panels=FOILLESS,
                 unjudged_panels=ILLUSTRATIONS)
    assert verdict.outcome is Outcome.CONFIRMED, verdict.reason
    wrong = _with(prediction, SYNFLOW, 0.0, at=params.high)
    assert judge(wrong, measurement, foil, tol, foilless_panels=FOILLESS,
                 unjudged_panels=ILLUSTRATIONS).outcome is Outcome.REFUTED
