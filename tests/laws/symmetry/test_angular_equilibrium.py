"""symmetry.angular_equilibrium: wrong momentum conventions refuted; parameters checked.
(The trainer against brute force: test_equilibrium_trainer.py; the prediction against a
simulated scale-invariant loss: tests/theory/test_noether.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from lmech.errors import LmechError
from lmech.laws import Curve, Series, get_law
from lmech.run import Outcome, judge
from lmech.theory.noether import equilibrium_angular_update

LAW = get_law("symmetry.angular_equilibrium")


def _beta(curve) -> float:
    return float(curve.name.split("β=")[1].split(",")[0])


def test_wrong_momentum_conventions_are_refuted(law_run) -> None:
    """Forgetting momentum (√(2ηλ), the foil) or using the effective rate η/(1 − β) is
    REFUTED at the smoke budget, where the theory is not."""
    params, prediction, measurement, foil, tol = law_run(LAW, 3)
    assert judge(prediction, measurement, foil, tol).outcome is not Outcome.REFUTED
    lam = params.weight_decay
    for wrong in (lambda c: equilibrium_angular_update(np.asarray(c.x), lam),
                  lambda c: np.sqrt(2 * np.asarray(c.x) * lam / (1 - _beta(c)))):
        series = Series.from_curves(Curve(c.panel, c.name, c.x, wrong(c))
                                    for c in prediction.curves())
        assert judge(series, measurement, foil, tol).outcome is Outcome.REFUTED


def test_foil_is_momentum_ignored_and_resolvable() -> None:
    """The foil is √(1 + β) times the prediction (to O(ηλ)), and its gap exceeds twice the
    tolerance at every quick point."""
    params = LAW.parameters("quick")
    prediction, foil = LAW.predict(params), LAW.foil(params)
    tol = LAW.tolerance(params, prediction)
    beta = np.array([_beta(c) for c in prediction.curves() for _ in c.x])
    np.testing.assert_allclose(foil.y / prediction.y, np.sqrt(1 + beta), rtol=0.02)
    assert np.all(np.abs(foil.y - prediction.y) > 2 * tol)


@pytest.mark.parametrize("overrides,match", [
    ({"momenta": (0.0, 0.9)}, "0 < β < 1"),
    ({"weight_decay": 5.0}, "ηλ < 0.1"),
    ({"lrs": (1e-5,)}, "50,000 steps"),
])
def test_parameters_are_checked(overrides, match) -> None:
    with pytest.raises(LmechError, match=match):
        LAW.parameters("smoke", overrides)
