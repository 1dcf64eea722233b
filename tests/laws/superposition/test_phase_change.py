"""superposition.phase_change: S_c(r) against Monte Carlo, the phase classification against
brute force, and an importance-independent boundary refuted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmech.errors import LmechError
from lmech.laws import Series
from lmech.laws.superposition.phase_change import (
    DIAGRAM,
    DSTAR,
    GEOMETRY,
    PhaseChange,
    _crossing,
    _flat_boundary,
    _grid,
    _series,
    _superposed,
    _test_loss,
    feature_dimensionality,
)
from lmech.run import Outcome, judge
from lmech.tasks import sparse_features
from lmech.testing import SEED
from lmech.theory import antipodal_solution, critical_sparsity, ignored_feature_loss
from lmech.theory.superposition import COLLAPSED

LAW = PhaseChange()


def _monte_carlo_loss(w, b, sparsity: float, importance: float, count: int, seed: int):
    """The law's own test loss of one hand-made network on `count` sampled inputs."""
    x = sparse_features(torch.Generator().manual_seed(seed), count,
                        torch.full((2,), 1 - sparsity)).double()
    per = _test_loss(torch.tensor([[w]], dtype=torch.float64),
                     torch.tensor([b], dtype=torch.float64), x.unsqueeze(0),
                     torch.tensor([[1.0, importance]], dtype=torch.float64))
    return float(per[0])


def test_critical_sparsity_quadrature_against_monte_carlo() -> None:
    """Independent route: sampled losses of the two exact solutions change order at S_c."""
    r = 0.3
    sc = critical_sparsity(r)
    sol = antipodal_solution(sc + 0.05, r)
    for s, sign in ((sc + 0.05, -1), (sc, 0)):
        sol = antipodal_solution(s, r, (*sol.w, *sol.b))
        anti = _monte_carlo_loss(sol.w, sol.b, s, r, 400_000, 1)
        ignored = _monte_carlo_loss((1.0, 0.0), (0.0, (1 - s) / 2), s, r, 400_000, 1)
        assert anti == pytest.approx(sol.loss, rel=0.01)  # sd of the mean ≈ 0.3 %
        assert ignored == pytest.approx(float(ignored_feature_loss(s, r)), rel=0.01)
        if sign:  # common inputs: the difference is far sharper than either loss
            assert np.sign(anti - ignored) == sign
        else:
            assert abs(anti - ignored) < 0.02 * ignored


def test_phase_classification_against_brute_force() -> None:
    """Hand-made weights: `_superposed` against a direct reading of each W."""
    w = torch.tensor([[1.0, -1.0], [1.0, 0.0], [1.0, -0.1], [0.8, 0.5], [-0.6, 0.9],
                      [1.0, -COLLAPSED], [0.0, 0.0]]).unsqueeze(1)
    brute = [bool(a * c < 0 and abs(c) >= COLLAPSED * abs(a)) for a, c in w[:, 0].tolist()]
    assert _superposed(w).tolist() == brute == [True, False, False, False, True, True, False]


def test_crossing_of_hand_made_pairs() -> None:
    s = np.array([0.5, 0.6, 0.7, 0.8])
    pair = np.array([[True, False]] * 4)
    ignored = np.full(4, 0.08)
    loss = np.stack([np.array([0.10, 0.09, 0.07, 0.05]), ignored], -1)
    # losses cross between 0.6 (+0.01) and 0.7 (−0.01): the interpolated zero, 0.65
    assert _crossing(s, loss, pair) == pytest.approx(0.65)
    # the antipodal start collapsed at 0.6: no difference to interpolate, the midpoint
    collapsed = pair.copy()
    collapsed[1, 0] = False
    assert _crossing(s, loss, collapsed) == pytest.approx(0.65)
    loss2 = loss.copy()
    loss2[1, 0] = 0.0801
    assert _crossing(s, loss2, pair) == pytest.approx(0.6 + 0.0001 / 0.0101 * 0.1)
    assert _crossing(s, loss2, collapsed) == pytest.approx(0.65)
    # superposition everywhere, nowhere, or not at the top: the grid's ends
    assert _crossing(s, np.stack([np.full(4, 0.01), ignored], -1), pair) == 0.5
    assert _crossing(s, np.stack([np.full(4, 0.2), ignored], -1), pair) == 0.8
    lone = np.stack([np.array([0.01, 0.2, 0.2, 0.2]), ignored], -1)
    assert _crossing(s, lone, pair) == 0.8


def test_exact_minima_through_the_measurement_give_s_c() -> None:
    """Brute force of the whole reading: the exact solutions' exact losses on the law's
    quick grid, through `_crossing`, return S_c(r) up to the linear interpolation."""
    params = LAW.parameters("quick")
    r = params.importances[1]
    s = np.array([x for i, x in _grid(params) if i == 1])
    sc = critical_sparsity(r)
    loss, pair = np.empty((s.size, 2)), np.empty((s.size, 2), dtype=bool)
    start = (1.0, -1.0, 0.0, 0.0)
    for j in np.argsort(-s):  # follow the branch down from the sparsest point
        sol = antipodal_solution(float(s[j]), r, start)
        start = (*sol.w, *sol.b)
        loss[j] = sol.loss, float(ignored_feature_loss(s[j], r))
        pair[j] = sol.is_pair, False
    assert _crossing(s, loss, pair) == pytest.approx(sc, abs=2e-3)


def test_an_importance_independent_boundary_is_refuted(law_run) -> None:
    """The foil as a theory: one S_c for every r (with the prediction's D*), at smoke."""
    params, prediction, measurement, foil, tol = law_run(LAW, SEED)
    flat = _flat_boundary(params)
    wrong = _series(params, [flat] * len(params.importances),
                    prediction.y[prediction.panel == DSTAR])
    judged = ~np.isin(prediction.panel, LAW.unjudged_panels())
    verdict = judge(wrong, measurement, foil, tol[judged],
                    foilless_panels=LAW.foilless_panels(), unjudged_panels=LAW.unjudged_panels())
    assert verdict.outcome is Outcome.REFUTED


def test_the_grid_holds_both_boundaries() -> None:
    params = LAW.parameters("quick")
    flat = _flat_boundary(params)
    for i, r in enumerate(params.importances):
        s = np.array([x for j, x in _grid(params) if j == i])
        lo, hi = sorted((critical_sparsity(r), flat))
        assert s.min() <= lo - params.window + 1e-9 and s.max() >= hi + params.window - 1e-9
        np.testing.assert_allclose(np.diff(s), params.spacing)


def test_parameters_are_checked() -> None:
    with pytest.raises(LmechError, match="importances"):
        LAW.parameters("smoke", {"importances": (0.5, 0.1)})
    with pytest.raises(LmechError, match="importances"):
        LAW.parameters("smoke", {"importances": (0.1, 0.8)})
    with pytest.raises(LmechError, match="window"):
        LAW.parameters("smoke", {"window": 0.03, "spacing": 0.02})


def test_feature_dimensionality_against_its_definition() -> None:
    """Closed forms (a lone feature 1, a pair 1/2, a pentagon 2/5, an absent one 0) and
    Elhage et al.'s form ‖W_i‖² / Σ_j (Ŵ_i·W_j)², looped, on a random W."""
    angles = 2 * np.pi * np.arange(5) / 5
    pentagon = np.stack([np.cos(angles), np.sin(angles)])  # (2, 5)
    w = np.zeros((4, 8))
    w[:2, :5] = 0.9 * pentagon
    w[2, 5], w[2, 6], w[3, 7] = 0.8, -0.8, 0.0  # a pair; feature 7 not represented
    got = feature_dimensionality(torch.tensor(w)).numpy()
    np.testing.assert_allclose(got, [0.4] * 5 + [0.5, 0.5, 0.0], atol=1e-12)
    w = np.random.default_rng(0).standard_normal((5, 20))
    loop = [w[:, i] @ w[:, i] / sum((w[:, i] / np.linalg.norm(w[:, i]) @ w[:, j]) ** 2
                                    for j in range(20)) for i in range(20)]
    np.testing.assert_allclose(feature_dimensionality(torch.tensor(w)).numpy(), loop,
                               rtol=1e-12)
    assert feature_dimensionality(torch.tensor(w)).sum() <= 5 + 1e-9  # Σ D_i ≤ m


def test_the_illustrations_are_drawn_but_never_judged(law_run) -> None:
    """Phase diagram and geometry: theory steps at S_c(r), fractions and D_i in [0, 1],
    one D_i per feature and unit; and nonsense there leaves the verdict as it was."""
    params, prediction, measurement, foil, tol = law_run(LAW, SEED)
    assert set(LAW.unjudged_panels()) == {DIAGRAM, GEOMETRY}
    for r in params.importances:
        step = (prediction.panel == DIAGRAM) & (prediction.curve == f"r = {r:g}")
        x, y = prediction.x[step], prediction.y[step]
        assert x[y == 0].max() < critical_sparsity(r) < x[y == 1].min()
    won = measurement.y[measurement.panel == DIAGRAM]
    assert np.all((won >= 0) & (won <= 1))
    cloud = (measurement.panel == GEOMETRY) & (measurement.curve == "D_i of each feature")
    wide = sorted({*params.sparsities, *params.sweep})
    assert cloud.sum() == 20 * params.sweep_units * len(wide)
    assert np.all((measurement.y[cloud] >= 0) & (measurement.y[cloud] <= 1 + 1e-9))
    off = Series(measurement.panel, measurement.curve, measurement.x,
                 np.where(np.isin(measurement.panel, [DIAGRAM, GEOMETRY]), 7.0,
                          measurement.y), measurement.stderr, measurement.units)
    kept, moved = (judge(prediction, m, foil, tol, foilless_panels=LAW.foilless_panels(),
                         unjudged_panels=LAW.unjudged_panels()).statistics()
                   for m in (measurement, off))
    assert {k: v for k, v in kept.items() if v == v} == {k: v for k, v in moved.items()
                                                          if v == v}
