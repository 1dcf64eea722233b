"""symmetry.translation — the summed logit-layer parameters decay exactly as weight decay says.

Experiment. A one-hidden-layer ReLU network (64 → `width` → 10, float64) is trained on
scikit-learn's digits with softmax cross-entropy by minibatch SGD in three regimes:
without weight decay, with weight decay, with heavy-ball momentum and weight decay.
`detect` finds the translation group (the logit layer's weight and bias: softmax ignores
adding c·1 to the logits) and a `NoetherTracker` records its charge x = ⟨θ_A, 1⟩. The
layer starts translated along the symmetry (every weight + 0.1, every bias + 1 — which
changes no output), so x_0 is far from 0 and x_k/x_0 is well defined.

Prediction (docs/theory/symmetry.md, §Exact discrete updates): the gradient drops out
(⟨g_A, 1⟩ = 0), so x_k/x_0 follows the
source-free recursion of `lmech.theory.translation_charge_sgd`: exactly 1 without weight
decay, (1 − ηλ)^k with it, and the discrete damped oscillator with momentum — the same
for every seed and every data set.

Foil: the issue's foil is the unconstrained drift of a group without the symmetry (the
tests show the hidden layer's summed parameters leave this prediction by far more than
the tolerance), but such a drift has no parameter-free value. The law uses its strongest
parameter-free stand-in: conservation, x_k/x_0 = 1 (the gradient-flow answer, weight decay
ignored). With weight decay the measurement rejects it; without weight decay theory and
foil coincide, as they must — that regime checks conservation itself.

Tolerance: the recursion is exact; neglected is rounding. ⟨g_A, 1⟩ = Σ_i (p_i − y_i) is
~1e-16 per sample, and each step rounds θ at ~1e-16, so after K steps x_k/x_0 carries
≲ K·1e-16·(1 + η‖g‖_1/|x_0|) ≤ 1e-11 for K ≤ 2·10⁴ and |x_0| ≳ 1. Declared: 1e-9.

Source: Kunin et al., "Neural Mechanics", ICLR 2021 (arXiv:2012.04728), §5 (translation).
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field

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
from lmech.laws.symmetry._nets import (
    build,
    digits_mlp,
    mean_and_stderr,
    symmetries_of,
    train_tracked,
)
from lmech.theory.noether import translation_charge_sgd

TOLERANCE = 1e-9
PANEL = "translation charge"
REGIMES = ("SGD", "SGD + weight decay", "SGD + momentum + weight decay")


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
            opt = _optimiser(params, regime)
            x = translation_charge_sgd(1.0, opt["lr"], opt.get("weight_decay", 0.0),
                                       opt.get("momentum", 0.0), steps=params.steps)
            curves.append(Curve(PANEL, regime, steps, x[steps]))
        return Series.from_curves(curves)

    def foil(self, params: TranslationParams) -> Series:
        steps = _record_steps(params)
        return Series.from_curves(Curve(PANEL, r, steps, np.ones(steps.size)) for r in REGIMES)

    def tolerance(self, params: TranslationParams, prediction: Series) -> np.ndarray:
        return np.full(len(prediction), TOLERANCE)

    def measure(self, params: TranslationParams, seed: int, *, device: str = "cpu",
                progress: Progress = lambda f: None) -> Series:
        del device  # CPU float64 by design: the law tests an identity to rounding level
        with single_thread():  # tiny networks: a second thread only adds contention
            return self._measure(params, seed, progress)

    def _measure(self, params: TranslationParams, seed: int, progress: Progress) -> Series:
        steps = _record_steps(params)
        curves = []
        for r, regime in enumerate(REGIMES):
            ratios = []
            for s in range(params.n_seeds):
                gen = torch.Generator().manual_seed(seed * 1000 + s)
                net = build(lambda: digits_mlp(params.width), gen)
                with torch.no_grad():  # a translation: the softmax output is unchanged
                    net[2].weight.add_(0.1)
                    net[2].bias.add_(1.0)
                rec = train_tracked(net, symmetries_of(net, "translation", True),
                                    flatten=True, steps=params.steps, generator=gen,
                                    cadence=1, n_train=1797, **_optimiser(params, regime))
                x = rec.set_index("step").charge
                ratios.append(x.loc[steps].to_numpy() / x.loc[0])
                progress((r * params.n_seeds + s + 1) / (3 * params.n_seeds))
            mean, se = mean_and_stderr(np.array(ratios))
            curves.append(Curve(PANEL, regime, steps, mean, se, params.n_seeds))
        return Series.from_curves(curves)


def _optimiser(params: TranslationParams, regime: str) -> dict:
    if regime == "SGD":
        return dict(lr=params.lr, batch=params.batch)
    if regime == "SGD + weight decay":
        return dict(lr=params.lr, batch=params.batch, weight_decay=params.weight_decay)
    return dict(lr=params.lr * (1 - params.momentum), batch=params.batch,
                weight_decay=params.weight_decay, momentum=params.momentum)


def _record_steps(params: TranslationParams) -> np.ndarray:
    return np.unique(np.linspace(0, params.steps, params.n_points + 1).round().astype(int))[1:]
