"""External check: lmech's infinite-width kernels against neural-tangents' `stax` kernels.

neural-tangents is an independent implementation (Novak et al. 2020, JAX), installed only in
the optional `crosscheck` extra; without it this module is skipped. To run it:

    pip install -e ".[crosscheck]"
    pytest tests/theory/test_kernels_neural_tangents.py

Conventions mapped here (docs/theory/init.md, §Conventions; `lmech.theory.kernels`):

- `stax.Dense(W_std, b_std)` (default parameterization "ntk") has first-layer NNGP kernel
  W_std²·x·x'/d + b_std², so W_std = √C_W and b_std = √C_b.
- lmech's depth L is the preactivation of layer L (K¹ = the first linear layer), i.e.
  Dense, then L − 1 times (σ, Dense).
- `stax.Erf(a, b, c)` is a·erf(b·x) + c; lmech's erf is a=1, b=1, c=0. `stax.Relu()` is ReLU.
- NTK: the "ntk" parameterization differentiates with respect to the standard-normal ω, β of
  W = W_std·ω/√n, b = b_std·β, which is lmech's λ_W = C_W, λ_b = C_b.

JAX runs in float64 here so that a 1e-6 relative comparison means something.
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import pytest

with warnings.catch_warnings():
    # neural-tangents 0.6.5 and tf2jax import names JAX 0.5 deprecates (pyproject turns
    # warnings into errors); they say nothing about lmech.
    warnings.filterwarnings("ignore", r"jax\.core\.\w+ is deprecated", DeprecationWarning)
    nt = pytest.importorskip(
        "neural_tangents", reason="neural-tangents not installed: pip install -e \".[crosscheck]\"")
    import jax
    from neural_tangents import stax

from lmech.theory import (
    kernel_recursion,
    kernel_recursion_gram,
    nngp_kernel,
    ntk_kernel,
)

jax.config.update("jax_enable_x64", True)

RTOL = 1e-6
DEPTHS = range(1, 11)
NETWORKS = {  # (C_W, C_b): critical, off-critical, with bias
    "relu": [(2.0, 0.0), (1.5, 0.0), (2.0, 0.1), (1.2, 0.5)],
    "erf": [(1.0, 0.0), (2.5, 0.0), (1.5, 0.2), (0.8, 0.7)],
}
STAX = {"relu": stax.Relu, "erf": lambda: stax.Erf(a=1.0, b=1.0, c=0.0)}


def _inputs() -> np.ndarray:
    """Generic inputs plus the hard cases: a parallel copy (2x), an antipodal one (−x), and a
    near-duplicate (correlation ≈ 1), so the Gram matrix has cos θ at ±1 and near 1."""
    rng = np.random.default_rng(20240604)
    x = rng.normal(size=(6, 5))
    near = x[0] + 1e-3 * rng.normal(size=5)
    return np.vstack([x, 2.0 * x[1], -x[2], near, 0.1 * x[3]])


def _nt_kernel_fn(activation: str, depth: int, C_W: float, C_b: float):
    dense = lambda: stax.Dense(1, W_std=math.sqrt(C_W), b_std=math.sqrt(C_b))  # noqa: E731
    layers = [dense()]
    for _ in range(depth - 1):
        layers += [STAX[activation](), dense()]
    return stax.serial(*layers)[2]


@functools.cache
def _nt_gram(activation: str, depth: int, C_W: float, C_b: float) -> tuple[np.ndarray, ...]:
    """neural-tangents' (NNGP, NTK) Gram matrices of `_inputs()`, computed once per network."""
    kernels = _nt_kernel_fn(activation, depth, C_W, C_b)(_inputs(), None, ("nngp", "ntk"))
    return tuple(np.asarray(k) for k in kernels)


def _relative(got: np.ndarray, want: np.ndarray) -> float:
    """The largest |got − want|/|want| over entries; exact zeros (antipodal inputs under ReLU)
    are compared exactly by assert_allclose and skipped here."""
    nonzero = want != 0
    return float(np.max(np.abs(got - want)[nonzero] / np.abs(want[nonzero])))


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_nngp_gram_matches_neural_tangents(activation: str) -> None:
    x = _inputs()
    worst = 0.0
    for C_W, C_b in NETWORKS[activation]:
        for depth in DEPTHS:
            want = _nt_gram(activation, depth, C_W, C_b)[0]
            assert want.dtype == np.float64
            got = nngp_kernel(x, depth=depth, activation=activation, C_W=C_W, C_b=C_b)
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=0,
                                       err_msg=f"{activation} C_W={C_W} C_b={C_b} L={depth}")
            worst = max(worst, _relative(got, want))
    print(f"{activation}: max relative difference {worst:.2e} over depths 1-10")


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_gram_recursion_and_single_input_match_neural_tangents(activation: str) -> None:
    """Every layer of `kernel_recursion_gram` at once (nt's kernel of the depth-L network
    for each L), and `kernel_recursion` on the diagonal."""
    x = _inputs()
    n0 = x.shape[1]
    for C_W, C_b in NETWORKS[activation]:
        K1 = C_b + C_W * x @ x.T / n0
        gram = kernel_recursion_gram(activation, max(DEPTHS), C_W, C_b, K1)
        want = np.stack([_nt_gram(activation, depth, C_W, C_b)[0] for depth in DEPTHS])
        np.testing.assert_allclose(gram, want, rtol=RTOL, atol=0)
        for i in range(x.shape[0]):  # nt's diagonal is each input's own single-input kernel
            single = kernel_recursion(activation, max(DEPTHS), C_W, C_b, K1[i, i])
            np.testing.assert_allclose(single, want[:, i, i], rtol=RTOL, atol=0)


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_cross_kernel_matches_neural_tangents(activation: str) -> None:
    x = _inputs()
    x1, x2 = x[:4], x[4:]
    for C_W, C_b in NETWORKS[activation]:
        for depth in (1, 2, 5, 10):
            want = np.asarray(_nt_kernel_fn(activation, depth, C_W, C_b)(x1, x2, "nngp"))
            got = nngp_kernel(x1, x2, depth=depth, activation=activation, C_W=C_W, C_b=C_b)
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=0)


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_ntk_matches_neural_tangents(activation: str) -> None:
    x = _inputs()
    worst = 0.0
    for C_W, C_b in NETWORKS[activation]:
        for depth in DEPTHS:
            want = _nt_gram(activation, depth, C_W, C_b)[1]
            got = ntk_kernel(x, depth=depth, activation=activation, C_W=C_W, C_b=C_b,
                             lambda_b=C_b, lambda_W=C_W)
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=0,
                                       err_msg=f"{activation} C_W={C_W} C_b={C_b} L={depth}")
            worst = max(worst, _relative(got, want))
    print(f"{activation}: NTK max relative difference {worst:.2e} over depths 1-10")


def test_float32_relu_gram_agrees_with_neural_tangents() -> None:
    """The fast float32 path, at the benchmark's shape scaled down: within 1e-5 absolute."""
    x = np.random.default_rng(0).normal(size=(300, 32))
    want = np.asarray(_nt_kernel_fn("relu", 10, 2.0, 0.0)(x, None, "nngp"))
    got = nngp_kernel(x, depth=10, dtype=np.float32)
    assert np.abs(got - want).max() < 1e-5
