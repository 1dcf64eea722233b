"""lmech.theory.superposition_scaling against Monte Carlo, brute force and its n → ∞ limit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import special

from lmech.errors import LmechError
from lmech.models import toy_model_forward
from lmech.tasks import sparse_features
from lmech.theory.superposition_scaling import (
    feature_frequencies,
    tight_frame_overlap,
    weak_superposition_loss,
    weak_width_exponent,
    width_exponent,
)


def test_weak_loss_against_monte_carlo_of_the_ideal_network() -> None:
    """Independent route: the weak-superposition network built by hand (top m features on
    orthonormal columns, the rest W_i = 0 with b_i = E x_i), its loss sampled."""
    n, m, a = 40, 6, 1.3
    p = feature_frequencies(n, a, density=2.0)
    w = torch.zeros(1, m, n, dtype=torch.float64)
    w[0, :, :m] = torch.eye(m, dtype=torch.float64)
    b = torch.tensor(p, dtype=torch.float64) * 1.0  # E x_i = p_i · s/2, s = 2
    b[:m] = 0
    x = sparse_features(torch.Generator().manual_seed(3), 100_000, torch.tensor(p),
                        scale=2.0).double()
    out = toy_model_forward({"W": w, "b": b.unsqueeze(0)}, x.unsqueeze(0))[0]
    sampled = float((out - x).square().mean())
    # the sampled mean over 10⁵ inputs of a sum of 34 independent terms: sd ≈ 0.8 % here
    assert sampled == pytest.approx(float(weak_superposition_loss(m, p)), rel=0.03)


def test_weak_loss_brute_force_and_edges() -> None:
    p = feature_frequencies(7, 1.5)
    var = p * 4 / 3 - p**2
    for m in range(8):
        assert weak_superposition_loss(m, p) == pytest.approx(var[m:].sum() / 7, abs=1e-15)
    np.testing.assert_allclose(weak_superposition_loss([0, 7], p), [var.sum() / 7, 0.0])


def test_weak_exponent_approaches_a_minus_one_as_n_grows() -> None:
    """n → ∞: Σ_{i>m} i^(−a) ≈ (m + ½)^(1−a)/(a − 1), exponent ≈ a − 1; the cut at finite n
    makes the finite-n exponent larger, and it falls towards a − 1 as n grows."""
    widths = [8, 16, 32, 64]
    a = 1.4
    exps = [weak_width_exponent(widths, n, a, density=0.5) for n in (400, 4000, 400_000)]
    assert exps[0] > exps[1] > exps[2]
    assert exps[2] == pytest.approx(a - 1, abs=0.01)
    # the tail as a difference of Hurwitz zetas (the p_i² part of Var x_i, under 0.5 % of
    # each term beyond i = 8 at this density, is what the two still differ by)
    tail = special.zeta(a, np.array(widths) + 1.0) - special.zeta(a, 400_001.0)
    assert width_exponent(widths, tail) == pytest.approx(exps[2], abs=2e-3)


def test_width_exponent_of_exact_power_laws() -> None:
    m = np.array([5, 9, 17, 33])
    for k in (0.3, 1.0, 2.2):
        assert width_exponent(m, 3.0 * m**-k) == pytest.approx(k, abs=1e-12)


def test_tight_frame_overlap_against_a_constructed_frame(generator) -> None:
    """Brute force on the harmonic frame, a unit-norm tight frame: columns
    (cos 2πjk/n, sin 2πjk/n), k = 1..m/2, scaled to unit norm."""
    n, m = 13, 6
    k = np.arange(1, m // 2 + 1)[:, None]
    j = np.arange(n)[None, :]
    w = np.concatenate([np.cos(2 * np.pi * j * k / n), np.sin(2 * np.pi * j * k / n)])
    w /= np.linalg.norm(w, axis=0)
    np.testing.assert_allclose(w @ w.T, (n / m) * np.eye(m), atol=1e-12)
    g = w.T @ w
    mean_sq = (np.square(g).sum() - n) / (n * (n - 1))
    assert mean_sq == pytest.approx(tight_frame_overlap(n, m), abs=1e-12)
    # random unit vectors sit above the bound: E (W_i·W_j)² = 1/m
    r = torch.randn(m, 2000, generator=generator, dtype=torch.float64)
    r = (r / r.norm(dim=0)).numpy()
    gr = r.T @ r
    mean_r = (np.square(gr).sum() - 2000) / (2000 * 1999)
    assert mean_r == pytest.approx(1 / m, rel=0.02) and mean_r > tight_frame_overlap(2000, m)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(LmechError, match="n_features"):
        feature_frequencies(0, 1.2)
    with pytest.raises(LmechError, match="density"):
        feature_frequencies(10, 1.2, density=5.0)
    with pytest.raises(LmechError, match="widths"):
        weak_superposition_loss(11, feature_frequencies(10, 1.2))
    with pytest.raises(LmechError, match="two distinct widths"):
        width_exponent([4], [1.0])
