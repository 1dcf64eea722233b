"""prune.accuracy: "any pruning at initialisation trains" refuted at smoke, "SynFlow no
better than random" refuted at quick, magnitude's collapse at 100× checked on the law's
own architecture, and the masks against a brute-force ranking."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmech.laws import Curve, Series, get_law
from lmech.laws.prune._initial_networks import initial_networks
from lmech.laws.prune.accuracy import COLLAPSED, SYNFLOW, _masks
from lmech.measure.collapse import layer_collapse
from lmech.models import SmallVGG, VGGConfig
from lmech.run import Outcome, judge
from lmech.testing import SEED

LAW = get_law("prune.accuracy")


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
    assert judge(wrong, measurement, foil, tol).outcome is Outcome.REFUTED


def test_magnitude_at_high_compression_cuts_every_path() -> None:
    """Independent route to r = 0 for magnitude: on the law's quick architecture its
    masks at ρ = `high` leave no input–output path (its critical compression is ~16)."""
    params = LAW.parameters("quick")
    config = VGGConfig(layout=params.layout, bias=False)
    nets = initial_networks(lambda: SmallVGG(config), 4, seed=21)
    for i in range(4):
        masks = _masks(nets, i, ("magnitude", params.high), nets.template.input_shape,
                       params, seed=21)
        assert layer_collapse(nets.member(i), masks, nets.template.input_shape).collapsed


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
    assert judge(prediction, measurement, foil, tol).outcome is Outcome.CONFIRMED
    wrong = _with(prediction, SYNFLOW, 0.0, at=params.high)
    assert judge(wrong, measurement, foil, tol).outcome is Outcome.REFUTED
