"""The product rule's read-outs against brute force and simulated laws."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lmech.errors import LmechError
from lmech.laws.emergence._generators import Accuracies
from lmech.laws.emergence._product_rule import (
    composition_at_levels,
    delay_fractions,
    effective_exponents,
    on_the_rise,
    rise_start,
    rise_widths,
    single_concept_curves,
)

CLASSES = np.array([c for c in itertools.product([0, 1], repeat=3) if sum(c) >= 2])


def _acc(concept, whole, steps=None) -> Accuracies:
    steps = np.arange(concept.shape[1]) if steps is None else steps
    return Accuracies(concept, whole, CLASSES, steps)


def _simulate(rng, members, steps, samples, correlated):
    """Model-free networks: concept j of class c is acquired at a geometric step.

    Each network draws, per sample, whether each concept is right (w.p. its sigmoid in
    time); concepts are acquired and generated independently, or as one (`correlated`).
    """
    n_c, n = CLASSES.shape
    t = np.arange(steps)[None, :, None, None]
    onset = rng.geometric(0.05, size=(members, 1, n_c, n)).astype(float)
    draw = rng.random((members, steps, n_c, samples, n))
    if correlated:  # one skill: one onset and one draw for every concept
        onset = np.broadcast_to(onset[..., :1], onset.shape)
        draw = np.broadcast_to(draw[..., :1], draw.shape)
    prob = 1 / (1 + np.exp(-(t - onset) / 2.0))  # (M, T, C, n)
    right = draw < prob[:, :, :, None, :]
    present = CLASSES.astype(bool)[None, None, :, None, :]
    return _acc(right.mean(3), (right | ~present).all(-1).mean(3))


def _curves(acc: Accuracies):
    """log ū_m and log A_m by plain loops: per network products, then geometric means."""
    members, steps = acc.concept.shape[:2]
    out = {}
    for m in range(2, CLASSES.shape[1] + 1):
        group = [c for c in range(len(CLASSES)) if CLASSES[c].sum() == m]
        log_u, log_a = [], []
        for t in range(steps):
            prods = [np.mean([np.prod(acc.concept[i, t, c][CLASSES[c] == 1])
                              for i in range(members)]) for c in group]
            with np.errstate(divide="ignore"):
                log_u.append(np.mean(np.log(prods)) / m)
                log_a.append(np.mean([np.log(acc.whole[:, t, c].mean()) for c in group]))
        out[m] = np.array(log_u), np.array(log_a)
    return out


def _first(x, level):
    """Index k of the first x[k] >= level and the interpolation weight from k − 1."""
    k = next(t for t in range(len(x)) if x[t] >= level)
    return k, (level - x[k - 1]) / (x[k] - x[k - 1])


def test_composition_matches_brute_force(rng) -> None:
    acc = _simulate(rng, 6, 120, 16, correlated=False)
    levels = (0.4, 0.6, 0.8)
    brute = []
    for log_u, log_a in _curves(acc).values():
        row = []
        for u in levels:
            k, lam = _first(log_u, np.log(u))
            row.append(np.exp((1 - lam) * log_a[k - 1] + lam * log_a[k]))
        brute.append(row)
    np.testing.assert_allclose(composition_at_levels(acc, levels)[0], brute, rtol=1e-12)


def test_delay_matches_brute_force(rng) -> None:
    acc = _simulate(rng, 6, 120, 16, correlated=False)
    acc = Accuracies(acc.concept, acc.whole, CLASSES, 5 * np.arange(120))
    levels = (0.3, 0.6)
    brute = []
    for m, (log_u, log_a) in _curves(acc).items():
        def first(y, level):
            k, lam = _first(y, level)
            return acc.steps[k - 1] + lam * (acc.steps[k] - acc.steps[k - 1])

        u, a = np.exp(log_u), np.exp(log_a)
        brute.append([(first(a, p) - first(u, p)) / (first(u**m, p) - first(u, p))
                      for p in levels])
    np.testing.assert_allclose(delay_fractions(acc, levels)[0], brute, rtol=1e-10)


def test_exponent_and_width_match_brute_force(rng) -> None:
    """γ_m is the least-squares slope through the origin of ln A_m(u) on ln u; the rise
    width reads ln ū_m where ln A_m first crosses ln P, interpolating linearly."""
    acc = _simulate(rng, 6, 150, 16, correlated=False)
    levels, rise = (0.5, 0.7, 0.9), (0.2, 0.7)
    read = composition_at_levels(acc, levels)[0]
    x = np.log(levels)
    np.testing.assert_allclose(effective_exponents(acc, levels)[0][:, 0],
                               np.log(read) @ x / (x @ x), rtol=1e-12)
    brute = []
    for log_u, log_a in _curves(acc).values():
        ends = []
        for p in rise:
            k, lam = _first(log_a, np.log(p))
            ends.append(np.exp((1 - lam) * log_u[k - 1] + lam * log_u[k]))
        brute.append(ends[1] - ends[0])
    np.testing.assert_allclose(rise_widths(acc, rise)[0][:, 0], brute, rtol=1e-12)


@pytest.mark.parametrize("correlated", [False, True])
def test_read_outs_recover_the_simulated_law(rng, correlated) -> None:
    """Independent acquisition gives u^m, γ = m, delay 1 and width P_hi^{1/m} − P_lo^{1/m};
    concepts acquired and drawn together (one skill) give none of them."""
    acc = _simulate(rng, 200, 150, 32, correlated)
    levels = np.array([0.5, 0.7, 0.9])
    checks = [(composition_at_levels(acc, levels), lambda m: levels**m),
              (effective_exponents(acc, levels), lambda m: m),
              (delay_fractions(acc, (0.3, 0.5, 0.7)), lambda m: 1.0),
              (rise_widths(acc, (0.2, 0.7)), lambda m: 0.7 ** (1 / m) - 0.2 ** (1 / m))]
    for (y, se), rule in checks:
        z = max(np.abs((y[k] - rule(m)) / se[k]).max() for k, m in enumerate((2, 3)))
        assert bool(z < 4.5) is (not correlated), (y, se)


def test_one_skill_in_identical_networks_has_no_delay() -> None:
    """Every concept right exactly when the composition is, the same in every network: 0.

    (Networks that differ make ⟨a^m⟩^{1/m} exceed ⟨a⟩, so the one-skill foil is the
    limit of identical networks, not an exact value for an ensemble.)
    """
    steps = np.arange(100)
    a = 1 / (1 + np.exp(-(steps - 50) / 5.0))  # (T,)
    whole = np.broadcast_to(a[None, :, None], (4, 100, len(CLASSES))).copy()
    concept = np.broadcast_to(whole[..., None], whole.shape + (3,)).copy()
    y, _ = delay_fractions(_acc(concept, whole), (0.3, 0.5, 0.7))
    np.testing.assert_allclose(y, 0, atol=1e-12)


def _curves_to_concepts(u2: np.ndarray, u3: np.ndarray, members: int = 3) -> np.ndarray:
    """Accuracies ``(M, R, C, 3)`` with every concept of an m-concept class at ū_m."""
    size = CLASSES.sum(1)
    per_class = np.where(size[None, :] == 2, u2[:, None], u3[:, None])  # (R, C)
    return np.broadcast_to(per_class[None, :, :, None],
                           (members, len(u2), len(CLASSES), 3)).copy()


def test_rise_starts_after_the_transient_and_the_dip() -> None:
    """ū starts at 1/2, wanders up, dips (lowest at record 4 on average) and rises; the
    start of the rise is the dip even when the start is lower, and a saturated wobble at
    the top does not move it."""
    u2 = np.array([0.45, 0.50, 0.52, 0.45, 0.44, 0.60, 0.80, 0.95, 0.99, 0.985, 0.99])
    u3 = np.array([0.40, 0.48, 0.50, 0.42, 0.41, 0.55, 0.75, 0.93, 0.98, 0.975, 0.98])
    ubar = single_concept_curves(_curves_to_concepts(u2, u3), CLASSES)
    np.testing.assert_allclose(ubar, [u2, u3], rtol=1e-12)
    assert rise_start(ubar) == 4
    u = np.linspace(0.4, 0.9, 8)
    assert rise_start(single_concept_curves(_curves_to_concepts(u, u), CLASSES)) == 0


def test_levels_under_the_dip_are_refused() -> None:
    u2 = np.array([0.5, 0.45, 0.6, 0.8, 0.95])
    concept = _curves_to_concepts(u2, u2)
    acc = _acc(concept, concept[..., 0])
    assert on_the_rise(acc, levels=(0.5, 0.9)).steps[0] == 1
    with pytest.raises(LmechError, match="levels must exceed"):
        on_the_rise(acc, levels=(0.4, 0.9))


def test_levels_not_reached_say_so() -> None:
    u = np.linspace(0.1, 0.6, 10)
    concept = _curves_to_concepts(u, u)
    acc = _acc(concept, concept[..., 0] ** 2)
    with pytest.raises(LmechError, match="never rises through 0.8"):
        composition_at_levels(acc, (0.8,))
    with pytest.raises(LmechError, match="already above"):
        delay_fractions(acc, (0.05,))
