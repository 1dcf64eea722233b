"""lmech.theory.emergence against docs/theory/emergence.md's Monte-Carlo table, limits, MLE."""

from __future__ import annotations

import numpy as np
import pytest

from lmech.errors import LmechError
from lmech.theory.emergence import (
    critical_time,
    emergence_window,
    fit_multiplicative,
    multiplicative_success,
)


@pytest.mark.parametrize("n, t_star", [(1, 68.97), (2, 122.18), (5, 203.42), (10, 269.00),
                                       (50, 426.40)])
def test_critical_time_table(n, t_star) -> None:
    assert critical_time(0.01, n) == pytest.approx(t_star, abs=0.01)


def test_critical_time_is_the_median_of_the_last_skill(rng) -> None:
    """Oracle: t* (P* = 1/2) is the median of the max of n Geometric(p) learning steps."""
    draws = rng.geometric(0.02, size=(20_000, 8)).max(axis=1)
    # the geometric step k counts the step of acquisition: known at t >= k
    assert np.median(draws) == pytest.approx(critical_time(0.02, 8), abs=2)
    frac = (draws <= 150).mean()  # binomial se ≈ 0.0035
    assert frac == pytest.approx(multiplicative_success(150, 0.02, 8), abs=0.015)


def test_limits_and_window() -> None:
    assert multiplicative_success(0, 0.1, 3) == 0.0
    assert multiplicative_success(1e6, 0.1, 3) == pytest.approx(1.0)
    np.testing.assert_allclose(multiplicative_success(7.0, 0.1, 1), 1 - 0.9**7)
    # Large n: t* ≈ [ln n − ln ln(1/P*)]/(−ln(1−p)); window saturates near 3.08/p.
    assert critical_time(0.01, 1e4) == pytest.approx(
        (np.log(1e4) - np.log(np.log(2))) / -np.log(0.99), rel=1e-3)
    np.testing.assert_allclose(emergence_window(0.01, [1, 10, 100]), [218.6, 296.2, 305.8],
                               atol=0.1)
    assert emergence_window(1e-4, 1e6) * 1e-4 == pytest.approx(
        np.log(np.log(10) / np.log(1 / 0.9)), rel=1e-3)


def test_mle_recovers_p_and_n(rng) -> None:
    t = np.arange(0, 600, 20)
    hits = []
    for _ in range(20):
        s = rng.binomial(200, multiplicative_success(t, 0.01, 4))
        f = fit_multiplicative(t, s, 200)
        hits.append([f.p_interval[0] <= 0.01 <= f.p_interval[1],
                     f.n_interval[0] <= 4 <= f.n_interval[1]])
        assert f.p == pytest.approx(0.01, rel=0.15) and f.n == pytest.approx(4, rel=0.5)
    assert np.mean(hits, axis=0).min() >= 0.8  # 95 % intervals: P(<= 16/20) ≈ 0.016


def test_bad_input() -> None:
    with pytest.raises(LmechError, match="p must be in"):
        multiplicative_success(3, 1.5, 2)
    with pytest.raises(LmechError, match="same length"):
        fit_multiplicative([1, 2], [1, 1], 3)
    with pytest.raises(LmechError, match="successes <= trials"):
        fit_multiplicative([1, 2, 3], [1, 5, 1], 3)
