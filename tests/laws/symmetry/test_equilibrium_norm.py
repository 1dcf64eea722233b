"""symmetry.equilibrium_norm: the exact balance without momentum holds while the
random-walk balance with momentum is refuted (the recorded finding), the foil is refuted,
and the balance is the steady state of the exact recursion (an independent route)."""

from __future__ import annotations

import numpy as np
import pytest

from lmech.errors import LmechError
from lmech.laws import Series, get_law
from lmech.laws.symmetry.equilibrium_norm import MOMENTUM_PANEL, SGD_PANEL
from lmech.run import Outcome, judge

LAW = get_law("symmetry.equilibrium_norm")


def _panel(series: Series, name: str) -> Series:
    keep = series.panel == name
    return Series(*(getattr(series, f)[keep] for f in
                    ("panel", "curve", "x", "y", "stderr", "units")))


@pytest.fixture(scope="module")
def run(law_run):
    return law_run(LAW, 3, n_seeds=6)  # 6 networks a point: enough to resolve the finding


def test_without_momentum_the_balance_holds(run) -> None:
    """The consistency panel alone: the exact balance is CONFIRMED (no foil)."""
    _, prediction, measurement, foil, tol = run
    keep = prediction.panel == SGD_PANEL
    verdict = judge(_panel(prediction, SGD_PANEL), _panel(measurement, SGD_PANEL),
                    _panel(foil, SGD_PANEL), tol[keep], foilless_panels=[SGD_PANEL])
    assert verdict.outcome is Outcome.CONFIRMED


def test_with_momentum_the_norm_falls_below_the_random_walk(run) -> None:
    """The finding: REFUTED, every measured heavy-ball balance at or below the prediction on
    true labels, and the momentum-free foil farther still."""
    _, prediction, measurement, foil, tol = run
    keep = prediction.panel == MOMENTUM_PANEL
    assert judge(prediction, measurement, foil, tol,
                 foilless_panels=LAW.foilless_panels()).outcome is Outcome.REFUTED
    digits = keep & np.char.startswith(prediction.curve.astype(str), "digits")
    assert np.all(measurement.y[digits] < prediction.y[digits])
    on = [_panel(s, MOMENTUM_PANEL) for s in (foil, measurement)]
    assert judge(on[0], on[1], on[0], tol[keep]).outcome is Outcome.REFUTED
    ratio = measurement.y[keep] / prediction.y[keep]
    assert np.all(np.abs(measurement.y[keep] - foil.y[keep]) >
                  np.abs(measurement.y[keep] - prediction.y[keep])) and ratio.min() > 0.5


def test_parameters_are_checked() -> None:
    with pytest.raises(LmechError, match="β > 0"):
        LAW.parameters("smoke", {"momenta": (0.0,)})
