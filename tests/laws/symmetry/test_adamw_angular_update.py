"""symmetry.adamw_angular_update: the foil and the heavy-ball formula carried over to AdamW
are refuted; the pilot is declared on seeds the verdict never uses."""

from __future__ import annotations

import numpy as np
import pytest

from lmech.errors import LmechError
from lmech.laws import Curve, Series, get_law
from lmech.run import Outcome, judge
from lmech.theory.noether import equilibrium_angular_update

LAW = get_law("symmetry.adamw_angular_update")


def test_wrong_rotations_are_refuted(law_run) -> None:
    """√(2ηλ) (no momentum factor, the foil) and heavy ball's arccos(1 − ηλ/(1 + β₁))."""
    params, prediction, measurement, foil, tol = law_run(LAW, 3)
    assert judge(prediction, measurement, foil, tol).outcome is not Outcome.REFUTED
    lam = params.weight_decay

    def heavy_ball(c):
        beta1 = float(c.name.split("β₁=")[1].split(",")[0])
        return equilibrium_angular_update(np.asarray(c.x), lam, beta1)

    for wrong in (foil, Series.from_curves(Curve(c.panel, c.name, c.x, heavy_ball(c))
                                           for c in prediction.curves())):
        assert judge(wrong, measurement, foil, tol).outcome is Outcome.REFUTED


def test_pilot_seeds_are_never_verdict_seeds() -> None:
    basis = LAW.tolerance_basis
    assert basis.kind == "pilot" and min(basis.pilot_seeds) >= 1_000_001


def test_margin_is_far_below_the_momentum_factor() -> None:
    params = LAW.parameters("quick")
    prediction, foil = LAW.predict(params), LAW.foil(params)
    tol = LAW.tolerance(params, prediction)
    assert np.all(np.abs(foil.y - prediction.y) > 3 * tol)


def test_parameters_are_checked() -> None:
    with pytest.raises(LmechError, match="β₁"):
        LAW.parameters("smoke", {"momenta": (0.0,)})
