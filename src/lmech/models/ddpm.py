"""A conditional denoising diffusion model (DDPM) with an MLP denoiser, for stacked ensembles.

Forward process q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I), ᾱ_t = Π_{s≤t} (1 − β_s), over T
steps of Ho et al.'s linear schedule (β from 10⁻⁴ to 0.02 over 1000 steps) rescaled to T.
The denoiser ε̂(x_t, c, t) is an MLP (`DenoiserConfig`: SiLU hidden layers) on
[x_t, the condition code c, t/T, sin(πkt/T), cos(πkt/T) for k = 1 … K], trained on the
ε-prediction loss ‖ε̂(√ᾱ_t x_0 + √(1 − ᾱ_t) ε, c, t) − ε‖². Sampling is ancestral:

    x_{t−1} = (x_t − β_t/√(1 − ᾱ_t) ε̂(x_t, c, t))/√α_t + σ_t z_t,
    σ_t² = β̃_t = β_t (1 − ᾱ_{t−1})/(1 − ᾱ_t)      (ᾱ_0 = 1, so σ_1 = 0).

Parameters are those of `MLPConfig` stacked on a member axis (``layers.{k}.weight``
``(M, n_{k+1}, n_k)``, ``layers.{k}.bias`` ``(M, n_{k+1})``), as `lmech.ensemble.init_ensemble`
makes them; `denoise` is their forward for `lmech.ensemble.train`.

Source: Ho, Jain & Abbeel, "Denoising diffusion probabilistic models", NeurIPS 2020
(arXiv:2006.11239), eq. 4 (forward marginal), eq. 7 (β̃_t), eq. 14 (ε-loss), Algorithm 2
(sampling), §4 (linear schedule); docs/theory/emergence.md (§The diffusion generator).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from lmech.errors import LmechError
from lmech.models.mlp import MLPConfig

__all__ = ["DenoiserConfig", "ancestral_sample", "denoise", "linear_betas", "noised",
           "time_features"]

Params = dict[str, torch.Tensor]
Denoiser = Callable[[torch.Tensor, int], torch.Tensor]
"""ε̂(x_t, t): ``(M, R, dim)`` and the diffusion time t in 1 … T -> ``(M, R, dim)``."""


@dataclass(frozen=True)
class DenoiserConfig:
    """An MLP denoiser of objects in R^dim, conditioned on a code of length `n_code`.

    Attributes:
        dim: object dimension.
        n_code: length of the condition code.
        width: width of every hidden layer.
        hidden_layers: number of SiLU hidden layers.
        frequencies: K, the sine and cosine features of the diffusion time.
    """

    dim: int
    n_code: int
    width: int
    hidden_layers: int = 2
    frequencies: int = 4

    @property
    def n_in(self) -> int:
        """dim + n_code + 2K + 1: the object, the code and the time features."""
        return self.dim + self.n_code + 2 * self.frequencies + 1

    def mlp(self) -> MLPConfig:
        """The denoiser's `MLPConfig` (for `init_ensemble`)."""
        return MLPConfig(self.n_in, self.width, self.hidden_layers, self.dim,
                         activation="silu").check()


def linear_betas(diffusion_steps: int) -> np.ndarray:
    """Ho et al.'s β_t, 10⁻⁴ … 0.02 over 1000 steps, rescaled to T steps: ``(T,)``, t = 1 … T.

    The rescaling keeps Σ_t β_t (≈ −ln ᾱ_T, the total noise) at Ho et al.'s 10.05; it needs
    T >= 25 so that β_T = 20/T stays below 1.

    Example:
        >>> linear_betas(50)[[0, -1]]
        array([0.002, 0.4  ])
    """
    if isinstance(diffusion_steps, bool) or not isinstance(diffusion_steps, int) or \
            diffusion_steps < 25:
        raise LmechError(f"diffusion_steps must be an integer >= 25 (β_T = 20/T < 1), got "
                         f"{diffusion_steps!r}")
    scale = 1000 / diffusion_steps
    return np.linspace(1e-4 * scale, 0.02 * scale, diffusion_steps)


def time_features(t: torch.Tensor, diffusion_steps: int, frequencies: int = 4) -> torch.Tensor:
    """t/T, sin(πkt/T), cos(πkt/T) for k = 1 … K: ``(…,)`` integers -> ``(…, 2K + 1)``."""
    s = (t.double() / diffusion_steps)[..., None]
    k = torch.arange(1, frequencies + 1, dtype=torch.float64)
    return torch.cat([s, torch.sin(math.pi * k * s), torch.cos(math.pi * k * s)], -1)


def noised(x0: torch.Tensor, eps: torch.Tensor, t_index: torch.Tensor,
           alpha_bar: torch.Tensor) -> torch.Tensor:
    """x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε, the forward marginal (Ho et al. eq. 4).

    Args:
        x0: ``(B, dim)`` or ``(M, B, dim)`` clean objects.
        eps: ``(M, B, dim)`` the noise ε.
        t_index: ``(M, B)`` the time t − 1 (0 … T − 1) of each row.
        alpha_bar: ``(T,)`` ᾱ_1 … ᾱ_T.
    """
    a = alpha_bar[t_index][..., None]  # (M, B, 1)
    return a.sqrt() * x0 + (1 - a).sqrt() * eps


def denoise(params: Params, inputs: torch.Tensor) -> torch.Tensor:
    """ε̂ of every member: ``(M, B, n_in)`` [x_t, code, time features] -> ``(M, B, dim)``."""
    layers = sum(1 for k in params if k.endswith(".weight"))
    h = inputs
    for k in range(layers):
        h = torch.baddbmm(params[f"layers.{k}.bias"][:, None], h,
                          params[f"layers.{k}.weight"].transpose(1, 2))
        if k < layers - 1:
            h = torch.nn.functional.silu(h)
    return h


def ancestral_sample(denoiser: Denoiser, x_T: torch.Tensor, z: torch.Tensor,
                     betas: np.ndarray) -> torch.Tensor:
    """DDPM ancestral sampling with reverse variance β̃_t, from x_T down to x_0.

    Args:
        denoiser: ε̂(x_t, t), t in 1 … T.
        x_T: ``(M, R, dim)`` the starting noise.
        z: ``(M, T, R, dim)`` the noise z_t of step t at index t − 1 (z_1 is not used).
        betas: ``(T,)`` β_1 … β_T.
    Returns:
        ``(M, R, dim)`` x_0.
    """
    alpha = 1 - betas
    alpha_bar = np.cumprod(alpha)
    alpha_bar_prev = np.concatenate([[1.0], alpha_bar[:-1]])
    sigma = np.sqrt(betas * (1 - alpha_bar_prev) / (1 - alpha_bar))
    x = x_T
    for t in range(len(betas), 0, -1):
        i = t - 1
        x = (x - betas[i] / math.sqrt(1 - alpha_bar[i]) * denoiser(x, t)) / math.sqrt(alpha[i])
        if t > 1:  # σ_1 = 0: the last step adds no noise
            x = x + sigma[i] * z[:, i]
    return x
