"""Monte Carlo at initialisation: the weight sampler against brute-force nn.Modules, the
direct (conditional-Gaussian) sampler against the weight sampler, and bad input."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from lmech.ensemble import sample_preactivations
from lmech.errors import LmechError


def _brute_force(x, depth, width, c_w, c_b, members, seed):
    """Each member built as nn.Linear layers, drawing W^(l), b^(l) layer by layer from the
    generator the sampler gives a one-member chunk (seeded from a generator with `seed`)."""
    seeds = torch.randint(0, 2**62, (members,), generator=torch.Generator().manual_seed(seed))
    out = [[] for _ in range(depth)]
    for m in range(members):
        gen = torch.Generator().manual_seed(int(seeds[m]))
        fan_in, layers = x.shape[1], []
        for ell in range(depth):
            lin = nn.Linear(fan_in, width)
            with torch.no_grad():
                cw = c_w[ell] if isinstance(c_w, list) else c_w
                cw = float(cw[m]) if isinstance(cw, torch.Tensor) else cw
                lin.weight.copy_(torch.randn(width, fan_in, generator=gen)
                                 * math.sqrt(cw / fan_in))
                lin.bias.copy_(torch.randn(width, generator=gen) * math.sqrt(c_b))
            layers.append(lin)
            fan_in = width
        a = x
        with torch.no_grad():
            for ell, lin in enumerate(layers):
                z = lin(a)
                out[ell].append(z)
                a = torch.tanh(z)
    return [torch.stack(o) for o in out]


def test_weight_sampler_equals_brute_force_modules() -> None:
    x = torch.randn(3, 5, generator=torch.Generator().manual_seed(0))
    c_w = [1.0, torch.tensor([0.5, 1.5, 2.0, 3.0]), 1.2]  # per layer, one of them per member
    got = sample_preactivations(x, depth=3, width=6, activation="tanh", C_W=c_w, C_b=0.3,
                                members=4, generator=torch.Generator().manual_seed(7),
                                method="weights", chunk_members=1)
    want = _brute_force(x, 3, 6, c_w, 0.3, 4, seed=7)
    for g, w in zip(got, want, strict=True):
        assert g.shape == (4, 3, 6)
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-6)


def _per_member_stats(z: torch.Tensor) -> torch.Tensor:
    """``(M, 4)``: per member, the neuron averages of z_1², z_1 z_2, z_2², z_1⁴."""
    z = z.double()
    return torch.stack([
        (z[:, 0] ** 2).mean(-1), (z[:, 0] * z[:, 1]).mean(-1), (z[:, 1] ** 2).mean(-1),
        (z[:, 0] ** 4).mean(-1),
    ], dim=1)


@pytest.mark.parametrize("activation,c_w,c_b", [("tanh", 1.5, 0.1), ("relu", 2.0, 0.0)])
def test_direct_and_weight_samplers_agree_in_distribution(activation, c_w, c_b) -> None:
    """Second and fourth moments of every layer agree to within their standard errors.

    At width 8 and depth 4 the finite-width kurtosis is large (κ ≈ 2L/n ≈ 1 for tanh,
    more for ReLU), so matching the fourth moment tests the layer-to-layer coupling that the
    direct sampler must reproduce, not only the infinite-width kernel.
    """
    x = torch.tensor([[1.0, 0.5, -0.3], [0.2, -1.0, 0.8]])
    kw = dict(depth=4, width=8, activation=activation, C_W=c_w, C_b=c_b, members=6000)
    direct = sample_preactivations(x, generator=torch.Generator().manual_seed(1), **kw)
    weights = sample_preactivations(x, generator=torch.Generator().manual_seed(2),
                                    method="weights", **kw)
    for zd, zw in zip(direct, weights, strict=True):
        sd, sw = _per_member_stats(zd), _per_member_stats(zw)
        se = (sd.var(0) / len(sd) + sw.var(0) / len(sw)).sqrt()
        z = (sd.mean(0) - sw.mean(0)) / se
        # 16 statistics, fixed seeds: |z| < 4 fails by chance with probability ~1e-3.
        assert z.abs().max() < 4.0, z


def test_direct_sampler_first_layer_is_the_exact_kernel() -> None:
    """K¹ = C_b + C_W x_α·x_β / n_0 (docs/theory/init.md, §Kernel recursion), per member C_W."""
    x = torch.tensor([[1.0, 2.0], [-1.0, 0.5]], dtype=torch.float64)
    c_w = torch.tensor([1.0, 3.0])
    (z,) = sample_preactivations(x, depth=1, width=20000, activation="tanh", C_W=c_w, C_b=0.5,
                                 members=2, generator=torch.Generator().manual_seed(0))
    assert z.dtype == torch.float64
    emp = z @ z.transpose(-1, -2) / z.shape[-1]  # (2, 2, 2)
    exact = 0.5 + c_w[:, None, None] * (x @ x.T / 2)
    # Each entry is a mean of n products z_α z_β of Gaussians: Var = (K_αα K_ββ + K_αβ²)/n.
    diag = torch.diagonal(exact, dim1=-2, dim2=-1)
    se = ((diag[:, :, None] * diag[:, None, :] + exact**2) / z.shape[-1]).sqrt()
    assert ((emp - exact).abs() / se).max() < 4.0


def test_direct_sampler_matches_the_kernel_recursion_at_large_width() -> None:
    """One input, tanh at C_W=1, C_b=0: E z² at layer 3 follows K^(ell+1) = C_W<tanh²>_K."""
    x = torch.ones(1, 4, dtype=torch.float64)
    zs = sample_preactivations(x, depth=3, width=4000, activation="tanh", C_W=1.0, C_b=0.0,
                               members=50, generator=torch.Generator().manual_seed(3))
    k = 1.0
    xs = torch.linspace(-8, 8, 4001, dtype=torch.float64)
    phi = torch.exp(-xs**2 / 2) / math.sqrt(2 * math.pi) * (xs[1] - xs[0])
    for z in zs:
        assert abs(z.pow(2).mean().item() - k) < 0.02 * k  # 1/n shift ~ 1e-3, SE ~ 3e-3
        k = float((torch.tanh(math.sqrt(k) * xs) ** 2 * phi).sum())


def test_singular_covariance_and_layers_subset() -> None:
    """C_b = 0 with two identical inputs: the Gram matrix is singular; both rows agree to
    float32 rounding (a float32 Gram matrix would let them drift apart by ~√ε per layer)."""
    x = torch.ones(2, 3)
    (z,) = sample_preactivations(x, depth=3, width=5, activation="relu", C_W=2.0, C_b=0.0,
                                 members=10, generator=torch.Generator().manual_seed(0),
                                 layers=[3])
    assert z.shape == (10, 2, 5) and torch.isfinite(z).all()
    torch.testing.assert_close(z[:, 0], z[:, 1], rtol=1e-5, atol=1e-5)


def test_chunking_keeps_shapes_and_seed_repeats() -> None:
    kw = dict(depth=2, width=4, activation="tanh", C_W=1.0, C_b=0.0, members=7)
    a = sample_preactivations(torch.ones(1, 2), generator=torch.Generator().manual_seed(5),
                              chunk_members=3, **kw)
    b = sample_preactivations(torch.ones(1, 2), generator=torch.Generator().manual_seed(5),
                              chunk_members=3, **kw)
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))
    assert a[0].shape == (7, 1, 4)


@pytest.mark.parametrize("change,name", [
    (dict(inputs=torch.ones(3)), "inputs"),
    (dict(members=0), "members"),
    (dict(depth=0), "depth"),
    (dict(width=[4, 4]), "width"),
    (dict(activation="nope"), "activation"),
    (dict(method="exact"), "method"),
    (dict(C_W=[1.0, 1.0]), "C_W"),
    (dict(C_b=torch.ones(4)), "C_b"),
    (dict(C_W=-1.0), "C_W"),
    (dict(layers=[4]), "layers"),
    (dict(chunk_members=-2), "chunk_members"),
])
def test_bad_input_names_the_argument(change, name) -> None:
    kw = dict(inputs=torch.ones(1, 2), depth=3, width=4, activation="tanh", C_W=1.0, C_b=0.0,
              members=3, generator=torch.Generator().manual_seed(0))
    kw.update(change)
    with pytest.raises(LmechError, match=name):
        sample_preactivations(kw.pop("inputs"), **kw)


def test_fast_tanh_agrees_with_torch() -> None:
    from lmech.ensemble.preactivations import _activate

    z = torch.linspace(-30, 30, 100_001).view(1, 1, -1)
    assert torch.allclose(_activate(torch.tanh, z), torch.tanh(z), rtol=0, atol=3e-7)
    assert torch.allclose(_activate(torch.tanh, z.double()), torch.tanh(z.double()), rtol=0,
                          atol=1e-15)
    assert torch.equal(_activate(torch.relu, z), torch.relu(z))
