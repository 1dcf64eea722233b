"""dynamics.edge_of_stability: the thresholds against the optimisers' linear iterations,
wrong momentum conventions refuted, the ensemble run against a torch.optim loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lmech.ensemble import generator, init_ensemble
from lmech.errors import LmechError
from lmech.laws import Series, get_law
from lmech.laws._threads import single_thread
from lmech.laws.dynamics.edge_of_stability import _configs, late_sharpness
from lmech.measure import SharpnessTracker
from lmech.models import MLPConfig
from lmech.run import Outcome, judge
from lmech.tasks import gaussian_random_labels
from lmech.testing import SEED

LAW = get_law("dynamics.edge_of_stability")


@pytest.fixture(scope="module")
def smoke(law_run):
    return law_run(LAW, SEED)


def _spectral_radius(eta: float, beta: float, s: float) -> float:
    """Of heavy ball on the quadratic ½Sθ²: (θ_{k+1}, θ_k) = A (θ_k, θ_{k−1})."""
    a = np.array([[1 + beta - eta * s, -beta], [1.0, 0.0]])
    return float(np.abs(np.linalg.eigvals(a)).max())


def test_prediction_is_where_the_linear_iteration_turns_unstable() -> None:
    """An independent route: bisect the curvature at which the iteration's spectral radius
    crosses 1 (β = 0 is GD), and compare with (2 + 2β)/η."""
    params = LAW.parameters("quick")
    prediction = LAW.predict(params)
    for (_, _, eta, beta), want in zip(_configs(params), prediction.y, strict=True):
        lo, hi = 0.0, 10.0 / eta
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if _spectral_radius(eta, beta, mid) <= 1 + 1e-12 else (lo, mid)
        assert lo == pytest.approx(want, rel=1e-9)


def _with_heavy_ball(prediction: Series, params, factor) -> Series:
    """The prediction with heavy-ball points replaced by factor(β)/η."""
    y = prediction.y.copy()
    for i, (_, _, eta, beta) in enumerate(_configs(params)):
        if beta > 0:
            y[i] = factor(beta) / eta
    return Series(prediction.panel, prediction.curve, prediction.x, y, prediction.stderr,
                  prediction.units)


@pytest.mark.parametrize("factor", [
    lambda b: 2.0,  # momentum ignored: the GD threshold 2/η (the foil)
    lambda b: (2 + 2 * b) / (1 - b),  # the EMA-momentum convention m ← βm + (1 − β)g
    lambda b: (2 + 2 * b) / (1 + 2 * b),  # Nesterov's threshold for heavy ball's
], ids=["momentum-ignored", "EMA-convention", "Nesterov-threshold"])
def test_wrong_momentum_threshold_is_refuted(smoke, factor) -> None:
    params, prediction, measurement, foil, tol = smoke
    wrong = _with_heavy_ball(prediction, params, factor)
    verdict = judge(wrong, measurement, foil, tol, foilless_panels=LAW.foilless_panels())
    assert verdict.outcome is Outcome.REFUTED


def test_the_descent_lemma_curvature_is_refuted(smoke) -> None:
    """S = 1/η on the GD panel (the largest curvature at which the descent lemma's step
    η <= 1/L guarantees monotone descent) is refuted."""
    params, prediction, measurement, foil, tol = smoke
    gd = prediction.curve == "GD"
    wrong = Series(prediction.panel, prediction.curve, prediction.x,
                   np.where(gd, 0.5 * prediction.y, prediction.y), prediction.stderr,
                   prediction.units)
    verdict = judge(wrong, measurement, foil, tol, foilless_panels=LAW.foilless_panels())
    assert verdict.outcome is Outcome.REFUTED


def _torch_loop_late_sharpness(params, seed: int, member: int, eta: float, beta: float
                               ) -> float:
    """One member by torch.optim.SGD and `SharpnessTracker`, in the law's protocol."""
    ens = init_ensemble(MLPConfig(params.input_dim, params.width, params.depth, 1, "tanh"),
                        seed=seed, member_ids=[member], init="torch")
    model = ens.member(0)  # an ordinary nn.Module with the member's weights
    x, y = (t[0] for t in gaussian_random_labels(params.n_samples, params.input_dim,
                                                 [generator(seed, "data", member)],
                                                 label_scale=params.label_scale))
    opt = torch.optim.SGD(model.parameters(), lr=eta, momentum=beta)
    tracker = SharpnessTracker(model, nn.functional.mse_loss, (x, y),
                               every=params.measure_every, tol=1e-6)
    first = params.steps - int(params.window * params.steps)
    for it in range(params.steps + 1):
        if it >= first:
            tracker.step(it - first)
        if it == params.steps:
            break
        for group in opt.param_groups:
            group["lr"] = eta * min(1.0, (it + 1) / params.warmup)
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    return float(np.mean(tracker.sharpness_))


def test_ensemble_run_equals_a_torch_optim_loop_per_member() -> None:
    """Before the edge (a short run), every member of the stacked run is the network a
    plain torch.optim loop trains from the same weights and data, to float32 rounding."""
    params = LAW.parameters("smoke", {"steps": 60, "warmup": 20, "window": 0.5,
                                      "measure_every": 10, "n_seeds": 2})
    with single_thread():  # tiny tensors: a second thread only waits
        late, traj = late_sharpness(params, seed=3)
        want = [[_torch_loop_late_sharpness(params, 3, c * params.n_seeds + j, eta, beta)
                 for j in range(params.n_seeds)]
                for c, (_, _, eta, beta) in enumerate(_configs(params))]
    assert traj.loss.shape[0] == late.size
    np.testing.assert_allclose(late, want, rtol=1e-4)


def test_parameters_are_checked() -> None:
    with pytest.raises(LmechError, match="learning_rates"):
        LAW.parameters("smoke", {"learning_rates": (0.1, -0.2)})
    with pytest.raises(LmechError, match="learning_rates"):
        LAW.parameters("smoke", {"momentum_learning_rates": (0.0,)})
    with pytest.raises(LmechError, match="momenta"):
        LAW.parameters("smoke", {"momenta": (1.0,)})
    with pytest.raises(LmechError, match="warmup"):
        LAW.parameters("smoke", {"warmup": 590})
    with pytest.raises(LmechError, match="unknown activation"):
        LAW.parameters("smoke", {"activation": "nope"})
