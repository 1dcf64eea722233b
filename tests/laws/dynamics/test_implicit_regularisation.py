"""dynamics.implicit_regularisation: derivatives by brute force, the engine's GD against a
flat-parameter loop, wrong theories refuted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmech.errors import LmechError
from lmech.laws import Series, get_law
from lmech.laws.dynamics.implicit_regularisation import _flows, _Problem
from lmech.run import Outcome, judge
from lmech.testing import SEED

LAW = get_law("dynamics.implicit_regularisation")


@pytest.fixture(scope="module")
def smoke(law_run):
    return law_run(LAW, SEED)


def test_third_derivative_by_finite_differences(rng) -> None:
    """∇³L[g, g] = ∇_θ(gᵀH(θ)g) at fixed g, against central differences of gᵀH(θ)g."""
    prob = _Problem(LAW.parameters("smoke"))
    theta = prob.theta0.numpy() + 0.1 * rng.standard_normal(prob.theta0.numel())
    g, hw, hg, h2g, d3 = prob.derivatives(theta, np.ones_like(theta))
    _, _, hg_again, _, _ = prob.derivatives(theta)
    np.testing.assert_allclose(hg, hg_again, rtol=1e-12)
    hess = np.stack([prob.derivatives(theta, e)[1] for e in np.eye(theta.size)])
    np.testing.assert_allclose(h2g, hess @ hess @ g, rtol=1e-9, atol=1e-12)

    def ghg(t: np.ndarray) -> float:
        return float(g @ prob.derivatives(t, g)[1])

    eps = 1e-5
    fd = np.array([(ghg(theta + eps * e) - ghg(theta - eps * e)) / (2 * eps)
                   for e in np.eye(theta.size)])
    np.testing.assert_allclose(d3, fd, rtol=1e-5, atol=1e-8)


def test_engine_gradient_descent_equals_a_flat_parameter_loop() -> None:
    """The ensemble run (rotated members, mapped back) against θ ← θ − η∇L on the flat
    parameters of the unrotated problem, by autograd: equal to float64 rounding."""
    params = LAW.parameters("smoke")
    prob = _Problem(params)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(5),
                                       dtype=torch.float64))
    rots = [torch.eye(3, dtype=torch.float64), q]
    eta, steps = 0.1, 10
    ends = prob.gradient_descent(eta, steps, rots, seed=0, device="cpu")
    theta = prob.theta0.clone()
    for _ in range(steps):
        t = theta.requires_grad_()
        theta = (t - eta * torch.autograd.grad(prob.loss(t), t)[0]).detach()
    for end in ends:
        np.testing.assert_allclose(end, theta.numpy(), rtol=0, atol=1e-13)


def _replace(prediction: Series, to_gf, to_mf) -> Series:
    y = np.where(prediction.curve == "GD to gradient flow", to_gf, to_mf)
    return Series(prediction.panel, prediction.curve, prediction.x, y, prediction.stderr,
                  prediction.units)


def test_twice_the_regulariser_is_refuted(smoke) -> None:
    """A modified loss L + (η/2)‖∇L‖² (a factor-2 slip) puts GD twice as far from GF."""
    params, prediction, measurement, foil, tol = smoke
    mf_gap = np.tile(_flows(params)["mf_gap"], 2)
    wrong = _replace(prediction, 2 * mf_gap, mf_gap)
    assert judge(wrong, measurement, foil, tol, kind="identity").outcome is Outcome.BROKEN


def test_a_wrong_second_order_term_is_refuted() -> None:
    """A second-order coefficient ‖w‖ off by 25 % is refuted at the small learning rates."""
    params = LAW.parameters("quick", {"learning_rates": (0.025, 0.0125)})
    prediction = LAW.predict(params)
    measurement = LAW.measure(params, 0)
    tol = LAW.tolerance(params, prediction)
    mf = prediction.curve == "GD to modified flow"
    wrong_y = prediction.y.copy()
    wrong_y[mf] *= 1.25
    wrong = Series(prediction.panel, prediction.curve, prediction.x, wrong_y, prediction.stderr,
                   prediction.units)
    verdict = judge(wrong, measurement, LAW.foil(params), tol, kind="identity")
    assert verdict.outcome is Outcome.BROKEN


def test_parameters_are_checked() -> None:
    with pytest.raises(LmechError, match="learning_rates"):
        LAW.parameters("smoke", {"learning_rates": (0.1, 0.0)})
    with pytest.raises(LmechError, match="whole number of steps"):
        LAW.parameters("smoke", {"learning_rates": (0.3,)})
