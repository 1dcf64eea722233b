"""The empirical neural tangent kernel of every member of a stacked MLP ensemble.

    Θ_αβ = Σ_μ ∂f(x_α)/∂θ_μ · ∂f(x_β)/∂θ_μ

summed over all parameters θ (weights and biases, plain gradient-descent metric: every
parameter with learning rate 1). For an MLP the sum splits layer by layer: with
z^k = W^k a^{k−1} + b^k and δ^k_α = ∂f(x_α)/∂z^k_α,

    Θ_αβ = Σ_k (δ^k_α · δ^k_β) (a^{k−1}_α · a^{k−1}_β + 1[bias]),

so one forward and one backward pass give every δ^k (f(x_α) depends on z^k only through
z^k_α) and the kernel costs O(B² n) per layer instead of a Jacobian of all parameters
(Jacot, Gabriel & Hongler, NeurIPS 2018, arXiv:1806.07572; Roberts, Yaida & Hanin, PDLT
arXiv:2106.10165, §7.2 and eq. 8.5 without its per-layer learning-rate factors).
"""

from __future__ import annotations

import torch

from lmech.ensemble import Ensemble
from lmech.errors import LmechError
from lmech.models import MLP

__all__ = ["empirical_ntk"]


def empirical_ntk(ensemble: Ensemble, x: torch.Tensor,
                  params: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Θ of every member on inputs `x`, shape ``(M, B, B)``.

    Args:
        ensemble: stacked members of an `MLP` template with one output.
        x: ``(B, n_in)`` shared, or ``(M, B, n_in)`` per member.
        params: stacked parameters to use instead of ``ensemble.params``.

    Raises:
        LmechError: the template is not an MLP with a single output.

    Example:
        >>> from lmech.ensemble import init_ensemble
        >>> from lmech.models import MLPConfig
        >>> ens = init_ensemble(MLPConfig(n_in=3, width=8, depth=2), members=2, seed=0)
        >>> empirical_ntk(ens, torch.randn(5, 3)).shape
        torch.Size([2, 5, 5])
    """
    net = ensemble.template
    if not isinstance(net, MLP) or net.config.n_out != 1:
        raise LmechError("empirical_ntk needs an ensemble of MLPs with n_out = 1, got "
                         f"{type(net).__name__}")
    ensemble.check_inputs(x)
    params = ensemble.params if params is None else params
    n = len(net.layers)
    with torch.enable_grad():
        a = x.detach()
        inputs, preacts = [], []
        for k in range(n):
            w = params[f"layers.{k}.weight"].detach()  # (M, n_{k+1}, n_k)
            b = params.get(f"layers.{k}.bias")
            inputs.append(a)
            z = torch.matmul(a, w.transpose(-1, -2))  # (M, B, n_{k+1})
            if b is not None:
                z = z + b.detach().unsqueeze(-2)
            z.requires_grad_(True)
            preacts.append(z)
            a = net.sigma(z) if k < n - 1 else z
        deltas = torch.autograd.grad(a.sum(), preacts)  # δ^k: (M, B, n_{k+1})
    theta = 0.0
    for k, (a_in, delta) in enumerate(zip(inputs, deltas, strict=True)):
        grams = a_in @ a_in.transpose(-1, -2)  # (M or 1, B, B)
        if f"layers.{k}.bias" in params:
            grams = grams + 1.0
        theta = theta + (delta @ delta.transpose(-1, -2)) * grams
    return theta.detach()
