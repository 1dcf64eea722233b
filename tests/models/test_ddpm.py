"""The DDPM pieces: schedule, forward marginal, sampler against closed forms, stacked forward."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmech.ensemble import init_ensemble
from lmech.errors import LmechError
from lmech.models import MLP
from lmech.models.ddpm import (
    DenoiserConfig,
    ancestral_sample,
    denoise,
    linear_betas,
    noised,
    time_features,
)


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
    with pytest.raises(LmechError, match="diffusion_steps"):
        linear_betas(20)


def test_noised_is_the_forward_marginal(generator) -> None:
    """x_t = √ᾱ_t x0 + √(1 − ᾱ_t) ε, row by row with each row's own t."""
    alpha_bar = torch.tensor(np.cumprod(1 - linear_betas(30)))
    x0 = torch.randn(4, 3, dtype=torch.float64, generator=generator)
    eps = torch.randn(2, 4, 3, dtype=torch.float64, generator=generator)
    t = torch.randint(0, 30, (2, 4), generator=generator)
    out = noised(x0, eps, t, alpha_bar)
    for m in range(2):
        for b in range(4):
            a = alpha_bar[t[m, b]]
            torch.testing.assert_close(out[m, b], a.sqrt() * x0[b] + (1 - a).sqrt() * eps[m, b])


def test_time_features_are_the_sine_cosine_code() -> None:
    f = time_features(torch.tensor([0, 5, 10]), 10, frequencies=2)
    assert f.shape == (3, 5)
    np.testing.assert_allclose(f[:, 0], [0, 0.5, 1])
    np.testing.assert_allclose(f[1, 1:], [np.sin(np.pi / 2), np.sin(np.pi),
                                          np.cos(np.pi / 2), np.cos(np.pi)], atol=1e-15)


def test_stacked_denoiser_is_each_members_mlp(generator) -> None:
    """The stacked forward equals member-by-member `MLP` modules with the same weights."""
    config = DenoiserConfig(dim=4, n_code=6, width=8)
    ensemble = init_ensemble(config.mlp(), members=3, seed=5, C_b=0.1, dtype=torch.float64)
    x = torch.randn(3, 7, config.n_in, dtype=torch.float64, generator=generator)
    out = denoise(ensemble.params, x)
    for m in range(3):
        net = MLP(config.mlp()).double()
        net.load_state_dict({k: v[m] for k, v in ensemble.params.items()})
        torch.testing.assert_close(out[m], net(x[m]))
