"""lmech.theory.random_features: limits, symmetry, and direct simulation of the model."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from lmech.errors import LmechError
from lmech.theory import (
    eigenlearning_test_error,
    random_feature_kappa,
    random_feature_test_error,
)

LAM = np.arange(1, 801, dtype=np.float64) ** -2.0


def test_without_ridge_features_and_samples_are_interchangeable() -> None:
    n = np.array([10, 40, 100, 300])
    p = np.array([40, 10, 300, 100])
    a, b = random_feature_test_error(LAM, n, p), random_feature_test_error(LAM, p, n)
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_infinitely_many_samples_give_eigenlearning_of_n_features() -> None:
    """P → ∞: the loss of N random features is eigenlearning with n = N (target power λ),
    and the closed form carries exactly the factor P/(P − N) on top of it."""
    for n in (10, 50, 200):
        p = 1e9
        eig = eigenlearning_test_error(LAM, np.sqrt(LAM), n)
        assert random_feature_test_error(LAM, n, p) == pytest.approx(eig * p / (p - n),
                                                                     rel=1e-9)


def test_a_vanishing_ridge_is_continuous() -> None:
    for n, p in ((20, 60), (60, 20)):
        ridgeless = random_feature_test_error(LAM, n, p)
        assert random_feature_test_error(LAM, n, p, ridge=1e-12) == pytest.approx(
            ridgeless, rel=1e-6)


def test_kappa_solves_its_equations() -> None:
    ridge, n, p = 1e-2, 40.0, 90.0
    k1 = float(random_feature_kappa(LAM, n, p, ridge))
    df1 = np.sum(LAM / (LAM + k1))
    k2 = k1 * (1 - df1 / n)
    assert df1 + ridge / k2 == pytest.approx(p, rel=1e-10)


def test_the_peak_sits_at_n_equals_p() -> None:
    n = np.array([50, 80, 95, 105, 120, 200])
    loss = random_feature_test_error(LAM, n, 100)
    assert loss[2] > loss[1] > loss[0] and loss[3] > loss[4] > loss[5]


def _simulated(n: int, p: int, ridge: float, draws: int, rng: np.random.Generator
               ) -> np.ndarray:
    """Direct simulation: a teacher, features and samples drawn, the student fitted by
    least squares (minimum norm) or ridge, the test loss (w − Fᵀθ)ᵀΛ(w − Fᵀθ) exact in x."""
    out = []
    for _ in range(draws):
        x = rng.standard_normal((p, LAM.size)) * np.sqrt(LAM)
        f = rng.standard_normal((n, LAM.size)) / np.sqrt(n)
        w = rng.standard_normal(LAM.size)
        z, y = x @ f.T, x @ w
        if ridge == 0:
            theta = np.linalg.lstsq(z, y, rcond=None)[0]
        else:
            theta = np.linalg.solve(z.T @ z + ridge * np.eye(n), z.T @ y)
        r = w - f.T @ theta
        out.append(r @ (LAM * r))
    return np.array(out)


@pytest.mark.parametrize(("n", "p", "ridge"), [(60, 180, 0.0), (180, 60, 0.0),
                                               (80, 120, 1e-3)])
def test_closed_form_against_direct_simulation(n, p, ridge, rng) -> None:
    """Independent route. The closed form is the large-size limit; its corrections were
    measured at up to 1.6/min(N, P) relative (docs/theory/scaling.md, §Random features),
    so the allowance is 3/min(N, P) of L plus 4 standard errors of the simulation mean."""
    with threadpool_limits(1):
        loss = _simulated(n, p, ridge, 150, rng)
    theory = float(random_feature_test_error(LAM, n, p, ridge))
    se = loss.std(ddof=1) / np.sqrt(loss.size)
    assert abs(loss.mean() - theory) < 4 * se + 3 / min(n, p) * theory


def test_bad_arguments_are_named() -> None:
    with pytest.raises(LmechError, match="diverges at N = P"):
        random_feature_test_error(LAM, 50, 50)
    with pytest.raises(LmechError, match="latent dimension"):
        random_feature_test_error(LAM, 900, 1000)
    with pytest.raises(LmechError, match="eigenvalues"):
        random_feature_test_error([1.0, -1.0], 1, 2)
    with pytest.raises(LmechError, match="ridge"):
        random_feature_kappa(LAM, 10, 20, ridge=-1.0)
