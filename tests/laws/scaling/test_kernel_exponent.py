"""scaling.kernel_exponent: measurement against brute force, wrong exponents refuted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmech.errors import LmechError
from lmech.laws import Curve, Series, get_law
from lmech.laws.scaling.kernel_exponent import _draw_errors
from lmech.run import Outcome, judge
from lmech.testing import SEED

LAW = get_law("scaling.kernel_exponent")


@pytest.fixture(scope="module")
def smoke(law_run):
    return law_run(LAW, SEED)


def _with(prediction: Series, y) -> Series:
    c = prediction.curves()[0]
    return Series.from_curves([Curve(c.panel, c.name, c.x, y)])


@pytest.mark.parametrize("mistake", ["asymptote", "half"])
def test_plausible_wrong_exponents_are_refuted(smoke, mistake) -> None:
    """The asymptotic β − 1 quoted at finite n, and β/2 (v_k mistaken for v_k²)."""
    params, prediction, measurement, foil, tol = smoke
    beta = np.array(params.target_decays)
    wrong = beta - 1 if mistake == "asymptote" else beta / 2
    assert judge(_with(prediction, wrong), measurement, foil, tol).outcome is Outcome.REFUTED


def test_kernel_regression_against_a_direct_solve(generator) -> None:
    """Oracle: the batched v̂ = ΛΦᵀ(K + δI)⁻¹y equals predicting on fresh points by lstsq."""
    params = LAW.parameters("smoke", {"modes": 256, "n_draws": 2, "sample_sizes": (32, 48, 60)})
    lam = torch.arange(1, 257, dtype=torch.float64) ** -2.0
    v = torch.arange(1, 257, dtype=torch.float64) ** -1.0
    err = _draw_errors(lam, v, 40, 2, params, torch.Generator().manual_seed(3), "cpu")
    phi = torch.randn(2, 40, 256, generator=torch.Generator().manual_seed(3),
                      dtype=torch.float64)
    for r in range(2):
        k = phi[r] @ torch.diag(lam) @ phi[r].T + params.ridge * torch.eye(40,
                                                                          dtype=torch.float64)
        coef = np.linalg.solve(k.numpy(), (phi[r] @ v).numpy())
        test = np.random.default_rng(r).standard_normal((20_000, 256))
        pred = test @ np.diag(lam.numpy()) @ phi[r].numpy().T @ coef
        mc = np.mean((pred - test @ v.numpy()) ** 2)
        assert mc == pytest.approx(err[r], rel=0.05)  # 20k test points: ~1 % MC error


def test_parameters_are_checked() -> None:
    with pytest.raises(LmechError, match="target_decays must be > 1"):
        LAW.parameters("smoke", {"target_decays": (0.5, 2.0)})
    with pytest.raises(LmechError, match="modes must be"):
        LAW.parameters("smoke", {"modes": 100})
