"""Universal large-depth behaviour of the normalised four-point vertex, class by class.

The normalised vertex w^(l) ≡ V^(l)/K^(l)² (so κ = 3w/n at leading order;
docs/theory/init.md, §Four-point vertex) depends at criticality only on a few numbers of
the activation:

- scale-invariant class (σ = a₊z, a₋z): w^(l) = c (l − 1) exactly at leading order, with
  c = 3A₄/A₂² − 1 (ReLU 5, linear 2); dividing by c gives one curve, l − 1, for the class.
- K* = 0 class (odd σ, σ₁ = σ'(0), a₁ = σ₃/σ₁ < 0, C_W = 1/σ₁²): at small K the kernel
  map is K' = K + a₁K² + O(K³), χ∥ = 1 + 2a₁K + O(K²), and the vertex source
  C_W²[<σ⁴> − <σ²>²] = 2K²(1 + 4a₁K) + O(K⁴) (expanding σ = σ₁(z + a₁z³/6) + …; tanh:
  2K² − 16K³). In the variable K̃ = −a₁K the recursion is free of a₁:
      K̃' = K̃ − K̃²,   w' = [2(1 − 4K̃) + (1 − 2K̃)² w] / (1 − K̃)²,   w¹ = 0,
  so every member started at the same K̃¹ shares one curve w(l), which tends to (2/3)l
  (the normalised vertex of the K* = 0 class grows as 2l/3 whatever a₁; PDLT §5.4.2).
  Members differ only through the higher orders in K̃ dropped here (σ₅ and beyond),
  which vanish as K̃¹ → 0.

Source: Roberts, Yaida & Hanin, *The Principles of Deep Learning Theory*
(arXiv:2106.10165), §5.3–5.4; docs/theory/init.md.
"""

from __future__ import annotations

import numpy as np

from lmech.errors import LmechError

__all__ = ["k_star_zero_universal_vertex", "scale_invariant_universal_vertex"]


def k_star_zero_universal_vertex(depth: int, K_tilde1: float) -> np.ndarray:
    """w^(1) … w^(L) = V/K² of the universal K* = 0 map started at K̃¹ = −a₁K¹ (0 < K̃¹ < 1).

    Example:
        >>> w = k_star_zero_universal_vertex(20_000, 0.01)
        >>> round(float(w[-1] / 20_000), 2)  # → 2/3 at large depth
        0.67
    """
    if not 0 < K_tilde1 < 1:
        raise LmechError(f"K_tilde1 = −a₁K¹ must be in (0, 1), got {K_tilde1!r}")
    if isinstance(depth, bool) or int(depth) != depth or depth < 1:
        raise LmechError(f"depth must be an integer >= 1, got {depth!r}")
    w = np.zeros(int(depth))
    k = K_tilde1
    for layer in range(1, int(depth)):
        w[layer] = (2 * (1 - 4 * k) + (1 - 2 * k) ** 2 * w[layer - 1]) / (1 - k) ** 2
        k = k - k * k
    return w


def scale_invariant_universal_vertex(depth: int) -> np.ndarray:
    """w^(l)/c = l − 1 for the scale-invariant class (leading order), shape ``(depth,)``."""
    if isinstance(depth, bool) or int(depth) != depth or depth < 1:
        raise LmechError(f"depth must be an integer >= 1, got {depth!r}")
    return np.arange(int(depth), dtype=np.float64)
