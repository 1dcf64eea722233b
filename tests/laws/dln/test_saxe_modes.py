"""dln.saxe_modes: wrong clocks and the wrong depth refuted; the measurement against a
network trained by hand on all P samples."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmech.ensemble import init_ensemble
from lmech.errors import LmechError
from lmech.laws import Curve, Series, get_law
from lmech.laws.dln._modes import member_teachers, train_mode_strengths
from lmech.measure import crossing_times
from lmech.models import deep_linear
from lmech.run import Outcome, judge
from lmech.tasks import moment_matched_inputs
from lmech.testing import SEED
from lmech.theory import deep_discrete_learning_time, saxe_learning_time

LAW = get_law("dln.saxe_modes")


@pytest.fixture(scope="module")
def smoke(law_run):
    return law_run(LAW, SEED)


def _replace(prediction: Series, times) -> Series:
    return Series.from_curves([Curve(c.panel, c.name, c.x, times(c.panel, np.asarray(c.x)))
                               for c in prediction.curves()])


def test_the_often_quoted_clock_is_refuted(smoke) -> None:
    """(τ/s) ln(...) instead of (τ/2s) ln(...): every time twice too long."""
    params, prediction, measurement, foil, tol = smoke
    wrong = Series(prediction.panel, prediction.curve, prediction.x, 2 * prediction.y,
                   prediction.stderr, prediction.units)
    assert judge(wrong, measurement, foil, tol).outcome is Outcome.REFUTED


def test_depth_two_dynamics_for_a_depth_three_network_is_refuted(law_run) -> None:
    """The deep network's sharper sigmoid is seen: its rise times are not depth 2's."""
    params, prediction, measurement, foil, tol = law_run(
        LAW, SEED, depths=(3,), steps=(900,), init_variance=1e-2)
    assert judge(prediction, measurement, foil, tol).outcome is not Outcome.REFUTED
    wrong = _replace(prediction, lambda panel, s: deep_discrete_learning_time(
        s, params.theta * s, s / 2, 2, params.learning_rate))
    assert judge(wrong, measurement, foil, tol).outcome is Outcome.REFUTED


def test_prediction_tends_to_saxes_flow_time() -> None:
    """Independent route: at depth 2 the GD-map rise time is Saxe's flow time
    (1/2s) ln((1 − θ)/θ) to O(η)."""
    params = LAW.parameters("quick")
    s = np.array(params.spectrum)
    prediction = LAW.predict(params)
    flow = saxe_learning_time(s, params.theta * s, s / 2)
    depth2 = prediction.y[prediction.panel == "depth 2"]
    np.testing.assert_allclose(depth2, flow, rtol=params.learning_rate * s.max())


def test_moment_matched_training_equals_training_on_all_samples() -> None:
    """Oracle: mode strengths of a depth-3 ensemble trained on the n₀ matched rows equal those
    of the same ensemble trained on all P samples (to rounding), and their crossing times."""
    teacher = member_teachers(4, [0, 1, 2], 6, 5, (3.0, 1.0), "cpu")
    x = torch.randn(3, 200, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    runs = []
    for inputs in (x, moment_matched_inputs(x)):
        ens = init_ensemble(deep_linear(6, 10, 2, 5), members=3, seed=1, C_W=0.05,
                            dtype=torch.float64)
        runs.append(train_mode_strengths(ens, inputs, teacher, learning_rate=0.05, steps=300,
                                         seed=0, progress=lambda f: None))
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-8, atol=1e-11)
    s = np.array([3.0, 1.0])
    t = [crossing_times(u, s / 2, s, 0.05) for u in runs]
    assert np.all(np.isfinite(t[0]))
    np.testing.assert_allclose(t[0], t[1], rtol=1e-8)


def test_parameters_are_checked() -> None:
    with pytest.raises(LmechError, match="one step count per depth"):
        LAW.parameters("smoke", {"depths": (2, 3)})
    with pytest.raises(LmechError, match="learning_rate"):
        LAW.parameters("smoke", {"learning_rate": 0.1})
