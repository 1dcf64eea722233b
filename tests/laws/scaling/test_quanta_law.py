"""scaling.quanta: theory against closed forms, measurements against brute force, plausible
wrong theories refuted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmech.ensemble import MemberStreams
from lmech.errors import LmechError
from lmech.laws import Curve, Series, get_law
from lmech.laws.scaling.quanta import (
    CURVE,
    ERROR,
    TIME,
    WHOLE,
    _curve_points,
    _error_at,
    _error_curve,
    _error_exponents,
    _fresh_batches,
    _learning_steps,
    _staircase_curve,
    _staircase_error,
    _staircase_exponent,
    _time_exponents,
    _whole_x,
)
from lmech.run import Outcome, judge
from lmech.tasks import multitask_sparse_parity
from lmech.testing import SEED
from lmech.theory import quanta_data_exponent, quanta_frequencies, quanta_parameter_exponent

LAW = get_law("scaling.quanta")


@pytest.fixture(scope="module")
def smoke(law_run):
    return law_run(LAW, SEED)


def _with(prediction: Series, panel: str, y) -> Series:
    """The prediction with `panel`'s values replaced by y(curve) (x and name available)."""
    return Series.from_curves(Curve(c.panel, c.name, c.x, y(c) if c.panel == panel else c.y)
                              for c in prediction.curves())


def test_one_quantum_per_step_count_is_refuted(smoke) -> None:
    """Steps acting like parameters (t_i ∝ i: time exponent 1/s), the other panels kept."""
    params, prediction, measurement, foil, tol = smoke
    wrong = _with(prediction, TIME, lambda c: 1 / np.asarray(c.x))
    verdict = judge(wrong, measurement, foil, tol, unjudged_panels=LAW.unjudged_panels())
    assert verdict.outcome is Outcome.REFUTED, verdict


@pytest.fixture(scope="module")
def quick(law_run):
    """The error panels' power needs the quick budget (16 networks, two Zipf exponents)."""
    return law_run(LAW, 0, "quick")


@pytest.mark.slow  # the quick budget: about a minute
@pytest.mark.parametrize("mistake", ["parameter axis", "staircase of the parameter axis"])
def test_wrong_error_laws_are_refuted(quick, mistake) -> None:
    """α_N in place of the data exponent, or the error-vs-steps staircase of t_i ∝ i, each
    with the other panels right."""
    params, prediction, measurement, foil, tol = quick
    panel = ERROR if mistake == "parameter axis" else CURVE
    rival = {(c.panel, c.name): c.y for c in foil.curves()}
    wrong = _with(prediction, panel, lambda c: rival[(c.panel, c.name)])
    verdict = judge(wrong, measurement, foil, tol, unjudged_panels=LAW.unjudged_panels())
    assert verdict.outcome is Outcome.REFUTED, verdict


def test_margins_are_under_half_the_foil_gap() -> None:
    """The declared margins never hide the foil, at any point (docs/verdicts.md)."""
    params = LAW.parameters("quick")
    p, f = LAW.predict(params), LAW.foil(params)
    judged = p.panel != WHOLE  # the error curve only illustrates
    assert np.all(LAW.tolerance(params, p)[judged] < np.abs(p.y - f.y)[judged] / 2)


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


def test_staircase_curve_is_the_unlearned_mass() -> None:
    """In the middle of plateau n (x = (√(n(n+1))/n_lo)^s), n quanta are learned under
    t_i ∝ 1/p_i; under t_i ∝ i, ⌊n_lo·x⌋ are: ln of the unlearned Zipf mass, by brute force."""
    params = LAW.parameters("quick", {"n_tasks": 30, "window": (2, 6), "curve_points": 3})
    for s in params.zipf_exponents:
        p = quanta_frequencies(30, s)
        x, n = _curve_points(params, s)
        np.testing.assert_array_equal(n, [2, 3, 4, 5])
        assert np.all((n / 2) ** s <= x) and np.all(x < ((n + 1) / 2) ** s)

        def mass(k, p=p):
            return p[k:].sum()

        np.testing.assert_allclose(_staircase_curve(params, s, s),
                                   [np.log(mass(k) / mass(2)) for k in n[1:]], rtol=1e-12)
        learned = [int(np.floor(2 * xi + 1e-9)) for xi in x]  # i <= n_lo·x (x = 3/2 at s = 2)
        np.testing.assert_allclose(_staircase_curve(params, s, 1.0),
                                   [np.log(mass(k) / mass(learned[0])) for k in learned[1:]],
                                   rtol=1e-12)


def _planted(tau: float, p: np.ndarray, steps: np.ndarray, members: int = 3) -> np.ndarray:
    """Accuracies of networks that learn subtask i at t_i = τ/p_i: ``(M, T, R)``."""
    acc = np.where(steps[None, None, :] >= tau / p[None, :, None], 1.0, 0.5)
    return np.repeat(acc, members, axis=0)


def test_measured_exponents_against_a_planted_staircase() -> None:
    """Oracle: accuracies built from t_i = τ/p_i give time exponent 1, and the error exponent
    and error-vs-steps points of that staircase, computed here by brute force."""
    params = LAW.parameters("smoke", {"n_tasks": 30, "n_bits": 12, "window": (2, 10),
                                      "zipf_exponents": (1.5,), "curve_points": 2})
    s, p = 1.5, quanta_frequencies(30, 1.5)
    steps = np.unique(np.concatenate([[0], np.geomspace(10, 200_000, 400).astype(int)]))
    steps = steps.astype(float)
    acc = _planted(20.0, p, steps)
    t = _learning_steps(acc, steps, 0.9)
    t_true = 20 / p
    ratio = steps[1:] / np.maximum(steps[:-1], 1)  # each t_i lies in its recording interval
    assert np.all(np.abs(np.log(t[0] / t_true)) <= np.log(ratio.max()))
    np.testing.assert_allclose(_time_exponents(t, p, 10, steps[-1]), 1.0, atol=0.01)
    a, b = np.searchsorted(steps, t_true[1]), np.searchsorted(steps, t_true[9])
    error = (0.5 * (steps[a:b + 1, None] < t_true[None, :]) * p).sum(1)
    brute = -np.polyfit(np.log(steps[a:b + 1]), np.log(error), 1)[0]
    np.testing.assert_allclose(_error_exponents(acc, steps, p, params), brute, rtol=1e-12)
    assert brute == pytest.approx(_staircase_exponent(params, s, s), abs=0.02)
    x, _ = _curve_points(params, s)
    np.testing.assert_allclose(_error_at(acc, steps, p, t, params, x)[0],
                               _staircase_curve(params, s, s), atol=0.01)
    # the error-curve illustration of that staircase: E itself, wherever no step of the
    # planted staircase falls between two records around x·S_lo
    x = _whole_x(params, s)
    curve = _error_curve(acc, steps, p, t, params, x)[0]
    theory = _staircase_error(params, s, s)
    at = np.sort(t[0])[1] * x
    clear = np.array([not np.any((t_true > a / 1.05) & (t_true < a * 1.05)) for a in at])
    assert clear.sum() > x.size // 2
    np.testing.assert_allclose(curve[clear], theory[clear], rtol=0.02)


def test_staircase_error_is_half_the_unlearned_mass() -> None:
    """Brute force: E(x) = ½ Σ p_i over the quanta with (i/n_lo)^power > x; starts at ½."""
    params = LAW.parameters("quick")
    lo = params.window[0]
    for s in params.zipf_exponents:
        p = quanta_frequencies(params.n_tasks, s)
        for power in (s, 1.0):
            brute = [0.5 * sum(p[i - 1] for i in range(1, params.n_tasks + 1)
                               if (i / lo) ** power > xi * (1 + 1e-12))
                     for xi in _whole_x(params, s)]
            np.testing.assert_allclose(_staircase_error(params, s, power), brute, rtol=1e-12)
        assert _staircase_error(params, s, s)[0] == pytest.approx(0.5)


def test_the_error_curve_is_drawn_but_never_judged(smoke) -> None:
    """An error curve far off its staircase leaves the verdict as it was."""
    params, prediction, measurement, foil, tol = smoke
    assert LAW.unjudged_panels() == (WHOLE,)
    off = Series(measurement.panel, measurement.curve, measurement.x,
                 np.where(measurement.panel == WHOLE, 10.0, measurement.y),
                 measurement.stderr, measurement.units)
    kept, moved = (judge(prediction, m, foil, tol, unjudged_panels=(WHOLE,)).statistics()
                   for m in (measurement, off))
    assert {k: v for k, v in kept.items() if v == v} == {k: v for k, v in moved.items()
                                                          if v == v}


def test_unlearned_subtasks_count_at_the_last_step() -> None:
    """A straggler counts as learned at the last step (a lower bound); many stop the run."""
    p = quanta_frequencies(5, 2.0)
    t = np.tile(1.0 / p, (10, 1))
    t[0, 3] = np.nan
    slopes = _time_exponents(t, p, 4, 20.0)
    np.testing.assert_allclose(slopes[1:], 1.0)
    censored = np.log(np.minimum(1.0 / p[:4], 20.0))
    x = np.log(1 / p[:4])
    assert slopes[0] == pytest.approx(np.polyfit(x, censored, 1)[0]) and slopes[0] < 1
    t[1:5, 2] = np.nan  # 5 of the 40 pairs: more than 10 %
    with pytest.raises(LmechError, match="were not learned"):
        _time_exponents(t, p, 4, 20.0)
    acc = np.full((2, 5, 4), 0.5)
    assert np.isnan(_learning_steps(acc, np.array([0.0, 10, 100, 1000]), 0.9)).all()


def test_each_network_draws_its_own_batches() -> None:
    """Member i's batches (its own subtasks, its own "batch" stream) do not depend on which
    other networks train beside it."""
    tasks = {i: multitask_sparse_parity(6, 8, 3, 2.0, generator=torch.Generator().manual_seed(i))
             for i in (1, 3)}
    both = _fresh_batches([tasks[1], tasks[3]], 16, "cpu")
    alone = _fresh_batches([tasks[3]], 16, "cpu")
    s_both, s_alone = MemberStreams(0, [1, 3]), MemberStreams(0, [3])
    for step in range(40):  # across a chunk boundary
        x2, y2 = both(step, s_both)
        x1, y1 = alone(step, s_alone)
        torch.testing.assert_close(x2[1], x1[0])
        torch.testing.assert_close(y2[1], y1[0])


def test_bad_parameters_name_the_field() -> None:
    with pytest.raises(LmechError, match="window"):
        LAW.parameters("smoke", {"window": (5, 3)})
    with pytest.raises(LmechError, match="zipf_exponents"):
        LAW.parameters("smoke", {"zipf_exponents": (1.0,)})
    with pytest.raises(LmechError, match="curve_points"):
        LAW.parameters("quick", {"curve_points": 3})
    with pytest.raises(LmechError, match="C\\(n_bits, k\\)"):
        LAW.parameters("smoke", {"n_bits": 4, "n_tasks": 16})
