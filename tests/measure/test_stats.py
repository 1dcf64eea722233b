"""lmech.measure.stats: the excess-kurtosis estimator against known answers and the jackknife."""

from __future__ import annotations

import numpy as np
import pytest

from lmech.errors import LmechError
from lmech.measure.stats import (
    Estimate,
    excess_kurtosis_estimate,
    jackknife,
    mean_estimate,
    quotient_estimate,
)


def _moments(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (z**4).mean(1), (z**2).mean(1)


@pytest.mark.parametrize(("draw", "kappa"), [
    (lambda rng, shape: rng.standard_normal(shape), 0.0),
    (lambda rng, shape: rng.laplace(size=shape), 3.0),  # Laplace: excess kurtosis 3
    (lambda rng, shape: rng.uniform(-1, 1, shape), -1.2),  # uniform: −6/5
])
def test_known_kurtosis_is_recovered_within_its_error(draw, kappa) -> None:
    rng = np.random.default_rng(1)
    e = excess_kurtosis_estimate(*_moments(draw(rng, (2000, 40))))
    assert e.units == 2000
    # 4.5 standard errors: a false failure has probability < 1e-5 at these sizes.
    assert abs(float(e.value) - kappa) < 4.5 * float(e.stderr)


def test_delta_method_error_matches_the_jackknife() -> None:
    """Two routes to the same error: delta method and delete-one jackknife (agree to O(1/u))."""
    rng = np.random.default_rng(2)
    a, b = _moments(rng.laplace(size=(3000, 20)))
    delta = excess_kurtosis_estimate(a, b)
    jack = jackknife(lambda ma, mb: ma / mb**2 - 3, a, b)
    assert float(delta.value) == pytest.approx(float(jack.value), rel=1e-12)
    assert float(delta.stderr) == pytest.approx(float(jack.stderr), rel=0.05)


def test_error_covers_the_spread_across_repeats() -> None:
    """The standard error is the spread of the estimate over independent repeats (±15 %).

    (Gaussian units: for heavy tails the error of a fourth-moment statistic needs eighth
    moments and converges slowly, which is why the laws use many networks.)"""
    rng = np.random.default_rng(3)
    values, errors = [], []
    for _ in range(300):
        e = excess_kurtosis_estimate(*_moments(rng.standard_normal((500, 10))))
        values.append(float(e.value))
        errors.append(float(e.stderr))
    # The spread of 300 repeats is known to ±4 % (1/√(2·299)); the error's mean to less.
    assert np.std(values, ddof=1) == pytest.approx(np.mean(errors), rel=0.15)


def test_per_point_arrays_and_bad_input() -> None:
    rng = np.random.default_rng(4)
    z = rng.standard_normal((100, 3, 8))  # 100 units, 3 points, 8 samples each
    e = excess_kurtosis_estimate((z**4).mean(-1), (z**2).mean(-1))
    assert e.value.shape == e.stderr.shape == (3,)
    with pytest.raises(LmechError, match="same shape"):
        excess_kurtosis_estimate(np.ones(5), np.ones(4))
    with pytest.raises(LmechError, match=">= 2 independent units"):
        excess_kurtosis_estimate(np.ones(1), np.ones(1))


def test_quotient_of_independent_means_covers_its_spread() -> None:
    """The delta-method error of ā/b̄ (independent units) matches the spread over repeats."""
    rng = np.random.default_rng(5)
    values, errors = [], []
    for _ in range(400):
        q = quotient_estimate(mean_estimate(rng.normal(4.0, 1.0, 30)),
                              mean_estimate(rng.normal(2.0, 0.5, 20)))
        values.append(float(q.value))
        errors.append(float(q.stderr))
        assert q.units == 20
    assert np.std(values, ddof=1) == pytest.approx(np.mean(errors), rel=0.15)
    assert np.mean(values) == pytest.approx(2.0, abs=0.02)


def test_quotient_refuses_a_zero_denominator() -> None:
    with pytest.raises(LmechError, match="denominator"):
        quotient_estimate(Estimate(1.0, 0.1, 5), Estimate(0.0, 0.1, 5))
