"""lmech.theory.superposition: the exact loss against Monte Carlo, the solutions, S_c(r)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from lmech.errors import LmechError
from lmech.theory import (
    antipodal_solution,
    critical_sparsity,
    ignored_feature_loss,
    pair_allocation,
    toy_model_loss,
)
from lmech.theory.superposition import _matchings


def _monte_carlo(w, b, sparsity, importance, rng, count=400_000):
    """The loss averaged over `count` sampled inputs: its mean and standard error."""
    x = rng.uniform(size=(count, 2)) * (rng.uniform(size=(count, 2)) >= sparsity)
    w, b = np.asarray(w), np.asarray(b)
    out = np.maximum((x @ w)[:, None] * w + b, 0.0)
    per = (x[:, 0] - out[:, 0]) ** 2 + importance * (x[:, 1] - out[:, 1]) ** 2
    return per.mean(), per.std(ddof=1) / np.sqrt(count)


@pytest.mark.parametrize(("w", "b", "sparsity", "importance"), [
    ((1.0, -1.0), (0.0, 0.0), 0.8, 0.3),
    ((0.9, -0.6), (-0.1, 0.05), 0.5, 0.7),
    ((0.4, 1.3), (0.3, -0.4), 0.0, 1.0),
    ((1.2, 0.0), (0.2, 0.3), 0.95, 0.1),
    ((-0.7, 0.8), (0.6, -0.9), 0.3, 2.0),
])
def test_exact_loss_against_monte_carlo(w, b, sparsity, importance, rng) -> None:
    """Independent route: the quadrature (every kink case) against sampled inputs."""
    mean, se = _monte_carlo(w, b, sparsity, importance, rng)
    assert float(toy_model_loss(w, b, sparsity, importance)) == pytest.approx(mean, abs=5 * se)


def test_closed_forms_of_simple_weights() -> None:
    for s in (0.0, 0.4, 0.9):
        d = 1 - s
        # nothing stored: E x₁² + r E x₂² with E x² = (1 − S)/3
        assert float(toy_model_loss([0, 0], [0, 0], s, 0.5)) == pytest.approx(1.5 * d / 3)
        # feature 2 ignored, replaced by its mean
        assert float(toy_model_loss([1, 0], [0, d / 2], s, 0.5)) == pytest.approx(
            float(ignored_feature_loss(s, 0.5)), rel=1e-12)
    assert float(ignored_feature_loss(0.0, 1.0)) == pytest.approx(1 / 12)


def test_the_loss_is_vectorised() -> None:
    w = np.array([[1.0, -1.0], [0.5, 0.2], [1.0, 0.0]])
    b = np.array([[0.0, 0.1], [0.1, 0.0], [0.0, 0.2]])
    batch = toy_model_loss(w, b, 0.7, 0.4)
    single = [float(toy_model_loss(w[i], b[i], 0.7, 0.4)) for i in range(3)]
    np.testing.assert_allclose(batch, single, rtol=1e-14)


def test_antipodal_solution_is_a_minimum_and_a_pair() -> None:
    sol = antipodal_solution(0.9, 0.3)
    assert sol.is_pair and sol.w[0] * sol.w[1] < 0
    t0 = np.array([*sol.w, *sol.b])
    assert sol.loss == pytest.approx(float(toy_model_loss(sol.w, sol.b, 0.9, 0.3)), rel=1e-12)
    rng = np.random.default_rng(7)
    for step in 1e-3 * rng.standard_normal((20, 4)):
        t = t0 + step
        assert float(toy_model_loss(t[:2], t[2:], 0.9, 0.3)) >= sol.loss - 1e-12


@pytest.mark.slow
def test_antipodal_solution_is_the_best_pair_from_random_starts() -> None:
    """Brute force: Nelder–Mead from random starts with w₁w₂ < 0 finds no pair cheaper."""
    s, r = 0.9, 0.3
    sol = antipodal_solution(s, r)
    rng = np.random.default_rng(11)
    best = np.inf
    for _ in range(6):
        start = np.array([rng.uniform(0.5, 1.5), -rng.uniform(0.3, 1.5),
                          *rng.uniform(-0.3, 0.1, 2)])
        res = optimize.minimize(lambda t: float(toy_model_loss(t[:2], t[2:], s, r)), start,
                                method="Nelder-Mead",
                                options={"xatol": 1e-8, "fatol": 1e-12, "maxiter": 4000})
        if res.x[0] * res.x[1] < 0 and abs(res.x[1]) >= 0.2 * abs(res.x[0]):
            best = min(best, res.fun)
    assert np.isfinite(best)
    assert sol.loss <= best + 1e-8


def test_critical_sparsity_is_where_the_losses_cross() -> None:
    r = 0.3
    sc = critical_sparsity(r)
    # above: a pair with the lower loss; below: no cheaper pair on the branch
    above = antipodal_solution(sc + 0.03, r)
    assert above.is_pair and above.loss < float(ignored_feature_loss(sc + 0.03, r))
    start = (*above.w, *above.b)
    below = antipodal_solution(sc - 0.03, r, start)
    assert (not below.is_pair) or below.loss > float(ignored_feature_loss(sc - 0.03, r))
    at = antipodal_solution(sc, r, start)
    assert at.loss == pytest.approx(float(ignored_feature_loss(sc, r)), rel=1e-5)


def test_critical_sparsity_falls_with_importance() -> None:
    values = [critical_sparsity(r) for r in (0.1, 0.3, 0.5)]
    assert 0.95 > values[0] > values[1] > values[2] > 0.3


def test_dense_features_are_not_superposed() -> None:
    a = pair_allocation(0.0, 0.7 ** np.arange(6), hidden=3)
    assert a.pairs == () and a.dedicated == (0, 1, 2)
    assert a.squared_norm == 5.0 - 2.0 and a.dimensions_per_feature == 1.0
    assert a.loss == pytest.approx(float(ignored_feature_loss(0.0, 1.0)) * sum(
        0.7 ** np.arange(3, 6)))


def test_sparse_features_pack_as_pairs_and_dimensions_per_feature_fall() -> None:
    imp = 0.7 ** np.arange(8)
    dstar = [pair_allocation(s, imp, hidden=2).dimensions_per_feature for s in (0.0, 0.9, 0.97)]
    assert dstar[0] == 1.0 and 0.45 < dstar[1] < 0.55 and 0.45 < dstar[2] < 0.55
    for s in (0.9, 0.97):  # both dimensions hold a pair: about half a dimension each
        assert len(pair_allocation(s, imp, hidden=2).pairs) == 2


def test_one_dimension_for_two_features_is_the_phase_change() -> None:
    """hidden = 1, n = 2: the allocation picks the pair exactly above S_c(r)."""
    r = 0.3
    sc = critical_sparsity(r)
    assert pair_allocation(sc - 0.05, [1.0, r], hidden=1).pairs == ()
    high = pair_allocation(sc + 0.05, [1.0, r], hidden=1)
    assert high.pairs == ((0, 1),)
    assert high.loss == pytest.approx(antipodal_solution(sc + 0.05, r).loss, rel=1e-9)


def test_matchings_are_enumerated_once() -> None:
    found = list(_matchings([0, 1, 2, 3], 2))
    assert len(found) == len(set(found)) == 1 + 6 + 3


def test_bad_arguments_are_named() -> None:
    with pytest.raises(LmechError, match="axis of 2"):
        toy_model_loss([1.0, 0.0, 0.0], [0.0, 0.0], 0.5, 1.0)
    with pytest.raises(LmechError, match="sparsity"):
        toy_model_loss([1.0, 0.0], [0.0, 0.0], 1.0, 1.0)
    with pytest.raises(LmechError, match="importance"):
        critical_sparsity(1.5)
    with pytest.raises(LmechError, match="non-increasing"):
        pair_allocation(0.5, [0.5, 1.0, 0.2], hidden=1)
    with pytest.raises(LmechError, match="hidden"):
        pair_allocation(0.5, [1.0, 0.5], hidden=2)
