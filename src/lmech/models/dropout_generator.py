"""A one-hidden-layer generator with dropout on its hidden units, for stacked ensembles.

    f(c; ζ) = W² (ζ ⊙ tanh(W¹ c + b¹)) + b²,      ζ_k = [ξ_k < 1 − p]/(1 − p),  ξ_k ~ U[0, 1),

inverted dropout at rate p (E ζ = 1). It generates as it is trained: a fresh mask ζ per
object, so every coordinate of one object sees the same dropped hidden units.

Parameters are those of ``MLPConfig(n_in, width, 1, n_out, activation="tanh")`` stacked on
a member axis (``layers.{k}.weight`` ``(M, n_{k+1}, n_k)``, ``layers.{k}.bias``
``(M, n_{k+1})``), as `lmech.ensemble.init_ensemble` makes them; `dropout_generator` is
their forward for `lmech.ensemble.train`.

Source: Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov, "Dropout: a simple way
to prevent neural networks from overfitting", JMLR 15 (2014), eqs. 1–2 (the inverted
scaling at training time is the common implementation's); docs/theory/emergence.md.
"""

from __future__ import annotations

import torch

__all__ = ["dropout_generator", "inverted_dropout"]

Params = dict[str, torch.Tensor]


def inverted_dropout(uniform: torch.Tensor, rate: float) -> torch.Tensor:
    """The mask ζ = [ξ < 1 − p]/(1 − p) from uniforms ξ on [0, 1), same shape and dtype.

    Example:
        >>> inverted_dropout(torch.tensor([0.1, 0.95]), 0.1)
        tensor([1.1111, 0.0000])
    """
    keep = 1 - rate
    return (uniform < keep).to(uniform.dtype) / keep


def dropout_generator(params: Params, codes: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """f(c; ζ) of every member.

    Args:
        params: the stacked one-hidden-layer tanh MLP.
        codes: ``(B, n_in)`` shared, or ``(M, B, n_in)`` per member.
        mask: ``(M, B, width)`` the dropout masks ζ.
    Returns:
        ``(M, B, n_out)``.
    """
    w1, b1 = params["layers.0.weight"], params["layers.0.bias"]
    w2, b2 = params["layers.1.weight"], params["layers.1.bias"]
    h = torch.tanh(codes @ w1.transpose(1, 2) + b1[:, None])  # (M, B, width)
    return (h * mask) @ w2.transpose(1, 2) + b2[:, None]
