"""symmetry.translation — the summed logit-layer parameters decay exactly as weight decay says.

Experiment. A one-hidden-layer ReLU network (64 → `width` → 10, float64) is trained on
digits with cross-entropy by minibatch SGD without weight decay, with it, and with heavy
ball and weight decay; a regime's seeds train as one ensemble (`lmech.ensemble.train`).
The translation group is written out (the logit layer's weight and bias: softmax ignores
adding c·1 to the logits); `StepGeometry` records its charge x = ⟨θ_A, 1⟩ every step. The
layer starts translated along the symmetry (weights + 0.1, biases + 1: the same function),
so x_0 is far from 0.

Prediction (docs/theory/symmetry.md, §Exact discrete updates): the gradient drops out
(⟨g_A, 1⟩ = 0), so x_k/x_0 follows the source-free `translation_charge_sgd`: 1 without
weight decay, (1 − ηλ)^k with it, the discrete damped oscillator with momentum — the same
for every seed and data set.

Foil: conservation, x_k/x_0 = 1 (gradient flow with weight decay ignored), the
parameter-free stand-in for the drift of a group without the symmetry (the tests show the
hidden layer's sum leaves this prediction by far more than the tolerance). Without weight
decay theory and foil coincide: that regime checks conservation itself.

Tolerance (computed): rounding only. ⟨g_A, 1⟩ = Σ_i (p_i − y_i) is ~1e-16 per sample and
each step rounds θ at ~1e-16, so x_k/x_0 carries ≲ K·1e-16·(1 + η‖g‖_1/|x_0|) ≤ 1e-11 for
K ≤ 2·10⁴ and |x_0| ≳ 1. Declared: 1e-9.

Source: Kunin et al., "Neural Mechanics", ICLR 2021 (arXiv:2012.04728), §5 (translation).
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field

from lmech.ensemble import init_ensemble
from lmech.laws import (
    AbstractLaw,
    Curve,
    Kind,
    LawParams,
    Panel,
    Pillar,
    Progress,
    Series,
    ToleranceBasis,
)
from lmech.laws._threads import single_thread
from lmech.laws.symmetry._charges import Regime, digits_set, train_geometry
from lmech.measure.stats import mean_estimate, record_steps
from lmech.models import MLPConfig
from lmech.theory.noether import translation_charge_sgd

TOLERANCE = 1e-9
PANEL = "translation charge"
REGIMES = (Regime("SGD", minibatch=True, decay=False, momentum=False),
           Regime("SGD + weight decay", minibatch=True, decay=True, momentum=False),
           Regime("SGD + momentum + weight decay", minibatch=True, decay=True, momentum=True))
LOGITS = ["layers.1.weight", "layers.1.bias"]


class TranslationParams(LawParams):
    width: int = Field(32, ge=2, le=1024, description="hidden ReLU units")
    lr: float = Field(0.1, gt=0, le=1.0, description="learning rate η")
    weight_decay: float = Field(0.02, gt=0, le=0.5, description="λ (second and third regime)")
    momentum: float = Field(0.9, gt=0, lt=1, description="β (third regime)")
    steps: int = Field(300, ge=2, le=20_000, description="optimiser steps per run")
    batch: int = Field(32, ge=2, le=1797, description="SGD minibatch size")
    n_seeds: int = Field(4, ge=2, le=64, description="independent initialisations")
    n_points: int = Field(12, ge=1, description="recorded steps per curve")


class Translation(AbstractLaw):
    claim = ("The summed logit-layer parameters ignore the gradient: conserved without "
             "weight decay, shrinking exactly as (1 − ηλ)^k with it (the damped oscillator "
             "with momentum).")
    source = "Kunin et al., Neural Mechanics, ICLR 2021 (arXiv:2012.04728), §5"
    pillar = Pillar.SOLVABLE
    kind = Kind.IDENTITY  # the summed logit parameters ignore the gradient exactly
    tolerance_basis = ToleranceBasis.computed(
        "float64 rounding of the gradient's sum and of each step over K steps")
    Params = TranslationParams
    budgets = {
        "smoke": dict(steps=20, n_seeds=2, n_points=4, width=16, weight_decay=0.2),
        "quick": {},
        "full": dict(steps=3000, n_seeds=8, n_points=40, width=64, weight_decay=0.005),
    }
    panels = (Panel(PANEL, xlabel="step k", ylabel="x_k / x_0, x = ⟨θ_logits, 1⟩"),)

    def predict(self, params: TranslationParams) -> Series:
        steps = _record_steps(params)
        curves = []
        for regime in REGIMES:
            eta, lam, beta = regime.hyper(params.lr, params.weight_decay, params.momentum)
            x = translation_charge_sgd(1.0, eta, lam, beta, steps=params.steps)
            curves.append(Curve(PANEL, regime.name, steps, x[steps]))
        return Series.from_curves(curves)

    def foil(self, params: TranslationParams) -> Series:
        steps = _record_steps(params)
        return Series.from_curves(Curve(PANEL, r.name, steps, np.ones(steps.size))
                                  for r in REGIMES)

    def tolerance(self, params: TranslationParams, prediction: Series) -> np.ndarray:
        return np.full(len(prediction), TOLERANCE)

    def measure(self, params: TranslationParams, seed: int, *, device: str = "cpu",
                progress: Progress = lambda f: None) -> Series:
        with single_thread():  # tiny networks: a second thread only adds contention
            return self._measure(params, seed, device, progress)

    def _measure(self, params: TranslationParams, seed: int, device: str,
                 progress: Progress) -> Series:
        steps = _record_steps(params)
        data = digits_set(1797, flatten=True, device=device)
        n = params.n_seeds
        curves = []
        for r, regime in enumerate(REGIMES):
            ens = init_ensemble(MLPConfig(64, params.width, 1, 10, activation="relu"),
                                member_ids=range(r * n, (r + 1) * n), seed=seed,
                                init="torch", dtype=torch.float64, device=device)
            ens.params["layers.1.weight"] += 0.1  # a translation: the softmax is unchanged
            ens.params["layers.1.bias"] += 1.0
            rec = train_geometry(ens, regime, data, {"logits": LOGITS}, lr=params.lr,
                                 weight_decay=params.weight_decay, momentum=params.momentum,
                                 steps=params.steps, batch=params.batch, seed=seed,
                                 progress=lambda f, r=r: progress((r + f) / len(REGIMES)))
            last = sum(ens.params[k].flatten(1).sum(1) for k in LOGITS)  # x after the last step
            x = torch.cat([rec["theta_sum"][:, :, 0], last.double().cpu()[:, None]], 1).numpy()
            est = mean_estimate(x[:, steps] / x[:, :1])
            curves.append(Curve(PANEL, regime.name, steps, est.value, est.stderr, est.units))
        progress(1.0)
        return Series.from_curves(curves)


def _record_steps(params: TranslationParams) -> np.ndarray:
    return record_steps(params.steps, params.n_points + 1)[1:]
