"""init.kernel_recursion: wrong recursions are refuted; the 1/n shift is seen."""

from __future__ import annotations

import numpy as np
import pytest

from lmech.laws import Curve, Series, get_law
from lmech.run import Outcome, judge
from lmech.testing import SEED
from lmech.theory import kernel_recursion_gram

LAW = get_law("init.kernel_recursion")


@pytest.fixture(scope="module")
def smoke(law_run):
    return law_run(LAW, SEED)


def _prediction(params, scale_cw: float = 1.0, drop_bias: bool = False) -> Series:
    """The recursion with a wrong C_W or without the bias (plausible mistakes)."""
    layers = np.arange(1, params.depth + 1)
    curves = []
    for name, c_w, c_b in params.networks:
        K1 = c_b + c_w * params.q * np.array([[1, params.rho], [params.rho, 1]])
        K = kernel_recursion_gram(name, params.depth, c_w * scale_cw,
                                  0.0 if drop_bias else c_b, K1)
        curves += [Curve("variance", name, layers, K[:, 0, 0]),
                   Curve("covariance", name, layers, K[:, 0, 1])]
    return Series.from_curves(curves)


def test_a_five_percent_error_in_C_W_is_refuted(smoke) -> None:
    params, _, measurement, foil, tol = smoke
    wrong = _prediction(params, scale_cw=1.05)
    assert judge(wrong, measurement, foil, tol).outcome is Outcome.REFUTED


def test_forgetting_the_bias_is_refuted(law_run) -> None:
    params, prediction, measurement, foil, tol = law_run(
        LAW, 3, networks=[["gelu", 1.983, 0.173]])
    assert judge(prediction, measurement, foil, tol).outcome is not Outcome.REFUTED
    wrong = _prediction(params, drop_bias=True)
    assert judge(wrong, measurement, foil, tol).outcome is Outcome.REFUTED


def test_relu_variance_has_no_finite_width_shift(smoke) -> None:
    """E z² = K exactly for ReLU at any width: the tolerance is rounding only."""
    _, prediction, _, _, tol = smoke
    relu_var = (prediction.curve == "relu") & (prediction.panel == "variance")
    assert np.all(tol[relu_var] < 1e-5)
