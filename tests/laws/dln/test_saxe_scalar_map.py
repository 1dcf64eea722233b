"""dln.saxe_scalar_map: the engine against a plain torch loop, wrong clocks broken, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmech.ensemble import Ensemble, generator
from lmech.errors import LmechError
from lmech.laws import Curve, Series, get_law
from lmech.laws.dln._modes import member_teachers, train_mode_strengths
from lmech.models import MLP, deep_linear
from lmech.run import Outcome, judge
from lmech.tasks import whitened_inputs
from lmech.testing import SEED
from lmech.theory import saxe_discrete_mode_strength

LAW = get_law("dln.saxe_scalar_map")


@pytest.fixture(scope="module")
def smoke(law_run):
    return law_run(LAW, SEED)


def _plain_torch_strengths(w1, w2, x, teacher_map, U, V, eta, steps) -> np.ndarray:
    """One network, trained by a hand-written loop on Saxe's loss with torch autograd."""
    w1 = w1.clone().requires_grad_(True)
    w2 = w2.clone().requires_grad_(True)
    y = x @ teacher_map.T
    out = []
    for _ in range(steps + 1):
        with torch.no_grad():
            out.append((U.T @ (w2 @ w1) @ V).diagonal().clone())
        loss = 0.5 * (x @ w1.T @ w2.T - y).square().sum(-1).mean()
        g1, g2 = torch.autograd.grad(loss, (w1, w2))
        with torch.no_grad():
            w1 -= eta * g1
            w2 -= eta * g2
    return torch.stack(out).numpy()


def test_engine_matches_a_plain_torch_loop() -> None:
    """Oracle: the engine's trajectory (mse at η·n_out/2) equals hand-written gradient
    descent on ½ mean |y − W x|², from a random (not decoupled) start, to 1e-10."""
    teacher = member_teachers(3, [0, 1], 4, 3, (2.0, 1.0), "cpu")
    x = torch.randn(2, 20, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    g = torch.Generator().manual_seed(2)
    w1 = 0.3 * torch.randn(2, 5, 4, generator=g, dtype=torch.float64)
    w2 = 0.3 * torch.randn(2, 3, 5, generator=g, dtype=torch.float64)
    net = MLP(deep_linear(4, 5, 1, 3)).double()
    ens = Ensemble(net, {"layers.0.weight": w1.clone(), "layers.1.weight": w2.clone()})
    u = train_mode_strengths(ens, x, teacher, learning_rate=0.05, steps=30, seed=0,
                             progress=lambda f: None)
    for m in range(2):
        plain = _plain_torch_strengths(w1[m], w2[m], x[m], teacher.map[m], teacher.U[m],
                                       teacher.V[m], 0.05, 30)
        np.testing.assert_allclose(u[:, m], plain, rtol=1e-10, atol=1e-13)


def test_whitened_inputs_per_member_are_whitened() -> None:
    x = whitened_inputs(16, 4, generator=generator(0, "data", 5))
    torch.testing.assert_close(x[0].T @ x[0] / 16, torch.eye(4, dtype=x.dtype))


def _with_clock(prediction: Series, eta_factor: float, params) -> Series:
    """The discrete map with a wrong step (η·factor): a wrong clock."""
    steps = np.unique(np.round(prediction.x / params.learning_rate).astype(int))
    u = saxe_discrete_mode_strength(int(steps[-1]), params.spectrum, params.u0,
                                    params.learning_rate * eta_factor)
    return Series.from_curves([Curve(c.panel, c.name, c.x, u[steps, a])
                               for a, c in enumerate(prediction.curves())])


@pytest.mark.parametrize("factor", [2.0, 1.001])
def test_a_wrong_clock_is_broken(smoke, factor) -> None:
    """The (τ/s)-convention clock (2×), and even a 0.1 % error in η, break the identity."""
    params, prediction, measurement, foil, tol = smoke
    wrong = _with_clock(prediction, factor, params)
    assert judge(wrong, measurement, foil, tol, kind="identity").outcome is Outcome.BROKEN


def test_parameters_are_checked() -> None:
    with pytest.raises(LmechError, match="width.*greater than or equal to 1"):
        LAW.parameters("smoke", {"width": -3})
    with pytest.raises(LmechError, match="at most min"):
        LAW.parameters("smoke", {"width": 1})
    with pytest.raises(LmechError, match="learning_rate"):
        LAW.parameters("smoke", {"learning_rate": 0.5})
    with pytest.raises(LmechError, match="u0 must be"):
        LAW.parameters("smoke", {"u0": 5.0})
