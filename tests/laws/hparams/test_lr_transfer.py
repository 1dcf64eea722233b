"""hparams.lr_transfer: the standard width scaling refuted, the optimum's estimate on a
curve with a known minimum (and with diverged rates), and the grid's networks trained
side by side against one trained alone."""

from __future__ import annotations

import numpy as np
import pytest

from lmech.laws import Curve, Series, get_law
from lmech.laws.hparams import lr_transfer
from lmech.laws.hparams.lr_transfer import WIDTH, final_losses, log2_optimum
from lmech.run import Outcome, judge
from lmech.testing import SEED

LAW = get_law("hparams.lr_transfer")


def test_standard_width_scaling_is_refuted(law_run) -> None:
    """Wrong but plausible: Adam's optimal rate falls as 1/width (the standard
    parametrisation's scaling) even under μP; the depth points kept at the prediction."""
    params, prediction, measurement, foil, tol = law_run(LAW, SEED)
    n = np.array(params.widths, dtype=np.float64)
    wrong = Series.from_curves([
        Curve(c.panel, c.name, c.x, -np.log2(n[1:] / n[0]) if c.panel == WIDTH else c.y)
        for c in prediction.curves()])
    assert judge(wrong, measurement, foil, tol).outcome is Outcome.REFUTED


def test_optimum_of_a_known_curve() -> None:
    """Independent route: log loss a parabola in log₂ η with vertex −5.3 gives −5.3; a
    diverged rate (inf) counts as worse than every finished one and moves nothing."""
    params = LAW.parameters("quick")
    rates = np.array(params.rates)
    loss = np.exp(0.4 * (rates + 5.3) ** 2 - 3.0)
    assert log2_optimum(params, loss.copy()) == pytest.approx(-5.3, abs=1e-9)
    loss[-1] = np.inf
    assert log2_optimum(params, loss.copy()) == pytest.approx(-5.3, abs=1e-9)


def test_side_by_side_networks_train_as_if_alone(monkeypatch) -> None:
    """Oracle: the base-width network's final losses are the same whether it trains alone
    or beside the rest of the grid in every member (their parameters never mix)."""
    params = LAW.parameters("smoke", {"seeds": 2, "steps": 10})
    together = final_losses(params, SEED, "mup")
    widths, depths = lr_transfer.grid_nets(params)
    monkeypatch.setattr(lr_transfer, "grid_nets", lambda p: (widths[:1], []))
    alone = final_losses(params, SEED, "mup")
    assert set(alone) == {widths[0].name}
    np.testing.assert_allclose(alone[widths[0].name], together[widths[0].name], rtol=1e-5)


def test_the_declared_margin_follows_the_span_of_the_grid() -> None:
    """One octave for grids spanning at most 8× (the quick pilot), 1.5 for wider ones (the
    full grid's pilot, 64 → 1024)."""
    law = get_law("hparams.lr_transfer")
    for budget, margin in (("quick", 1.0), ("full", 1.5)):
        params = law.parameters(budget)
        assert np.all(law.tolerance(params, law.predict(params)) == margin), budget
    deep = law.parameters("quick", {"depths": (4, 64)})
    assert np.all(law.tolerance(deep, law.predict(deep)) == 1.5)
