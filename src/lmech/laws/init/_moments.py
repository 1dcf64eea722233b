"""Ensemble moments of preactivations at initialisation, shared by the `init.*` laws.

Neurons of one network are not independent (they share the random kernel Ĝ of the layer
below), so every standard error treats a *network* as the unit of sampling: a
per-network average over neurons here, then an estimate over networks from
`lmech.measure.stats`.
"""

from __future__ import annotations

import numpy as np
import torch

from lmech.ensemble import generator, sample_preactivations
from lmech.measure.stats import Estimate, excess_kurtosis_estimate


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


def layer_kurtosis(zs: list[torch.Tensor]) -> Estimate:
    """Excess kurtosis of the first input's preactivation at each of the layers `zs` (each
    ``(M, n_inputs, n)``), over networks: value and error shape ``(len(zs),)``."""
    per_layer = [layer_moments(z.cpu()) for z in zs]
    return excess_kurtosis_estimate(np.stack([m["z4"] for m in per_layer], axis=1),
                                    np.stack([m["zz"] for m in per_layer], axis=1))


def sample(inputs, *, depth, width, activation, C_W, C_b, members, seed, family, device,
           layers=None) -> list[torch.Tensor]:
    """Preactivations of `members` networks of configuration `family` (an index distinct
    for every configuration of one law), drawn from the stream (seed, "init", family)."""
    return sample_preactivations(inputs, depth=depth, width=width, activation=activation,
                                 C_W=C_W, C_b=C_b, members=members,
                                 generator=generator(seed, "init", family),
                                 layers=layers, device=device)


def one_minus_correlation(aa, bb, d):
    """1 − ρ from the means of z_a², z_b² and (z_a − z_b)², without cancellation:
    1 − ρ = (E d − (√E aa − √E bb)²) / (2√(E aa E bb))."""
    return (d - (np.sqrt(aa) - np.sqrt(bb)) ** 2) / (2 * np.sqrt(aa * bb))
