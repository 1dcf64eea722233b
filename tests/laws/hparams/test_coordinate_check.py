"""hparams.coordinate_check: SGD's standard exponents refuted, the standard
parametrisation's updates seen to grow (the measurement can fail μP's prediction), and
the measured update sizes against one network trained by hand with torch.optim.Adam."""

from __future__ import annotations

import numpy as np
import torch

from lmech.laws import Curve, Series, get_law
from lmech.laws.hparams._grid import Grid, width_net
from lmech.laws.hparams.coordinate_check import N_IN, PANEL, member_tasks, update_sizes
from lmech.measure.stats import slope_estimate
from lmech.run import Outcome, judge
from lmech.testing import SEED

LAW = get_law("hparams.coordinate_check")


def _exponents(y) -> Series:
    return Series.from_curves([Curve(PANEL, "μP", np.arange(3), y)])


def test_sgd_standard_exponents_are_refuted(law_run) -> None:
    """Wrong but plausible: the standard parametrisation's exponents under SGD, −½, ½, 1
    (TP5 Table 3), read as what any width-scaled update does."""
    params, prediction, measurement, foil, tol = law_run(LAW, SEED)
    assert judge(_exponents([-0.5, 0.5, 1.0]), measurement, foil, tol).outcome is (
        Outcome.REFUTED)


def test_standard_parametrisation_updates_grow_with_width() -> None:
    """The measurement can fail μP's prediction: the same experiment under the standard
    parametrisation gives a hidden and a readout exponent far above 0."""
    params = LAW.parameters("smoke")
    sizes = update_sizes(params, SEED, "sp")
    x = np.log(np.array(params.widths, dtype=np.float64))
    hidden, readout = (slope_estimate(x, np.log(sizes[:, :, k])) for k in (1, 2))
    assert hidden.value > 0.3 and readout.value > 0.3


def test_update_sizes_match_a_network_trained_by_hand() -> None:
    """Oracle: member 1 at the middle width, rebuilt from the grid's initial weights and
    factors and trained alone by torch.optim.Adam on its own loss, moves each layer's
    output by what `update_sizes` reports."""
    params = LAW.parameters("smoke")
    sizes = update_sizes(params, SEED, "mup")  # (seeds, widths, layers)
    nets = [width_net(N_IN, n, 2, params.widths[0]) for n in params.widths]
    grid = Grid(nets, ["mup"] * params.seeds)
    start = grid.ensemble(SEED, list(range(params.seeds)))
    factors = grid.multipliers()
    x, y = member_tasks(params.seeds, params.batch, SEED)
    model = grid.models[1]
    names = list(model.shapes())
    member = 1
    w = {k: start.params[k][member:member + 1].clone().requires_grad_() for k in names}
    f = {k: v[member:member + 1] for k, v in factors.items()}
    optimiser = torch.optim.Adam(list(w.values()), lr=params.learning_rate)
    for _ in range(params.steps):
        loss = (model(w, f, x[member]) - y[member]).square().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    before, after = [], []
    with torch.no_grad():
        model({k: start.params[k][member:member + 1] for k in names}, f, x[member], before)
        model(w, f, x[member], after)
    by_hand = [float((a - b).square().mean().sqrt()) for a, b in zip(after, before,
                                                                     strict=True)]
    np.testing.assert_allclose(sizes[member, 1], by_hand, rtol=1e-4)
