"""init.kernel_recursion: the shift against brute force, wrong theories refuted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmech.ensemble import sample_preactivations
from lmech.laws import Curve, Series, get_law
from lmech.laws.init._moments import pair_inputs
from lmech.run import Outcome, judge
from lmech.testing import SEED
from lmech.theory import kernel_recursion_gram

LAW = get_law("init.kernel_recursion")


@pytest.fixture(scope="module")
def smoke(law_run):
    return law_run(LAW, SEED)


def _recursion(params, scale_cw: float = 1.0) -> Series:
    """The infinite-width recursion with C_W scaled (a plausible mistake), no shift."""
    curves = []
    for name, c_w, c_b in params.networks:
        K1 = c_b + c_w * params.q * np.array([[1, params.rho], [params.rho, 1]])
        K = kernel_recursion_gram(name, params.depth, c_w * scale_cw, c_b, K1)[-1]
        curves += [Curve("variance", name, [params.depth], [K[0, 0]]),
                   Curve("covariance", name, [params.depth], [K[0, 1]])]
    return Series.from_curves(curves)


def test_a_five_percent_error_in_C_W_is_refuted(smoke) -> None:
    params, _, measurement, foil, tol = smoke
    assert judge(_recursion(params, 1.05), measurement, foil, tol).outcome is Outcome.REFUTED


def test_the_shift_with_the_wrong_sign_is_refuted(smoke) -> None:
    """K − δ instead of K + δ (a sign slip in the second-order expansion)."""
    _, prediction, measurement, foil, tol = smoke
    wrong = Series(prediction.panel, prediction.curve, prediction.x,
                   2 * foil.y - prediction.y, prediction.stderr, prediction.units)
    assert judge(wrong, measurement, foil, tol).outcome is Outcome.REFUTED


def test_the_shift_is_resolved_at_smoke(smoke) -> None:
    """The measurement lies nearer K + δ than K at every point (δ is 10+ standard errors)."""
    _, prediction, measurement, foil, _ = smoke
    assert np.all(np.abs(measurement.y - prediction.y) < np.abs(measurement.y - foil.y))
    assert np.all(np.abs(prediction.y - foil.y) > 10 * measurement.stderr)


def test_measurement_matches_the_weight_sampler() -> None:
    """Brute force: the same law's moments from networks built weight by weight (the
    `weights` sampler) agree with the direct sampler the law uses, within 4.5 s.e."""
    params = LAW.parameters("smoke", {"members": 20_000})
    x = pair_inputs(params.q, params.rho)
    direct = LAW.measure(params, 11)
    z = sample_preactivations(x, depth=params.depth, width=params.width, activation="tanh",
                              C_W=1.0, C_b=0.0, members=4000, method="weights",
                              generator=torch.Generator().manual_seed(3),
                              layers=[params.depth])[0].double()
    for panel, per_net in (("variance", (z[:, 0] ** 2).mean(-1)),
                           ("covariance", (z[:, 0] * z[:, 1]).mean(-1))):
        at = (direct.panel == panel) & (direct.curve == "tanh")
        brute, se = per_net.mean().item(), per_net.std().item() / np.sqrt(len(per_net))
        assert abs(direct.y[at][0] - brute) < 4.5 * np.hypot(se, direct.stderr[at][0])


def test_tolerance_is_the_shift_times_kappa(smoke) -> None:
    """The band is far narrower than the shift: the foil lies > 2 tolerances away."""
    _, prediction, _, foil, tol = smoke
    assert np.all(np.abs(prediction.y - foil.y) > 2 * tol)
