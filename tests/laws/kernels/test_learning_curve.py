"""kernels.learning_curve: plausible wrong theories refuted, bad input named."""

from __future__ import annotations

import numpy as np
import pytest

from lmech.errors import LmechError
from lmech.laws import Series, get_law
from lmech.laws.kernels.learning_curve import _draws, _problems
from lmech.measure.stats import slope_weights
from lmech.run import Outcome, judge
from lmech.testing import SEED
from lmech.theory import eigenlearning_test_error

LAW = get_law("kernels.learning_curve")


@pytest.fixture(scope="module")
def smoke(law_run):
    return law_run(LAW, SEED)


def _wrong(params, prediction: Series, error) -> Series:
    """The prediction recomputed with a wrong formula `error(λ, v, n)`."""
    ns = np.array(params.sample_sizes, dtype=np.float64)
    power, relu = _problems(params)
    e_power = error(power.eigenvalues, power.coefficients, ns)
    e_relu = error(relu.eigenvalues, relu.coefficients, ns)
    slope = slope_weights(np.log(ns)) @ np.log(e_power)
    y = np.concatenate([e_power, e_relu, [slope]])
    return Series(prediction.panel, prediction.curve, prediction.x, y, prediction.stderr,
                  prediction.units)


def test_the_bare_ridge_is_refuted(smoke) -> None:
    """Each mode shrunk by the bare ridge per sample, L_i = λ_i/(λ_i + δ/n), and no
    overfitting factor: ridge regression on the population, as if n → ∞ at fixed δ/n."""
    params, prediction, measurement, foil, tol = smoke

    def bare(lam, v, ns):
        learn = lam / (lam + params.ridge / ns[:, None])
        return np.sum((1 - learn) ** 2 * v**2, axis=1) + params.noise

    wrong = _wrong(params, prediction, bare)
    assert judge(wrong, measurement, foil, tol).outcome is Outcome.REFUTED


def test_small_samples_get_more_draws() -> None:
    params = LAW.parameters("quick")
    assert _draws(params).tolist() == [800, 400, 200, 100]


def test_dropping_the_label_noise_term_is_refuted(smoke) -> None:
    """docs/theory/kernels.md, §Pitfalls: E against noisy test labels includes E₀·σ²; the
    clean-target error E₀Σ(1 − L)²v² + (E₀ − 1)σ² is a different quantity."""
    params, prediction, measurement, foil, tol = smoke

    def clean_target(lam, v, ns):
        e_noisy = eigenlearning_test_error(lam, v, ns, params.ridge, params.noise)
        return e_noisy - params.noise

    wrong = _wrong(params, prediction, clean_target)
    assert judge(wrong, measurement, foil, tol).outcome is Outcome.REFUTED


def test_parameters_are_checked() -> None:
    with pytest.raises(LmechError, match="ridge"):
        LAW.parameters("smoke", {"ridge": 0.0})
    with pytest.raises(LmechError, match="increasing"):
        LAW.parameters("smoke", {"sample_sizes": (64, 32)})
    with pytest.raises(LmechError, match="a quarter"):
        LAW.parameters("smoke", {"sample_sizes": (32, 512)})
    with pytest.raises(LmechError, match="kernel"):
        LAW.parameters("smoke", {"kernel": "rbf"})
