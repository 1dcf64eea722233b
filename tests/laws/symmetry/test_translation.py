"""symmetry.translation: wrong decay conventions refuted; a group without the symmetry
leaves the prediction (the issue's foil in words)."""

from __future__ import annotations

import numpy as np
import torch

from lmech.ensemble import init_ensemble
from lmech.laws import Curve, Series, get_law
from lmech.laws.symmetry._charges import Regime, digits_set, train_geometry
from lmech.laws.symmetry.translation import TOLERANCE
from lmech.models import MLPConfig
from lmech.run import Outcome, judge
from lmech.theory.noether import translation_charge_sgd

LAW = get_law("symmetry.translation")


def test_wrong_conventions_are_refuted(law_run) -> None:
    """Continuous-time decay e^{−ληk}, and decay that ignores momentum, are both refuted."""
    params, prediction, measurement, foil, tol = law_run(LAW, 3)
    assert judge(prediction, measurement, foil, tol, kind="identity").outcome is Outcome.HOLDS
    lam, beta = params.weight_decay, params.momentum

    def continuous(c):
        if c.name == "SGD":
            return np.ones(len(c.x))
        lr = params.lr * (1 - beta) if "momentum" in c.name else params.lr
        rate = lr * lam / (1 - beta) if "momentum" in c.name else lr * lam
        return np.exp(-rate * np.asarray(c.x))

    def no_momentum(c):
        if "momentum" not in c.name:
            return np.asarray(c.y)
        return (1 - params.lr * (1 - beta) * lam) ** np.asarray(c.x)

    for wrong in (continuous, no_momentum):
        series = Series.from_curves(Curve(c.panel, c.name, c.x, wrong(c))
                                    for c in prediction.curves())
        assert judge(series, measurement, foil, tol, kind="identity").outcome is \
            Outcome.BROKEN, wrong.__name__


def test_a_group_without_the_symmetry_drifts() -> None:
    """The hidden layer's summed parameters, trained the same way, leave the translation
    prediction by far more than the law's tolerance (their gradient has ⟨g, 1⟩ ≠ 0)."""
    steps, lr, wd = 30, 0.1, 0.02
    ens = init_ensemble(MLPConfig(64, 16, 1, 10, activation="relu"), members=2, seed=0,
                        init="torch", dtype=torch.float64)
    groups = {"logits": ["layers.1.weight", "layers.1.bias"],
              "hidden": ["layers.0.weight", "layers.0.bias"]}  # no symmetry
    regime = Regime("SGD + weight decay", minibatch=True, decay=True, momentum=False)
    rec = train_geometry(ens, regime, digits_set(1797, flatten=True, device="cpu"), groups,
                         lr=lr, weight_decay=wd, momentum=0.0, steps=steps, batch=32, seed=0,
                         progress=lambda f: None)
    x = rec["theta_sum"].numpy()  # (M, K, G)
    pred = translation_charge_sgd(1.0, lr, wd, steps=steps)[:steps]
    gap = np.abs(x / x[:, :1] - pred[None, :, None]).max((0, 1))
    assert gap[0] < TOLERANCE < 1e3 * TOLERANCE < gap[1], gap
