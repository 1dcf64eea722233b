"""emergence.compositional: the estimator against brute force, wrong theories refuted."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lmech.errors import LmechError
from lmech.laws import Curve, Series, get_law
from lmech.laws.emergence._product_rule import (
    COMPOSITION,
    DELAY,
    composition_at_levels,
    delay_fractions,
)
from lmech.run import Outcome, judge
from lmech.testing import SEED

LAW = get_law("emergence.compositional")


@pytest.fixture(scope="module")
def smoke(law_run):
    return law_run(LAW, SEED)


def test_smoke_is_near_the_product_and_far_from_the_foil(smoke) -> None:
    """Not a verdict (the quick budget REFUTES u^m by 0.3–2 points): the sizes only."""
    _, prediction, measurement, foil, _ = smoke
    z_foil = np.abs(measurement.y - foil.y) / measurement.stderr
    gap = np.abs(measurement.y - prediction.y)
    on = measurement.panel == COMPOSITION
    assert gap[on].max() < 0.05 and z_foil[on].max() > 20
    on = measurement.panel == DELAY  # 32 members: delay fractions to ±0.02–0.08
    assert gap[on].max() < 0.2 and z_foil[on].min() > 5


def _with_exponent(prediction: Series, shift: int) -> Series:
    """u^(m + shift) instead of u^m: the multiplicative model with n off by `shift`."""
    curves = []
    for c in prediction.curves():
        m = int(c.name.split("(")[1].split()[0])
        y = np.asarray(c.x) ** (m + shift) if c.panel == COMPOSITION else c.y
        curves.append(Curve(c.panel, c.name, c.x, y))
    return Series.from_curves(curves)


@pytest.mark.parametrize("name", ["emergence.compositional",
                                  "emergence.compositional_diffusion"])
@pytest.mark.parametrize("shift", [-1, 1])
def test_wrong_number_of_concepts_is_refuted(law_run, name, shift) -> None:
    """Both generators: the product rule with the wrong number of concepts is REFUTED."""
    _, prediction, measurement, foil, tol = law_run(get_law(name), 0)
    wrong = _with_exponent(prediction, shift)
    assert judge(wrong, measurement, foil, tol).outcome is Outcome.REFUTED


def test_foil_as_prediction_is_refuted(smoke) -> None:
    _, prediction, measurement, foil, tol = smoke
    assert judge(foil, measurement, prediction, tol).outcome is Outcome.REFUTED


def _brute_force(concept, whole, classes, levels):
    """The same statistic with plain loops: no vectorisation, no jackknife."""
    members, steps = concept.shape[:2]
    out = []
    for m in range(2, classes.shape[1] + 1):
        group = [c for c in range(len(classes)) if classes[c].sum() == m]
        log_u, log_a = [], []
        for t in range(steps):
            prods = []
            for c in group:
                per = [np.prod([concept[i, t, c, j] for j in range(classes.shape[1])
                                if classes[c, j]]) for i in range(members)]
                prods.append(np.mean(per))
            with np.errstate(divide="ignore"):
                log_u.append(np.mean(np.log(prods)) / m)
                log_a.append(np.mean([np.log(whole[:, t, c].mean()) for c in group]))
        row = []
        for u in levels:
            k = next(t for t in range(steps) if log_u[t] >= np.log(u))
            lam = (np.log(u) - log_u[k - 1]) / (log_u[k] - log_u[k - 1])
            row.append(np.exp((1 - lam) * log_a[k - 1] + lam * log_a[k]))
        out.append(row)
    return np.array(out)


def _simulate(rng, members, steps, classes, samples, correlated):
    """Model-free networks: concept j of class c is acquired at a geometric step.

    Each network draws, per sample, whether each concept is right (w.p. its sigmoid in
    time); concepts are acquired and generated independently, or as one (`correlated`).
    """
    n_c, n = classes.shape
    t = np.arange(steps)[None, :, None, None]
    onset = rng.geometric(0.05, size=(members, 1, n_c, n)).astype(float)
    draw = rng.random((members, steps, n_c, samples, n))
    if correlated:  # one skill: one onset and one draw for every concept
        onset = np.broadcast_to(onset[..., :1], onset.shape)
        draw = np.broadcast_to(draw[..., :1], draw.shape)
    prob = 1 / (1 + np.exp(-(t - onset) / 2.0))  # (M, T, C, n)
    right = draw < prob[:, :, :, None, :]
    present = classes.astype(bool)[None, None, :, None, :]
    concept = right.mean(3)
    whole = (right | ~present).all(-1).mean(3)
    return concept, whole


CLASSES = np.array([c for c in itertools.product([0, 1], repeat=3) if sum(c) >= 2])


def test_statistic_matches_brute_force(rng) -> None:
    concept, whole = _simulate(rng, 6, 120, CLASSES, 16, correlated=False)
    levels = (0.4, 0.6, 0.8)
    y, _ = composition_at_levels(concept, whole, CLASSES, levels)
    np.testing.assert_allclose(y, _brute_force(concept, whole, CLASSES, levels),
                               rtol=1e-12)


@pytest.mark.parametrize("correlated", [False, True])
def test_estimator_recovers_the_simulated_law(rng, correlated) -> None:
    """Independent acquisition gives u^m; concepts acquired together give u (the foil)."""
    levels = np.array([0.5, 0.7, 0.9])
    concept, whole = _simulate(rng, 200, 150, CLASSES, 32, correlated)
    y, se = composition_at_levels(concept, whole, CLASSES, levels)
    for row, (m, ys, ses) in enumerate(zip((2, 3), y, se, strict=True)):
        del row
        product = levels**m
        z = np.abs(ys - product) / ses
        assert bool(z.max() < 4.5) is (not correlated), (m, ys, product, ses)


def _brute_force_delay(concept, whole, classes, steps, levels):
    """Delay fractions with plain loops over records: no vectorisation, no jackknife."""
    members = concept.shape[0]
    out = []
    for m in range(2, classes.shape[1] + 1):
        group = [c for c in range(len(classes)) if classes[c].sum() == m]
        curves = {"A": [], "prod": [], "u": []}
        for t in range(len(steps)):
            prods = [np.mean([np.prod(concept[i, t, c][classes[c] == 1])
                              for i in range(members)]) for c in group]
            geo = float(np.prod(prods)) ** (1 / len(group))
            curves["prod"].append(geo)
            curves["u"].append(geo ** (1 / m))
            curves["A"].append(float(np.prod([whole[:, t, c].mean() for c in group]))
                               ** (1 / len(group)))

        def first(y, level):
            k = next(t for t in range(len(y)) if y[t] >= level)
            return steps[k - 1] + (level - y[k - 1]) / (y[k] - y[k - 1]) * (
                steps[k] - steps[k - 1])

        out.append([(first(curves["A"], p) - first(curves["u"], p))
                    / (first(curves["prod"], p) - first(curves["u"], p)) for p in levels])
    return np.array(out)


def test_delay_matches_brute_force(rng) -> None:
    concept, whole = _simulate(rng, 6, 120, CLASSES, 16, correlated=False)
    steps = 5 * np.arange(120)
    levels = (0.3, 0.6)
    y, _ = delay_fractions(concept, whole, CLASSES, steps, levels)
    np.testing.assert_allclose(y, _brute_force_delay(concept, whole, CLASSES, steps, levels),
                               rtol=1e-10)


@pytest.mark.parametrize("correlated", [False, True])
def test_delay_recovers_the_simulated_law(rng, correlated) -> None:
    """Independent concepts give delay fraction 1; concepts right or wrong together do not."""
    concept, whole = _simulate(rng, 200, 150, CLASSES, 32, correlated)
    y, se = delay_fractions(concept, whole, CLASSES, np.arange(150), (0.3, 0.5, 0.7))
    assert bool((np.abs(y - 1) / se).max() < 4.5) is (not correlated), (y, se)


def test_one_skill_in_identical_networks_has_no_delay() -> None:
    """Every concept right exactly when the composition is, the same in every network: 0.

    (Networks that differ make ⟨a^m⟩^{1/m} exceed ⟨a⟩, so the one-skill foil is the
    limit of identical networks, not an exact value for an ensemble.)
    """
    steps = np.arange(100)
    a = 1 / (1 + np.exp(-(steps - 50) / 5.0))  # (T,)
    whole = np.broadcast_to(a[None, :, None], (4, 100, len(CLASSES))).copy()
    concept = np.broadcast_to(whole[..., None], whole.shape + (3,)).copy()
    y, _ = delay_fractions(concept, whole, CLASSES, steps, (0.3, 0.5, 0.7))
    np.testing.assert_allclose(y, 0, atol=1e-12)


def test_parameters_are_checked() -> None:
    with pytest.raises(LmechError, match="dim must be"):
        LAW.parameters("smoke", {"n_concepts": 5, "dim": 4})
    with pytest.raises(LmechError, match="levels"):
        LAW.parameters("smoke", {"levels": (0.8, 0.4)})
    with pytest.raises(LmechError, match="delay_levels"):
        LAW.parameters("smoke", {"delay_levels": (0.5, 1.0)})
    with pytest.raises(LmechError, match="record_every"):
        LAW.parameters("smoke", {"record_every": 1000})
    with pytest.raises(LmechError, match="dropout"):
        LAW.parameters("smoke", {"dropout": 0.0})


def test_too_short_training_says_so() -> None:
    params = LAW.parameters("smoke", {"steps": 100})
    with pytest.raises(LmechError, match="increase steps"):
        LAW.measure(params, 0)
