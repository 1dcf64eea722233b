"""scaling.quanta: theory exponents against closed forms, measurements against brute force,
plausible wrong theories refuted."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lmech.errors import LmechError
from lmech.laws import Curve, Series, get_law
from lmech.laws.scaling.quanta import (
    _error_exponents,
    _exponential_exponent,
    _learning_steps,
    _staircase_exponent,
    _time_exponents,
)
from lmech.run import Outcome, judge
from lmech.testing import SEED
from lmech.theory import quanta_data_exponent, quanta_parameter_exponent

LAW = get_law("scaling.quanta")


@pytest.fixture(scope="module")
def smoke(law_run):
    return law_run(LAW, SEED)


def _with(prediction: Series, time_y, error_y) -> Series:
    t, e = prediction.curves()
    return Series.from_curves([Curve(t.panel, t.name, t.x, time_y),
                               Curve(e.panel, e.name, e.x, error_y)])


def test_one_quantum_per_step_count_is_refuted(smoke) -> None:
    """Steps acting like parameters (t_i ∝ i: time exponent 1/s), the error panel kept."""
    params, prediction, measurement, foil, tol = smoke
    s = np.array(params.zipf_exponents)
    wrong = _with(prediction, 1 / s, prediction.curves()[1].y)
    assert judge(wrong, measurement, foil, tol).outcome is Outcome.REFUTED


@pytest.fixture(scope="module")
def quick(law_run):
    """The error panel's power needs the quick window (2..10 of 40 subtasks): at the smoke
    window (1..4 of 16) the shape tolerance is ≈ 0.2, as wide as the foil's distance."""
    return law_run(LAW, 0, "quick")


@pytest.mark.slow  # the quick budget: about a minute
@pytest.mark.parametrize("mistake", ["parameter axis", "asymptote at a finite window"])
def test_wrong_error_exponents_are_refuted(quick, mistake) -> None:
    """α_N in place of α_D, and the asymptotic α/(α+1) quoted for a finite window
    (docs/theory/scaling.md, §Finite windows, warns against it), each with the time panel right."""
    params, prediction, measurement, foil, tol = quick
    s = np.array(params.zipf_exponents)
    wrong_error = foil.curves()[1].y if mistake == "parameter axis" else (s - 1) / s
    wrong = _with(prediction, prediction.curves()[0].y, wrong_error)
    verdict = judge(wrong, measurement, foil, tol)
    assert verdict.outcome is Outcome.REFUTED, verdict


def test_staircase_exponents_reach_the_asymptotes() -> None:
    """Far from the truncation and from n = 1 the window fits give α/(α+1) and α
    (docs/theory/scaling.md, §Finite windows); the tail beyond n_tasks falls as n_tasks^(−α),
    so the limit needs a large α."""
    params = LAW.parameters("quick", {"n_tasks": 1000, "window": (5, 50), "n_bits": 24})
    for s in (2.0, 2.5):
        assert _staircase_exponent(params, s, s) == pytest.approx(quanta_data_exponent(s),
                                                                  rel=0.03)
        assert _staircase_exponent(params, s, 1.0) == pytest.approx(
            quanta_parameter_exponent(s), rel=0.03)
        # the smooth (exponential) model shares the asymptote: the shape is a finite-window term
        assert _exponential_exponent(params, s) == pytest.approx(quanta_data_exponent(s),
                                                                 rel=0.05)


def test_tolerance_is_recording_resolution_and_shape_gap() -> None:
    params = LAW.parameters("quick")
    tol = LAW.tolerance(params, LAW.predict(params))
    s = params.zipf_exponents[0]
    x = np.log(np.arange(1, params.window[1] + 1) ** s)  # log 1/p_i up to a constant
    d = x - x.mean()
    ln_q = math.log(params.steps / 10) / 119
    assert tol[0] == pytest.approx(np.abs(d / (d @ d)).sum() * ln_q)
    assert tol[1] == pytest.approx(abs(_staircase_exponent(params, s, s)
                                       - _exponential_exponent(params, s)))


def test_measured_exponents_against_a_planted_staircase() -> None:
    """Oracle: accuracies built from t_i = τ/p_i steps give time exponent 1 and the staircase
    error exponent, computed here by brute force on the recorded grid."""
    params = LAW.parameters("smoke", {"n_tasks": 30, "n_bits": 12, "window": (2, 10),
                                      "steps": 200_000})
    s = 1.5
    p = np.arange(1, 31) ** -s
    p /= p.sum()
    steps = np.unique(np.concatenate([[0], np.geomspace(10, 200_000, 400).astype(int)]))
    steps = steps.astype(float)
    t_true = 20 / p  # (T,)
    acc = np.where(steps[None, None, :] >= t_true[None, :, None], 1.0, 0.5)
    acc = np.repeat(acc, 3, axis=0)  # three identical members
    t = _learning_steps(acc, steps, 0.9)
    # each t_i is located within the recording interval that brackets it
    ratio = steps[1:] / np.maximum(steps[:-1], 1)
    assert np.all(np.abs(np.log(t[0] / t_true)) <= np.log(ratio.max()))
    np.testing.assert_allclose(_time_exponents(t, p, 10, steps[-1]), 1.0, atol=0.01)
    a = np.searchsorted(steps, t_true[1])
    b = np.searchsorted(steps, t_true[9])
    error = (0.5 * (steps[a:b + 1, None] < t_true[None, :]) * p).sum(1)
    brute = -np.polyfit(np.log(steps[a:b + 1]), np.log(error), 1)[0]
    np.testing.assert_allclose(_error_exponents(acc, steps, p, params), brute, rtol=1e-12)
    assert brute == pytest.approx(_staircase_exponent(params, s, s), abs=0.02)


def test_unlearned_subtasks_are_reported() -> None:
    acc = np.full((2, 5, 4), 0.5)
    t = _learning_steps(acc, np.array([0.0, 10, 100, 1000]), 0.9)
    assert np.isnan(t).all()
    with pytest.raises(LmechError, match="had not learned"):
        _time_exponents(t, np.full(5, 0.2), 3, 1000)


def test_bad_parameters_name_the_field() -> None:
    with pytest.raises(LmechError, match="window"):
        LAW.parameters("smoke", {"window": (5, 3)})
    with pytest.raises(LmechError, match="zipf_exponents"):
        LAW.parameters("smoke", {"zipf_exponents": (1.0,)})
    with pytest.raises(LmechError, match="C\\(n_bits, k\\)"):
        LAW.parameters("smoke", {"n_bits": 4, "n_tasks": 16})
