"""Adams–Bashforth gradient flow: the classical coefficients, the order of convergence
against the exact flow of a quadratic, the doubling start, the engine, bad arguments."""

from __future__ import annotations

import math

import pytest
import torch

from lmech.ensemble import Ensemble, train
from lmech.ensemble.optim.flow import AdamsBashforth, _weights, doubling_start
from lmech.errors import LmechError
from lmech.models import MLP, MLPConfig

CLASSICAL = {1: [1.0], 2: [3 / 2, -1 / 2], 3: [23 / 12, -16 / 12, 5 / 12],
             4: [55 / 24, -59 / 24, 37 / 24, -9 / 24]}


@pytest.mark.parametrize("q", [1, 2, 3, 4])
def test_equal_steps_give_the_classical_coefficients(q) -> None:
    h = torch.tensor([0.1, 0.3], dtype=torch.float64)
    w = _weights([h] * q)
    want = torch.tensor(CLASSICAL[q], dtype=torch.float64)
    torch.testing.assert_close(w, h[:, None] * want, rtol=1e-12, atol=0)


def _quadratic_flow_error(q: int, n: int, start: int | None) -> float:
    """θ̇ = −Aθ on a 2-d quadratic from θ₀ to t = 1, against exp(−A)θ₀ (max abs error)."""
    a = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    theta0 = torch.tensor([[1.0, -1.0]], dtype=torch.float64)
    exact = theta0 @ torch.linalg.matrix_exp(-a)
    opt = AdamsBashforth(lr=1 / n, order=q,
                         schedule=None if start is None else doubling_start(start))
    p = {"w": theta0.clone()}
    state = opt.init(p)
    for _ in range(n + (start or 0)):
        p, state = opt.update({"w": p["w"] @ a}, state, p)
    return float((p["w"] - exact).abs().max())


@pytest.mark.parametrize("q,start,order", [(1, None, 1), (2, None, 2), (3, None, 2),
                                           (3, 6, 3), (4, 8, 4)])
def test_convergence_order_against_the_exact_flow(q, start, order) -> None:
    """Halving h divides the error by 2^order; a cold start at full step caps it at 2."""
    coarse = _quadratic_flow_error(q, 20, start)
    fine = _quadratic_flow_error(q, 40, start)
    assert math.log2(coarse / fine) == pytest.approx(order, abs=0.15)


def test_doubling_start_sums_to_one_step() -> None:
    factors = [doubling_start(5)(t) for t in range(8)]
    assert sum(factors[:6]) == 1.0 and factors[6:] == [1.0, 1.0]
    assert doubling_start(0)(0) == 1.0


def test_engine_integrates_each_member_with_its_own_step(generator) -> None:
    """Through `train`, member i with step h_i is the same flow run alone with h_i."""
    net = MLP(MLPConfig(3, 5, 1, 1, "tanh")).double()
    params = {k: torch.randn(2, *v.shape, generator=generator, dtype=torch.float64)
              for k, v in net.named_parameters()}
    x = torch.randn(10, 3, generator=generator, dtype=torch.float64)
    y = torch.randn(10, 1, generator=generator, dtype=torch.float64)
    steps = torch.tensor([0.01, 0.02], dtype=torch.float64)
    both = Ensemble(net, {k: v.clone() for k, v in params.items()})
    train(both, x, y, optimizer=AdamsBashforth(lr=steps, schedule=doubling_start(3)),
          steps=20)
    for i in range(2):
        alone = Ensemble(net, {k: v[i:i + 1].clone() for k, v in params.items()})
        train(alone, x, y, optimizer=AdamsBashforth(lr=float(steps[i]),
                                                    schedule=doubling_start(3)), steps=20)
        for k in params:
            torch.testing.assert_close(both.params[k][i], alone.params[k][0], rtol=1e-12,
                                       atol=1e-14)


@pytest.mark.parametrize("make,name", [
    (lambda: AdamsBashforth(lr=0.1, order=5).init({"w": torch.zeros(2, 3)}), "order"),
    (lambda: AdamsBashforth(lr=0.0).init({"w": torch.zeros(2, 3)}), "lr"),
    (lambda: doubling_start(-1), "doubling_start"),
])
def test_bad_arguments_are_named(make, name) -> None:
    with pytest.raises(LmechError, match=name):
        make()
