"""Ensemble moments of preactivations at initialisation, shared by the `init.*` laws.

Neurons of one network are not independent (they share the random kernel Ĝ of the layer
below), so every standard error here treats a *network* as the unit of sampling: a
per-network average over neurons, then the mean and its standard error over networks.
"""

from __future__ import annotations

import numpy as np
import torch

from lmech.ensemble import sample_preactivations


def pair_inputs(q: float, rho: float, n0: int = 2) -> torch.Tensor:
    """Two inputs with x·x/n₀ = q and x_a·x_b/n₀ = qρ, shape ``(2, n0)`` (float32)."""
    x = np.zeros((2, n0))
    x[0, 0] = np.sqrt(q * n0)
    x[1, 0] = rho * np.sqrt(q * n0)
    x[1, 1] = np.sqrt((1 - rho * rho) * q * n0)
    return torch.tensor(x, dtype=torch.float32)


def layer_moments(z: torch.Tensor) -> dict[str, np.ndarray]:
    """Per-network neuron averages of one layer ``(M, n_inputs, n)``: z_a², z_a z_b
    (first two inputs) and z_a⁴, each shape ``(M,)`` float64."""
    z = z.double()
    out = {"zz": (z[:, 0] ** 2).mean(-1).numpy(), "z4": (z[:, 0] ** 4).mean(-1).numpy()}
    if z.shape[1] > 1:
        out["zw"] = (z[:, 0] * z[:, 1]).mean(-1).numpy()
    return out


def mean_and_stderr(per_network: np.ndarray) -> tuple[float, float]:
    """Mean over networks and its standard error."""
    m = per_network.shape[0]
    return float(per_network.mean()), float(per_network.std(ddof=1) / np.sqrt(m))


def kurtosis_and_stderr(z4: np.ndarray, zz: np.ndarray) -> tuple[float, float]:
    """κ = E z⁴/(E z²)² − 3 from per-network averages, with its delta-method standard error
    (the ratio's gradient applied to the covariance of the two network means)."""
    m = z4.shape[0]
    a, b = z4.mean(), zz.mean()
    kappa = a / b**2 - 3
    grad = np.array([1 / b**2, -2 * a / b**3])
    cov = np.cov(np.stack([z4, zz])) / m
    return float(kappa), float(np.sqrt(grad @ cov @ grad))


def sample(inputs, *, depth, width, activation, C_W, C_b, members, seed, device,
           layers=None) -> list[torch.Tensor]:
    """Preactivations of `members` networks (the `lmech.ensemble` sampler, direct method)."""
    gen = torch.Generator().manual_seed(seed)
    return sample_preactivations(inputs, depth=depth, width=width, activation=activation,
                                 C_W=C_W, C_b=C_b, members=members, generator=gen,
                                 layers=layers, device=device)


def grouped_jackknife(statistic, per_network: list[np.ndarray], groups: int = 40):
    """A statistic of network means and its grouped-jackknife standard error.

    `statistic` maps the list of means of `per_network` arrays (each ``(M,)``) to a float;
    networks are split into `groups` contiguous groups, each left out in turn.
    """
    m = per_network[0].shape[0]
    full = statistic([a.mean() for a in per_network])
    bounds = np.linspace(0, m, groups + 1).astype(int)
    sums = [a.sum() for a in per_network]
    loo = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        loo.append(statistic([(s - a[lo:hi].sum()) / (m - (hi - lo))
                              for s, a in zip(sums, per_network, strict=True)]))
    loo = np.asarray(loo)
    return float(full), float(np.sqrt((groups - 1) / groups * ((loo - loo.mean()) ** 2).sum()))


def one_minus_correlation(means: list[float]) -> float:
    """1 − ρ from the means of z_a², z_b² and (z_a − z_b)², without cancellation:
    1 − ρ = (E d − (√E aa − √E bb)²) / (2√(E aa E bb))."""
    aa, bb, d = means
    return (d - (np.sqrt(aa) - np.sqrt(bb)) ** 2) / (2 * np.sqrt(aa * bb))
