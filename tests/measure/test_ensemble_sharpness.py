"""The sharpness of every member at once: batched Lanczos against dense eigensolvers, the
ensemble against `top_eigenvalues` on each member alone, a closed form, the tracker."""

from __future__ import annotations

import pytest
import torch

from lmech.ensemble import SGD, init_ensemble, train
from lmech.errors import LmechError
from lmech.measure import EnsembleSharpness, ensemble_top_eigenvalues, top_eigenvalues
from lmech.measure._batched_lanczos import batched_lanczos
from lmech.models import MLPConfig


def _symmetric(generator, m, d):
    a = torch.randn(m, d, d, generator=generator, dtype=torch.float64)
    return a + a.transpose(1, 2)


def test_batched_lanczos_equals_eigh_when_the_krylov_space_is_exhausted(generator) -> None:
    a = _symmetric(generator, 4, 12)
    start = torch.randn(4, 12, generator=generator, dtype=torch.float64)
    out = batched_lanczos(lambda v: torch.einsum("mij,mj->mi", a, v), start, 50, tol=1e-12)
    want = torch.linalg.eigvalsh(a)[:, -1]
    torch.testing.assert_close(out.values, want, rtol=1e-10, atol=1e-12)
    assert out.converged.all()
    residual = torch.einsum("mij,mj->mi", a, out.vectors) - out.values[:, None] * out.vectors
    assert residual.norm(dim=1).max() < 1e-8


def test_each_row_stops_on_its_own_and_a_bad_row_spoils_no_other(generator) -> None:
    """Row 0's top eigenvalue is far from the rest (few steps); row 2 returns NaN."""
    d = 40
    spectra = torch.stack([torch.cat([torch.linspace(0, 1, d - 1), torch.tensor([50.0])]),
                           torch.linspace(0, 1, d), torch.linspace(0, 1, d)]).double()
    q, _ = torch.linalg.qr(torch.randn(3, d, d, generator=generator, dtype=torch.float64))
    a = q @ torch.diag_embed(spectra) @ q.transpose(1, 2)

    def matvec(v):
        out = torch.einsum("mij,mj->mi", a, v)
        out[2] = float("nan")
        return out

    start = torch.randn(3, d, generator=generator, dtype=torch.float64)
    out = batched_lanczos(matvec, start, 40, tol=1e-8)
    assert out.values[0].item() == pytest.approx(50.0, rel=1e-8)
    assert out.values[1].item() == pytest.approx(1.0, rel=1e-6)
    assert torch.isnan(out.values[2]) and not out.converged[2]
    assert out.steps[0] < out.steps[1]


def test_ensemble_equals_top_eigenvalues_on_each_member(generator) -> None:
    ens = init_ensemble(MLPConfig(3, 6, 2, 2, activation="tanh"), members=4, seed=0,
                        C_W=2.0, C_b=0.1, dtype=torch.float64)
    x = torch.randn(20, 3, generator=generator, dtype=torch.float64)
    y = torch.randn(20, 2, generator=generator, dtype=torch.float64)

    def objective(p, b):
        return (ens.forward(b[0], p) - b[1]).square().mean((1, 2))

    out = ensemble_top_eigenvalues(objective, ens.params, (x, y), tol=1e-10, max_iter=100)
    assert out.converged.all()
    for i in range(4):
        want, vec = top_eigenvalues(ens.member(i), torch.nn.functional.mse_loss, (x, y),
                                    tol=1e-10, max_iter=100)
        assert out.values[i].item() == pytest.approx(want.item(), rel=1e-8)
        assert abs(torch.dot(out.vectors[i], vec[0]).item()) == pytest.approx(1.0, abs=1e-6)


def test_linear_model_closed_form(generator) -> None:
    """f = w·x + b with the MSE: ∇²L = (2/P)[X 1]ᵀ[X 1], per member its own inputs."""
    m, p = 3, 15
    ens = init_ensemble(MLPConfig(4, 1, 0, 1), members=m, seed=0, dtype=torch.float64)
    x = torch.randn(m, p, 4, generator=generator, dtype=torch.float64)
    x = x * torch.tensor([1.0, 2.0, 0.5])[:, None, None]  # different curvature per member
    y = torch.zeros(m, p, 1, dtype=torch.float64)

    def objective(params, b):
        return (ens.forward(b[0], params) - b[1]).square().mean((1, 2))

    design = torch.cat([x, torch.ones(m, p, 1, dtype=torch.float64)], -1)
    want = torch.linalg.eigvalsh(2 / p * design.transpose(1, 2) @ design)[:, -1]
    out = ensemble_top_eigenvalues(objective, ens.params, (x, y), tol=1e-12)
    torch.testing.assert_close(out.values, want, rtol=1e-10, atol=0)


def test_tracker_measures_on_its_cadence_during_training(generator) -> None:
    ens = init_ensemble(MLPConfig(3, 6, 1, 1, activation="tanh"), members=3, seed=2,
                        dtype=torch.float64)
    x = torch.randn(16, 3, generator=generator, dtype=torch.float64)
    y = torch.randn(16, 1, generator=generator, dtype=torch.float64)
    seen = {}

    class Params:
        def observe(self, s):
            seen[s.step] = {k: v.clone() for k, v in s.params.items()}

        def records(self):
            return None

    sharp = EnsembleSharpness(every=5, start=3, tol=1e-9)
    train(ens, x, y, optimizer=SGD(lr=0.2), steps=20,
          trackers={"sharpness": sharp, "params": Params()})
    rec = sharp.records()
    assert rec["steps"].tolist() == [3, 8, 13, 18]
    assert rec["converged"].all() and rec["sharpness"].shape == (3, 4)

    def objective(p, b):
        return (ens.forward(b[0], p) - b[1].expand(3, -1, -1)).square().mean((1, 2))

    for t, k in enumerate(rec["steps"].tolist()):
        want = ensemble_top_eigenvalues(objective, seen[k], (x, y), tol=1e-11).values
        torch.testing.assert_close(rec["sharpness"][:, t], want, rtol=1e-7, atol=0)


def test_bad_arguments_are_named() -> None:
    params = {"w": torch.ones(2, 3)}

    def objective(p, b):
        return (p["w"] ** 4).sum(1)

    with pytest.raises(LmechError, match="tol"):
        ensemble_top_eigenvalues(objective, params, None, tol=2.0)
    with pytest.raises(LmechError, match="init"):
        ensemble_top_eigenvalues(objective, params, None, init=torch.zeros(2, 3))
    with pytest.raises(LmechError, match="one loss per member"):
        ensemble_top_eigenvalues(lambda p, b: p["w"].sum(), params, None)
    with pytest.raises(LmechError, match="every"):
        EnsembleSharpness(every=0)
