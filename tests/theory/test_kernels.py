"""Kernel and NTK recursions: closed forms, reference values, code paths, a finite network."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lmech.errors import LmechError
from lmech.theory import (
    kernel_recursion,
    kernel_recursion_gram,
    nngp_kernel,
    ntk_kernel,
    ntk_recursion,
)


def test_scale_invariant_and_linear_limits() -> None:
    np.testing.assert_allclose(kernel_recursion("relu", 6, 2.0, 0.0, 0.37), 0.37, rtol=1e-15)
    # linear: K^(l+1) = C_b + C_W K^(l)
    got = kernel_recursion("linear", 4, 0.5, 0.1, 1.0)
    np.testing.assert_allclose(got, [1.0, 0.6, 0.4, 0.3], rtol=1e-14)


def test_tanh_critical_kernel_matches_theory_table() -> None:
    """docs/theory/init.md, §Reference values: tanh, C_W = 1, C_b = 0, K¹ = 1, l = 10, 100, 1000."""
    K = kernel_recursion("tanh", 1000, 1.0, 0.0, 1.0)
    np.testing.assert_allclose(K[[9, 99, 999]], [0.0580118, 0.00512072, 5.01667e-4], rtol=2e-6)


def test_gram_variant_agrees_with_single_input_and_nngp_kernel(rng) -> None:
    x = rng.normal(size=(5, 3))
    for act, cw, cb in [("relu", 2.0, 0.0), ("tanh", 1.5, 0.2), ("erf", 1.0, 0.1)]:
        K1 = cb + cw * x @ x.T / 3
        gram = kernel_recursion_gram(act, 6, cw, cb, K1)
        for i in range(5):
            # 2-D vs 1-D quadrature for tanh: both accurate to ~1e-11
            np.testing.assert_allclose(gram[:, i, i], kernel_recursion(act, 6, cw, cb, K1[i, i]),
                                       rtol=1e-10)
        fast = nngp_kernel(x, depth=6, activation=act, C_W=cw, C_b=cb)
        np.testing.assert_allclose(fast, gram[-1], rtol=1e-10, atol=1e-14)
        cross = nngp_kernel(x[:2], x[2:], depth=6, activation=act, C_W=cw, C_b=cb)
        np.testing.assert_allclose(cross, gram[-1][:2, 2:], rtol=1e-10, atol=1e-14)


def test_float32_relu_gram_agrees_with_float64(rng) -> None:
    x = rng.normal(size=(200, 32))
    k64 = nngp_kernel(x, depth=10)
    k32 = nngp_kernel(x, depth=10, dtype=np.float32)
    assert np.abs(k32 - k64).max() < 1e-5


def test_ntk_single_input_matches_gram_diagonal_and_relu_linear_growth(rng) -> None:
    x = rng.normal(size=(4, 6))
    th = ntk_kernel(x, depth=5, activation="tanh", C_W=1.5, C_b=0.2)
    for i in range(4):
        q = float(x[i] @ x[i] / 6)
        single = ntk_recursion("tanh", 5, 1.5, 0.2, 0.2 + 1.5 * q, 1.0 + q)
        assert th[i, i] == pytest.approx(single[-1], rel=1e-10)
    # ReLU at criticality, C_b = 0, λ_b = 0: Θ^(l) = l·λ_W K (linear growth, PDLT §9)
    got = ntk_recursion("relu", 5, 2.0, 0.0, 2.0, 1.0, lambda_b=0.0)
    np.testing.assert_allclose(got, [1.0, 2.0, 3.0, 4.0, 5.0], rtol=1e-14)


def _empirical_ntk(x: torch.Tensor, width: int, depth: int, gen: torch.Generator) -> np.ndarray:
    """Θ of a finite tanh network (C_W = 1.5, C_b = 0.2, λ = 1) by autograd, outputs averaged."""
    cw, cb, outs = 1.5, 0.2, 16
    sizes = [x.shape[1]] + [width] * (depth - 1) + [outs]
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        # NTK parametrisation: W = √(C_W) ω/√n_in with the gradient step λ_W/n_in on W
        params += [torch.randn(n_out, n_in, generator=gen, dtype=torch.float64).requires_grad_(),
                   torch.randn(n_out, generator=gen, dtype=torch.float64).requires_grad_()]

    def forward(inp: torch.Tensor) -> torch.Tensor:
        h = inp
        for layer in range(depth):
            w, b = params[2 * layer], params[2 * layer + 1]
            z = math.sqrt(cb) * b + math.sqrt(cw / w.shape[1]) * h @ w.T
            h = torch.tanh(z)
        return z  # (n_inputs, outs)

    out = forward(x)
    jac = []
    for a in range(x.shape[0]):
        rows = []
        for i in range(outs):
            g = torch.autograd.grad(out[a, i], params, retain_graph=True)
            # rescale from the NTK parametrisation to steps λ_b on b and λ_W/n on W:
            # ∂z/∂W_std = ∂z/∂ω · √(n/C_W), so λ_W/n·|∂z/∂W|² = |∂z/∂ω|²/C_W
            rows.append(torch.cat([(gi / (math.sqrt(cw) if gi.ndim == 2 else math.sqrt(cb)))
                                   .reshape(-1) for gi in g]))
        jac.append(torch.stack(rows))
    jac = torch.stack(jac)  # (n_inputs, outs, params)
    return torch.einsum("aip,bip->ab", jac, jac).numpy() / outs


def test_ntk_matches_a_wide_network(generator) -> None:
    """docs/theory/init.md, §Mean NTK: width 1000 agrees with the mean NTK to O(1/√n) (≈ 3 %)."""
    x = torch.tensor([[1.0, 0.2, -0.5], [0.6, 0.9, 0.1]], dtype=torch.float64)
    want = ntk_kernel(x, depth=3, activation="tanh", C_W=1.5, C_b=0.2)
    got = _empirical_ntk(x, 1000, 3, generator)
    np.testing.assert_allclose(got, want, rtol=0.06)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(depth=0), "depth must be an integer >= 1"),
        (dict(C_W=0.0), "C_W must be > 0"),
        (dict(C_b=-1.0), "C_b must be >= 0"),
        (dict(activation="swish2"), "unknown activation"),
        (dict(K1=-1.0), "K1 must be a variance"),
    ],
)
def test_bad_input(kwargs, match) -> None:
    args = dict(activation="tanh", depth=3, C_W=1.0, C_b=0.0, K1=1.0) | kwargs
    with pytest.raises(LmechError, match=match):
        kernel_recursion(**args)


def test_non_finite_callable_and_bad_inputs() -> None:
    with pytest.raises(LmechError, match="activation"):
        kernel_recursion(lambda z: np.exp(z) * np.where(z > 5, np.inf, 1.0), 3, 1.0, 0.0, 1.0)
    with pytest.raises(LmechError, match="inputs must be"):
        nngp_kernel(np.ones(3), depth=2)
    with pytest.raises(LmechError, match="square"):
        kernel_recursion_gram("relu", 2, 2.0, 0.0, np.ones((2, 3)))
