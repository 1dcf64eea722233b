"""The quantization model of neural scaling: loss exponents from a Zipf law over quanta.

Quanta (skills) k = 1, 2, … are used with frequencies p_k = k^{−(α+1)}/ζ(α+1). A model
that has learned the n most frequent quanta, each unlearned one costing b, has

    L(n) − L_∞ = b Σ_{k>n} p_k = b ζ(α+1, n+1)/ζ(α+1) ≈ b n^{−α}/(α ζ(α+1)).

With n ∝ N parameters, L − L_∞ ∝ N^{−α_N}, α_N = α; a quantum is learned once seen ≈ τ
times, so with D samples (or steps at fixed batch) n ∝ D^{1/(α+1)} and
α_D = α/(α+1) = α_N/(α_N + 1).

Convention pitfall: the official code's `alpha` is the Zipf exponent α + 1 itself. Here
`zipf_exponent` is that exponent (p_k ∝ k^{−zipf_exponent}) and α = zipf_exponent − 1.

Source: Michaud, Liu, Girit & Tegmark, "The quantization model of neural scaling",
NeurIPS 2023 (arXiv:2303.13506) §3, eqs. 1–4; docs/theory/scaling.md.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from lmech.errors import LmechError

__all__ = [
    "quanta_data_exponent",
    "quanta_frequencies",
    "quanta_loss",
    "quanta_parameter_exponent",
]


def _alpha(zipf_exponent: float) -> float:
    if not zipf_exponent > 1:
        raise LmechError(f"zipf_exponent must be > 1 (α = zipf_exponent − 1 > 0), got "
                         f"{zipf_exponent}")
    return float(zipf_exponent) - 1.0


def quanta_frequencies(n_quanta: int, zipf_exponent: float) -> np.ndarray:
    """p_k = k^{−zipf_exponent}/Σ_j j^{−zipf_exponent}, k = 1..n_quanta, shape ``(n,)``."""
    _alpha(zipf_exponent)
    if n_quanta < 1:
        raise LmechError(f"n_quanta must be >= 1, got {n_quanta}")
    w = np.arange(1, n_quanta + 1, dtype=np.float64) ** -float(zipf_exponent)
    return w / w.sum()


def quanta_loss(n_learned, zipf_exponent: float, loss_per_quantum: float = np.log(2),
                n_quanta: int | None = None) -> np.ndarray:
    """L(n) − L_∞ = b Σ_{k>n} p_k with the n most frequent quanta learned.

    Infinite Zipf law (n_quanta None): b ζ(α+1, n+1)/ζ(α+1) (Hurwitz zeta); otherwise the
    truncated, renormalised law of `n_quanta` quanta.

    Example:
        >>> round(float(quanta_loss(10, 1.4, loss_per_quantum=1.0)), 5)
        0.31422
    """
    s = _alpha(zipf_exponent) + 1
    n = np.asarray(n_learned, dtype=np.float64)
    if n_quanta is None:
        return loss_per_quantum * special.zeta(s, n + 1) / special.zeta(s)
    p = quanta_frequencies(n_quanta, s)
    tail = np.concatenate([[1.0], 1 - np.cumsum(p)])  # tail[k] = Σ_{j>k} p_j
    return loss_per_quantum * np.clip(tail[np.clip(n.astype(int), 0, n_quanta)], 0, None)


def quanta_parameter_exponent(zipf_exponent: float) -> float:
    """α_N = α = zipf_exponent − 1: L − L_∞ ∝ N^{−α_N} when n ∝ N."""
    return _alpha(zipf_exponent)


def quanta_data_exponent(zipf_exponent: float) -> float:
    """α_D = α/(α + 1): L − L_∞ ∝ D^{−α_D} (data, or steps at fixed batch size)."""
    a = _alpha(zipf_exponent)
    return a / (a + 1)
