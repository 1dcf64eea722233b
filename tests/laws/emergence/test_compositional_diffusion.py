"""emergence.compositional_diffusion: the sampler against closed forms, the dip, the verdict."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from lmech.errors import LmechError
from lmech.laws import get_law
from lmech.laws.emergence._product_rule import COMPOSITION, DELAY, single_concept_curves
from lmech.laws.emergence.compositional_diffusion import (
    ancestral_sample,
    concept_accuracies,
    linear_betas,
    rise_start,
)
from lmech.testing import SEED

LAW = get_law("emergence.compositional_diffusion")


def _point_mass_eps(x0: torch.Tensor, betas: np.ndarray):
    """The exact ε̂ for data at x0: ε̂(x_t, t) = (x_t − √ᾱ_t x0)/√(1 − ᾱ_t)."""
    alpha_bar = np.cumprod(1 - betas)

    def eps_hat(x: torch.Tensor, t: int) -> torch.Tensor:
        a = alpha_bar[t - 1]
        return (x - np.sqrt(a) * x0) / np.sqrt(1 - a)

    return eps_hat


def test_sampler_returns_the_point_mass(generator) -> None:
    betas = linear_betas(50)
    x0 = torch.randn(3, dtype=torch.float64, generator=generator)
    x_T = torch.randn(2, 5, 3, dtype=torch.float64, generator=generator)
    z = torch.randn(2, 50, 5, 3, dtype=torch.float64, generator=generator)
    x = ancestral_sample(_point_mass_eps(x0, betas), x_T, z, betas)
    np.testing.assert_allclose(x.numpy(), np.broadcast_to(x0.numpy(), x.shape), atol=1e-12)


def test_sampler_keeps_the_forward_marginals(generator) -> None:
    """With the exact ε̂ of a point mass, q(x_{t−1} | x_t) is the sampler's Gaussian (mean μ̃,
    variance β̃_t), so a chain started in q(x_T | x0) visits x_t ~ N(√ᾱ_t x0, (1 − ᾱ_t))."""
    big_t, n = 50, 40_000
    betas = linear_betas(big_t)
    alpha_bar = np.cumprod(1 - betas)
    x0 = torch.tensor([0.7], dtype=torch.float64)
    exact = _point_mass_eps(x0, betas)
    seen = {}

    def eps_hat(x: torch.Tensor, t: int) -> torch.Tensor:
        seen[t] = x.flatten().numpy().copy()
        return exact(x, t)

    x_T = (np.sqrt(alpha_bar[-1]) * x0
           + np.sqrt(1 - alpha_bar[-1]) * torch.randn(1, n, 1, dtype=torch.float64,
                                                     generator=generator))
    z = torch.randn(1, big_t, n, 1, dtype=torch.float64, generator=generator)
    ancestral_sample(eps_hat, x_T, z, betas)
    for t in range(1, big_t + 1):
        mean, var = np.sqrt(alpha_bar[t - 1]) * 0.7, 1 - alpha_bar[t - 1]
        # 5 standard errors of a mean and a variance of n Gaussian draws: 50 checks of each
        # pass together with probability > 0.9999 when the chain is right
        assert abs(seen[t].mean() - mean) < 5 * np.sqrt(var / n), t
        assert abs(seen[t].var() - var) < 5 * var * np.sqrt(2 / n), t


def test_linear_schedule_is_ho_et_al_rescaled() -> None:
    """Ho et al.'s endpoints at T = 1000; at any T the same Σ_t β_t = 1000 · (10⁻⁴ + 0.02)/2."""
    np.testing.assert_allclose(linear_betas(1000)[[0, -1]], [1e-4, 0.02], rtol=1e-12)
    for big_t in (25, 50, 200):
        assert linear_betas(big_t).size == big_t
        np.testing.assert_allclose(linear_betas(big_t).sum(), 10.05, rtol=1e-12)


CLASSES = np.array([c for c in itertools.product([0, 1], repeat=3) if sum(c) >= 2])


def _curves_to_concepts(u2: np.ndarray, u3: np.ndarray, members: int = 3) -> np.ndarray:
    """Accuracies ``(M, R, C, 3)`` with every concept of an m-concept class at ū_m."""
    size = CLASSES.sum(1)
    per_class = np.where(size[None, :] == 2, u2[:, None], u3[:, None])  # (R, C)
    return np.broadcast_to(per_class[None, :, :, None],
                           (members, len(u2), len(CLASSES), 3)).copy()


def test_dip_is_the_minimum_of_the_mean_over_orders() -> None:
    """ū_2 is lowest at record 1 and ū_3 at record 3; their mean is lowest at record 2."""
    u2 = np.array([0.50, 0.30, 0.32, 0.45, 0.70, 0.90])
    u3 = np.array([0.50, 0.48, 0.40, 0.35, 0.60, 0.85])
    ubar = single_concept_curves(_curves_to_concepts(u2, u3), CLASSES)
    np.testing.assert_allclose(ubar, [u2, u3], rtol=1e-12)
    assert rise_start(ubar) == 2


def test_no_dip_starts_at_the_first_record() -> None:
    u = np.linspace(0.4, 0.9, 8)
    assert rise_start(single_concept_curves(_curves_to_concepts(u, u), CLASSES)) == 0


def test_members_do_not_depend_on_the_ensemble_size() -> None:
    small = LAW.parameters("smoke", {"n_members": 4, "steps": 60, "records": 4,
                                     "first_record": 10})
    large = small.model_copy(update={"n_members": 6})
    a, b = concept_accuracies(small, 3), concept_accuracies(large, 3)
    np.testing.assert_array_equal(a[0], b[0][:4])
    np.testing.assert_array_equal(a[1], b[1][:4])
    np.testing.assert_array_equal(a[3], b[3])


@pytest.fixture(scope="module")
def smoke(law_run):
    return law_run(LAW, SEED)


def test_smoke_is_near_the_product_and_far_from_the_foil(smoke) -> None:
    """Not a verdict (the quick budget REFUTES u^m by up to 1.8 points): the sizes only."""
    _, prediction, measurement, foil, _ = smoke
    z_foil = np.abs(measurement.y - foil.y) / measurement.stderr
    gap = np.abs(measurement.y - prediction.y)
    on = measurement.panel == COMPOSITION
    # u − u^m >= 0.9 − 0.81 = 0.09 at the smoke levels: a gap under 0.04 is nearer the
    # product than the foil at every point
    assert gap[on].max() < 0.04 and z_foil[on].min() > 20
    on = measurement.panel == DELAY  # 16 members: delay fractions to ±0.01–0.07
    assert gap[on].max() < 0.2 and z_foil[on].min() > 5


def test_parameters_are_checked() -> None:
    with pytest.raises(LmechError, match="dim must be"):
        LAW.parameters("smoke", {"n_concepts": 5, "dim": 4})
    with pytest.raises(LmechError, match="levels"):
        LAW.parameters("smoke", {"levels": (0.8, 0.6)})
    with pytest.raises(LmechError, match="delay_levels"):
        LAW.parameters("smoke", {"delay_levels": (0.5, 1.0)})
    with pytest.raises(LmechError, match="first_record"):
        LAW.parameters("smoke", {"first_record": 5000})
    with pytest.raises(LmechError, match="diffusion_steps"):
        LAW.parameters("smoke", {"diffusion_steps": 20})


def test_levels_under_the_chance_floor_are_refused() -> None:
    params = LAW.parameters("smoke", {"levels": (0.3, 0.9)})
    with pytest.raises(LmechError, match="levels must exceed"):
        LAW.measure(params, 0)


def test_too_short_training_says_so() -> None:
    params = LAW.parameters("smoke", {"steps": 100, "records": 6})
    with pytest.raises(LmechError, match="increase steps"):
        LAW.measure(params, 0)
