"""dln.saxe_modes: the measurement against brute force, wrong theories refuted, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from lmech.errors import LmechError
from lmech.laws import Curve, Series, get_law
from lmech.run import Outcome, judge
from lmech.testing import SEED
from lmech.theory import saxe_discrete_mode_strength

LAW = get_law("dln.saxe_modes")


@pytest.fixture(scope="module")
def smoke(law_run):
    return law_run(LAW, SEED)


def test_trained_network_follows_the_exact_discrete_map(smoke) -> None:
    """Oracle: full networks trained on data match the scalar map u ← u(1 + η(s − u))²."""
    params, prediction, measurement, _, _ = smoke
    exact = saxe_discrete_mode_strength(params.steps, params.spectrum, params.u0,
                                        params.learning_rate)
    steps = np.unique(np.linspace(0, params.steps, params.n_points).round().astype(int))
    for a, s in enumerate(params.spectrum):
        m = (measurement.panel == "mode strength") & (measurement.curve == f"s={s:g}")
        np.testing.assert_allclose(measurement.y[m], exact[steps, a], rtol=1e-9, atol=1e-12)


def _with_learning_time(prediction: Series, factor: float) -> Series:
    """The prediction with every mode's clock stretched by `factor` (a wrong theory)."""
    curves = []
    for c in prediction.curves():
        if c.panel == "learning time":
            curves.append(Curve(c.panel, c.name, c.x, factor * np.asarray(c.y)))
        else:
            s = float(c.name.removeprefix("s="))
            t, u0 = np.asarray(c.x), 1e-3
            curves.append(Curve(c.panel, c.name, t,
                                s / (1 + (s / u0 - 1) * np.exp(-2 * s * t / factor))))
    return Series.from_curves(curves)


@pytest.mark.parametrize("factor", [2.0, 1.05])
def test_a_wrong_clock_is_refuted(smoke, factor) -> None:
    """The often-quoted (τ/s)·ln(s/u0) learning time (2×), and even a 5 % error, are refuted."""
    _, prediction, measurement, foil, tol = smoke
    wrong = _with_learning_time(prediction, factor)
    assert judge(wrong, measurement, foil, tol, kind="identity").outcome is Outcome.BROKEN


def test_parameters_are_checked() -> None:
    with pytest.raises(LmechError, match="width.*greater than or equal to 1"):
        LAW.parameters("smoke", {"width": -3})
    with pytest.raises(LmechError, match="at most min"):
        LAW.parameters("smoke", {"width": 1})
    with pytest.raises(LmechError, match="too short"):
        LAW.parameters("smoke", {"steps": 10})
    with pytest.raises(LmechError, match="learning_rate"):
        LAW.parameters("smoke", {"learning_rate": 0.5})
    with pytest.raises(LmechError, match="u0 must be small"):
        LAW.parameters("smoke", {"u0": 0.5})
