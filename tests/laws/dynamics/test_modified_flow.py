"""dynamics.modified_flow: wrong regularisers refuted, the flows against a high-order ODE
solver and GD against a plain loop on each member, bad input named."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from lmech.errors import LmechError
from lmech.laws import Series, get_law
from lmech.laws._threads import single_thread
from lmech.laws.dynamics.modified_flow import QUANTITIES, flow_landscapes, networks
from lmech.run import Outcome, judge
from lmech.testing import SEED

LAW = get_law("dynamics.modified_flow")


@pytest.fixture(scope="module")
def smoke(law_run):
    return law_run(LAW, SEED)


@pytest.mark.parametrize("share", [2.0, 0.5], ids=["regulariser-eta/2", "regulariser-eta/8"])
def test_a_wrong_regulariser_is_refuted(smoke, share) -> None:
    """GD following the flow of L + (c·η)‖∇L‖² realises c/(1/4) of the (η/4) flow's shift:
    r = 2 for c = 1/2 (a factor-2 slip), r = 1/2 for c = 1/8."""
    _, prediction, measurement, foil, tol = smoke
    wrong = Series(prediction.panel, prediction.curve, prediction.x,
                   np.full(len(prediction), share), prediction.stderr, prediction.units)
    assert judge(wrong, measurement, foil, tol).outcome is Outcome.REFUTED


def _member(start, i):
    """Member i's loss L(θ) on its data, as a function of its flat parameters (numpy)."""
    names = list(start.params)
    shapes = [start.params[k][i].shape for k in names]
    net = start.member(i)

    def loss(theta, x, y):
        pieces = torch.split(theta, [s.numel() for s in shapes])
        p = {k: v.view(s) for k, v, s in zip(names, pieces, shapes, strict=True)}
        out = torch.func.functional_call(net, p, (x,))
        return (out - y).square().mean()

    flat = torch.cat([start.params[k][i].flatten() for k in names])
    return loss, flat


def _observed(loss, theta, x, y) -> list[float]:
    """Loss, ‖∇L‖² and λ_max by dense autograd, in `QUANTITIES` order."""
    t = torch.from_numpy(theta)
    g = torch.func.grad(loss)(t, x, y)
    h = torch.autograd.functional.hessian(lambda v: loss(v, x, y), t)
    return [loss(t, x, y).item(), (g @ g).item(), torch.linalg.eigvalsh(h)[-1].item()]


def _end_points(loss, theta0: np.ndarray, x, y, eta: float, t_end: float) -> dict:
    """GD by a flat-parameter loop; GF and the flow of L + (η/4)‖∇L‖² by DOP853."""

    def grad(theta, c):
        t = torch.from_numpy(theta).requires_grad_()
        g = torch.autograd.grad(loss(t, x, y), t, create_graph=c > 0)[0]
        if c > 0:
            g = g + torch.autograd.grad(c * (g @ g), t)[0]
        return g.detach().numpy()

    theta = theta0.copy()
    for _ in range(round(t_end / eta)):
        theta = theta - eta * grad(theta, 0.0)
    ends = {"GD": theta}
    for run, c in (("GF", 0.0), ("MF", eta / 4)):
        sol = solve_ivp(lambda _t, th, c=c: -grad(th, c), (0.0, t_end), theta0,
                        method="DOP853", rtol=1e-8, atol=1e-10)
        ends[run] = sol.y[:, -1]
    return ends


def test_measurement_equals_dop853_flows_and_a_plain_gd_loop() -> None:
    """A member's GD (a flat-parameter loop), gradient flow and modified flow (DOP853 at
    rtol 1e-8, gradients of L and of L + (η/4)‖∇L‖² by autograd) give the landscape the
    law measured: GD to rounding, the flows to within 10⁻³ of the modified flow's shift."""
    params = LAW.parameters("smoke", {"learning_rates": (0.05,), "times": (1.0,), "width": 6,
                                      "input_dim": 3, "flow_substeps": 8, "n_seeds": 2})
    eta, t_end = params.learning_rates[0], params.times[0]
    assert list(QUANTITIES) == ["loss", "grad_sq", "sharpness"]
    with single_thread():  # tiny tensors: a second thread only waits
        measured = flow_landscapes(params, seed=3)  # (3, Q, T, M)
        start, xs, ys = networks(params, seed=3)
        cases = [(_member(start, i), xs[i], ys[i]) for i in (1,)]
        ends = [_end_points(loss, flat.numpy(), x, y, eta, t_end)
                for (loss, flat), x, y in cases]
        wants = [{run: np.array(_observed(loss, e, x, y)) for run, e in end.items()}
                 for ((loss, _), x, y), end in zip(cases, ends, strict=True)]
    for i, want in zip((1,), wants, strict=True):
        np.testing.assert_allclose(measured[0, :, 0, i], want["GD"], rtol=1e-10)
        shift = np.abs(want["MF"] - want["GF"])  # what the law resolves
        for r, run in ((1, "MF"), (2, "GF")):
            assert np.all(np.abs(measured[r, :, 0, i] - want[run]) < 1e-3 * shift)


def test_parameters_are_checked() -> None:
    with pytest.raises(LmechError, match="whole number of steps"):
        LAW.parameters("smoke", {"times": (0.03,)})
    with pytest.raises(LmechError, match="learning_rates"):
        LAW.parameters("smoke", {"learning_rates": (0.05, -0.1)})
    with pytest.raises(LmechError, match="unknown activation"):
        LAW.parameters("smoke", {"activation": "nope"})
