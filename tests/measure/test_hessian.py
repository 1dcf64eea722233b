"""Curvature tools against the explicit Hessian of small models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call

from lmech.errors import LmechError
from lmech.measure import (
    SharpnessTracker,
    hessian_trace,
    hessian_vector_product,
    preconditioned_sharpness,
    spectral_density,
    top_eigenvalues,
)

LOSS = nn.functional.mse_loss


def _setup(generator: torch.Generator, n: int = 12):
    torch.manual_seed(0)  # nn.Linear's own init; overwritten below from the generator
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=torch.float64))
    x = torch.randn(n, 3, generator=generator, dtype=torch.float64)
    y = torch.randn(n, 2, generator=generator, dtype=torch.float64)
    return model, x, y


def _explicit_hessian(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(theta: torch.Tensor) -> torch.Tensor:
        pieces = torch.split(theta, [int(np.prod(s)) for s in shapes])
        params = {k: v.view(s) for k, v, s in zip(names, pieces, shapes, strict=True)}
        return LOSS(functional_call(model, params, (x,)), y)

    return torch.autograd.functional.hessian(loss, flat)


def test_hessian_vector_product(generator) -> None:
    model, x, y = _setup(generator)
    h = _explicit_hessian(model, x, y)
    v = torch.randn(h.shape[0], generator=generator, dtype=torch.float64)
    torch.testing.assert_close(hessian_vector_product(model, LOSS, (x, y), v), h @ v)


def test_a_data_loader_gives_the_full_batch_hessian(generator) -> None:
    model, x, y = _setup(generator)
    v = torch.randn(sum(p.numel() for p in model.parameters()), generator=generator,
                    dtype=torch.float64)
    loader = [(x[:5], y[:5]), (x[5:], y[5:])]  # unequal sizes: size-weighted mean
    torch.testing.assert_close(hessian_vector_product(model, LOSS, loader, v),
                               hessian_vector_product(model, LOSS, (x, y), v))


def test_top_eigenpairs(generator) -> None:
    model, x, y = _setup(generator)
    h = _explicit_hessian(model, x, y)
    exact_values, exact_vectors = torch.linalg.eigh(h)
    values, vectors = top_eigenvalues(model, LOSS, (x, y), k=3, tol=1e-9, generator=generator)
    torch.testing.assert_close(values, exact_values.flip(0)[:3], rtol=1e-8, atol=1e-10)
    assert torch.all(values[:-1] >= values[1:]), "descending order"
    overlap = (vectors @ exact_vectors.flip(1)[:, :3]).diagonal().abs()
    torch.testing.assert_close(overlap, torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-6)


def test_default_tolerance_meets_its_promise(generator) -> None:
    """Residual <= tol·λ implies |λ − λ_true| <= tol·λ."""
    model, x, y = _setup(generator)
    top = torch.linalg.eigvalsh(_explicit_hessian(model, x, y))[-1]
    value = top_eigenvalues(model, LOSS, (x, y), tol=1e-3)[0][0]
    assert abs(value - top) <= 1e-3 * abs(top)


def test_hutchinson_trace(generator) -> None:
    """Mean within 4 standard errors of tr H; the standard error matches its formula."""
    model, x, y = _setup(generator)
    h = _explicit_hessian(model, x, y)
    est = hessian_trace(model, LOSS, (x, y), n_probes=400, generator=generator)
    assert abs(est.value - float(h.trace())) < 4 * est.stderr
    # Var(zᵀHz) = 2 Σ_{i≠j} H_ij² for Rademacher z; the sample sd has ~4 % error at 400.
    off = h - torch.diag(h.diagonal())
    expected_se = float(torch.sqrt(2 * (off**2).sum() / 400))
    assert est.stderr == pytest.approx(expected_se, rel=0.2)


def test_spectral_density_full_lanczos_recovers_the_spectrum(generator) -> None:
    model, x, y = _setup(generator)
    h = _explicit_hessian(model, x, y)
    exact = torch.linalg.eigvalsh(h).numpy()
    sld = spectral_density(model, LOSS, (x, y), n_probes=3, n_steps=h.shape[0],
                           generator=generator)
    for nodes in sld.nodes:
        np.testing.assert_allclose(np.sort(nodes), exact, atol=1e-7 * abs(exact).max())
    np.testing.assert_allclose(sld.weights.sum(axis=1), 1.0, rtol=1e-10)
    grid = np.linspace(exact.min() - 1, exact.max() + 1, 4001)
    mass = np.trapezoid(sld.density(grid, sigma=0.05), grid)
    assert mass == pytest.approx(1.0, rel=1e-3)


def test_spectral_density_moments(generator) -> None:
    """Few Lanczos steps still give the moments (1/n) tr Hᵖ, p <= 2m − 1, per probe."""
    model, x, y = _setup(generator)
    h = _explicit_hessian(model, x, y).numpy()
    n = h.shape[0]
    sld = spectral_density(model, LOSS, (x, y), n_probes=300, n_steps=4, generator=generator)
    for p in (1, 2):
        exact = np.trace(np.linalg.matrix_power(h, p)) / n
        per_probe = (sld.weights * sld.nodes**p).sum(axis=1)
        se = per_probe.std(ddof=1) / np.sqrt(per_probe.size)
        assert abs(sld.moment(p) - exact) < 4 * se


def _adam_steps(model, x, y, steps: int = 3) -> torch.optim.Adam:
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(steps):
        opt.zero_grad()
        LOSS(model(x), y).backward()
        opt.step()
    return opt


def test_preconditioned_sharpness(generator) -> None:
    model, x, y = _setup(generator)
    opt = _adam_steps(model, x, y)
    h = _explicit_hessian(model, x, y)
    p_diag = torch.cat([
        (opt.state[p]["exp_avg_sq"] / (1 - 0.999 ** float(opt.state[p]["step"]))).sqrt()
        .reshape(-1) + 1e-8 for p in model.parameters()
    ])
    exact = torch.linalg.eigvals(torch.diag(1 / p_diag) @ h).real.max()
    value = preconditioned_sharpness(model, LOSS, (x, y), opt, tol=1e-9)
    assert value == pytest.approx(float(exact), rel=1e-7)


def test_tracker_follows_training_and_warm_start_saves_work(generator) -> None:
    model, x, y = _setup(generator)
    tracker = SharpnessTracker(model, LOSS, (x, y), every=5, tol=1e-6, generator=generator)
    opt = torch.optim.SGD(model.parameters(), lr=0.02)
    cold_hvps, exact = 0, []
    for it in range(30):
        if tracker.step(it) is not None:
            exact.append(float(torch.linalg.eigvalsh(_explicit_hessian(model, x, y))[-1]))
            op_count = _cold_hvps(model, x, y, generator)
            cold_hvps += op_count
        opt.zero_grad()
        LOSS(model(x), y).backward()
        opt.step()
    assert tracker.iterations_ == [0, 5, 10, 15, 20, 25]
    np.testing.assert_allclose(tracker.sharpness_, exact, rtol=1e-6)
    assert tracker.n_hvp_ < cold_hvps


def _cold_hvps(model, x, y, generator) -> int:
    from lmech.measure import HessianOperator
    from lmech.measure._lanczos import lanczos

    op = HessianOperator(model, LOSS, (x, y))
    start = torch.randn(op.dim, generator=generator, dtype=torch.float64)
    return lanczos(op, start, 200, k=1, tol=1e-6).n_matvec


def test_bad_input(generator) -> None:
    model, x, y = _setup(generator)
    frozen = nn.Linear(3, 2).double().requires_grad_(False)
    with pytest.raises(LmechError, match="no parameters that require grad"):
        top_eigenvalues(frozen, LOSS, (x, y))
    n_params = sum(p.numel() for p in model.parameters())
    with pytest.raises(LmechError, match=f"k must be between 1 and the number of parameters "
                                         f"{n_params}"):
        top_eigenvalues(model, LOSS, (x, y), k=n_params + 1)
    with pytest.raises(LmechError, match="has taken at least one step"):
        preconditioned_sharpness(model, LOSS, (x, y), torch.optim.Adam(model.parameters()))
    with pytest.raises(LmechError, match="batch must be"):
        top_eigenvalues(model, LOSS, 3)


def test_tracker_of_adam_tracks_the_preconditioned_sharpness(generator) -> None:
    model, x, y = _setup(generator)
    opt = _adam_steps(model, x, y, steps=1)
    tracker = SharpnessTracker(model, LOSS, (x, y), every=2, tol=1e-9, optimizer=opt,
                               generator=generator)
    for it in range(4):
        if tracker.step(it) is not None:
            assert tracker.sharpness_[-1] == pytest.approx(
                preconditioned_sharpness(model, LOSS, (x, y), opt, tol=1e-9), rel=1e-7)
        opt.zero_grad()
        LOSS(model(x), y).backward()
        opt.step()
    assert tracker.iterations_ == [0, 2]


def test_unconverged_lanczos_is_an_error(generator) -> None:
    model, x, y = _setup(generator)
    with pytest.raises(LmechError, match="did not reach the residual tolerance"):
        top_eigenvalues(model, LOSS, (x, y), k=3, tol=1e-12, max_iter=3)
