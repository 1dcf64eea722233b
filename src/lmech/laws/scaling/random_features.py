"""scaling.random_features — random-feature regression's loss L(N, P) is the solvable model's.

Experiment. Latent inputs x ~ N(0, Λ) in M = `latent_dim` dimensions with a power-law
spectrum λ_i = i^(−(1+α)), a linear teacher y = w·x (w ~ N(0, I)), N random features
z = Fx (F iid Gaussian) and P samples; the student is the minimum-norm least-squares fit
(no ridge). Each draw takes one F with `max(sizes)` rows and one sample of `max(sizes)`
points and fits every (N, P) ≠ (P, P) of the grid `sizes` × `sizes` on their leading
rows; its test loss, averaged over the teacher in closed form, is
tr Λ − 2 tr(A XΛFᵀ) + tr(A XXᵀ Aᵀ FΛFᵀ) with A the fit's linear map. Each point is the
mean over `draws` draws (the units).

Prediction: the closed form of the solvable model (docs/theory/scaling.md, §Random
features; `lmech.theory.random_feature_test_error`): symmetric in N and P, the same power
law in each, divergent at N = P.

Foil: the additive Chinchilla surface E + A/N^a + B/P^b (`lmech.measure.additive_fit`),
fitted by summed Huber loss to the prediction's values at the points with N·P ≤
`holdout_product` (panel "fitted", drawn but not judged against the foil) and judged out of
sample at the larger ones (panel "held out"). Fitting to the prediction rather than to one
seed's measurement keeps the foil fixed; the measured fitted points agree with the
prediction within the tolerance, so the two fits differ by less than the noise.

Tolerance: the closed form is the leading order of large N, P, M; its corrections are of
relative order 1/min(N, P). Declared from a pilot: a relative band of 3.2/min(N, P), twice
the pilot's largest deviation on that scale (the measured loss sat above the prediction by
up to 1.6/min(N, P): 10 % at min(N, P) = 16, under 1 % from 128 on).

Source: A. Maloney, D. A. Roberts & J. Sully, "A solvable model of neural scaling laws"
(arXiv:2210.16859), §4; J. Hoffmann et al. (arXiv:2203.15556), §3.3 for the foil.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from pydantic import Field, model_validator

from lmech.ensemble import generator
from lmech.laws import (
    AbstractLaw,
    Curve,
    LawParams,
    Panel,
    Pillar,
    Progress,
    Series,
    ToleranceBasis,
)
from lmech.laws._threads import single_thread
from lmech.measure.additive_fit import fit_additive_power_law
from lmech.measure.stats import mean_estimate
from lmech.theory import random_feature_test_error

FITTED = "fitted"
HELD_OUT = "held out"
PILOT_SEEDS = (1_000_001, 1_000_002, 1_000_003)
FINITE_SIZE = 3.2  # the relative tolerance is FINITE_SIZE/min(N, P)


class RandomFeaturesParams(LawParams):
    data_exponent: float = Field(1.0, gt=0, le=4, description="α: λ_i = i^(−(1+α))")
    latent_dim: int = Field(2048, ge=16, le=20_000, description="latent dimension M")
    sizes: tuple[int, ...] = Field((16, 32, 64, 128, 256, 512), min_length=3,
                                   description="the grid of N and of P, increasing")
    draws: int = Field(64, ge=2, le=10_000, description="draws of features and samples")
    holdout_product: int = Field(8192, ge=1, description="points with N·P above this are "
                                 "held out of the foil's fit")

    @model_validator(mode="after")
    def _consistent(self) -> RandomFeaturesParams:
        s = self.sizes
        if min(s) < 2 or any(b <= a for a, b in zip(s, s[1:], strict=False)):
            raise ValueError(f"sizes must be >= 2 and increasing, got {s}")
        if 4 * s[-1] > self.latent_dim:
            raise ValueError(f"latent_dim must be >= 4 · max(sizes) = {4 * s[-1]}, so that "
                             "the spectrum extends well past every N and P")
        fitted = sum(1 for n, p in _grid(s) if n * p <= self.holdout_product)
        if fitted < 5 or fitted == len(_grid(s)):
            raise ValueError(f"holdout_product must leave >= 5 points to fit the foil's five "
                             f"parameters and hold out at least one, got {fitted} fitted of "
                             f"{len(_grid(s))}")
        return self


class RandomFeatures(AbstractLaw):
    claim = ("Ridgeless linear random-feature regression on power-law data has the solvable "
             "model's test loss L(N, P): the same power law in features and samples and a peak "
             "at N = P, which an additive Chinchilla fit cannot extrapolate.")
    source = ("Maloney, Roberts & Sully, 'A solvable model of neural scaling laws' "
              "(arXiv:2210.16859), §4")
    pillar = Pillar.SOLVABLE
    tolerance_basis = ToleranceBasis.pilot(
        seeds=PILOT_SEEDS,
        measured="quick budget with 48 draws, 3 seeds: every point above the prediction by "
                 "at most 1.6/min(N, P) relative (+10 % at N = 16, P = 32; +0.2-0.6 % at "
                 "min(N, P) = 256), standard errors 0.2-0.3/min(N, P)",
        why="the closed form's finite-size corrections, of relative order 1/min(N, P)")
    Params = RandomFeaturesParams
    budgets = {
        "smoke": dict(latent_dim=256, sizes=(8, 16, 32, 64), draws=32, holdout_product=512),
        "quick": {},
        "full": dict(latent_dim=4096, sizes=(16, 32, 64, 128, 256, 512, 1024), draws=128,
                     holdout_product=16_384),
    }
    panels = (
        Panel(FITTED, xlabel="random features N", ylabel="test loss", xscale="log",
              yscale="log", no_foil="the points the additive foil is fitted to"),
        Panel(HELD_OUT, xlabel="random features N", ylabel="test loss", xscale="log",
              yscale="log"),
    )

    def predict(self, params: RandomFeaturesParams) -> Series:
        return _series(params, _prediction(params))

    def foil(self, params: RandomFeaturesParams) -> Series:
        points = _grid(params.sizes)
        n, p = np.array(points, dtype=np.float64).T
        fitted = n * p <= params.holdout_product
        surface = fit_additive_power_law(n[fitted], p[fitted], _prediction(params)[fitted])
        return _series(params, surface(n, p))

    def tolerance(self, params: RandomFeaturesParams, prediction: Series) -> np.ndarray:
        smaller = np.array([min(n, p) for n, p in _grid(params.sizes)], dtype=np.float64)
        order = _order(params, prediction)
        return np.abs(prediction.y) * FINITE_SIZE / smaller[order]

    def measure(self, params: RandomFeaturesParams, seed: int, *, device: str = "cpu",
                progress: Progress = lambda f: None) -> Series:
        lam = torch.from_numpy(_spectrum(params)).to(device)
        losses = []
        with single_thread():
            for r in range(params.draws):
                losses.append(_draw_losses(lam, params.sizes, seed, r))
                progress((r + 1) / params.draws)
        est = mean_estimate(np.stack(losses))  # over draws, one value per grid point
        return _series(params, est.value, est.stderr, est.units)


def _grid(sizes: tuple[int, ...]) -> list[tuple[int, int]]:
    """The (N, P) points of the grid off the diagonal, N-major."""
    return [(n, p) for n in sizes for p in sizes if n != p]


def _spectrum(params: RandomFeaturesParams) -> np.ndarray:
    return np.arange(1, params.latent_dim + 1, dtype=np.float64) ** -(1 + params.data_exponent)


@functools.lru_cache(maxsize=8)
def _prediction(params: RandomFeaturesParams) -> np.ndarray:
    n, p = np.array(_grid(params.sizes), dtype=np.float64).T
    return random_feature_test_error(_spectrum(params), n, p)


def _order(params: RandomFeaturesParams, series: Series) -> np.ndarray:
    """Index into `_grid` of each point of `series` (curves regroup the grid by P)."""
    where = {(n, p): i for i, (n, p) in enumerate(_grid(params.sizes))}
    return np.array([where[(int(round(x)), int(c.split("=")[1]))]
                     for x, c in zip(series.x, series.curve, strict=True)])


def _series(params: RandomFeaturesParams, y, stderr=None, units=None) -> Series:
    """Points of the grid as curves of L against N, one per P, on the panel of its fit."""
    points = _grid(params.sizes)
    y = np.asarray(y, dtype=np.float64)
    se = None if stderr is None else np.asarray(stderr, dtype=np.float64)
    curves = []
    for panel in (FITTED, HELD_OUT):
        for p in params.sizes:
            idx = [i for i, (n, q) in enumerate(points)
                   if q == p and (n * q <= params.holdout_product) == (panel == FITTED)]
            if idx:
                curves.append(Curve(panel, f"P={p}", [points[i][0] for i in idx], y[idx],
                                    None if se is None else se[idx], units))
    return Series.from_curves(curves)


def _draw_losses(lam: torch.Tensor, sizes: tuple[int, ...], seed: int, r: int) -> np.ndarray:
    """Draw r: the teacher-averaged test loss at every grid point, in `_grid` order.

    F (features, purpose "init") and X (samples, "data") have max(sizes) rows; point
    (N, P) uses the leading N rows of F scaled by 1/√N and the leading P rows of X.
    """
    s, m, dev = sizes[-1], lam.numel(), lam.device
    f = torch.randn(s, m, generator=generator(seed, "init", r), dtype=torch.float64).to(dev)
    x = torch.randn(s, m, generator=generator(seed, "data", r), dtype=torch.float64).to(dev)
    x = x * lam.sqrt()
    xf, xlf = x @ f.T, (x * lam) @ f.T  # (P, N) each
    flf, xx = (f * lam) @ f.T, x @ x.T  # (N, N), (P, P)
    return np.array([float(lam.sum()) - 2 * t1 + t2 for t1, t2 in
                     (_traces(xf, xlf, flf, xx, n, p) for n, p in _grid(sizes))])


def _traces(xf, xlf, flf, xx, n: int, p: int) -> tuple[float, float]:
    """tr(A C) and tr(A K Aᵀ Σ) for the minimum-norm map A of Z = X_P F_Nᵀ/√N, with
    C = X_P Λ F_Nᵀ/√N, K = X_P X_Pᵀ and Σ = F_N Λ F_Nᵀ/N."""
    solve = torch.linalg.solve
    z, c = xf[:p, :n] / math.sqrt(n), xlf[:p, :n] / math.sqrt(n)
    sigma, k = flf[:n, :n] / n, xx[:p, :p]
    if p < n:  # A = Zᵀ(ZZᵀ)⁻¹
        gram = z @ z.T
        t1 = torch.trace(solve(gram, c @ z.T))
        t2 = torch.sum(solve(gram, z @ sigma @ z.T) * solve(gram, k).T)
    else:  # A = (ZᵀZ)⁻¹Zᵀ
        gram = z.T @ z
        t1 = torch.trace(solve(gram, z.T @ c))
        t2 = torch.sum(solve(gram, z.T @ k @ z) * solve(gram, sigma).T)
    return float(t1), float(t2)
