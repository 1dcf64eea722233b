"""symmetry.scale_norm_dynamics — BatchNorm'd weights' squared norm follows Noether's dynamics.

Experiment. A small BatchNorm CNN (`lmech.models.BatchNormCNN`, float64, ε = 1e-30) is
trained on digits under three optimisers: full-batch GD (first `n_train` images),
minibatch SGD with weight decay, heavy ball with weight decay (at η(1 − β), so its
effective step matches); a regime's seeds train as one ensemble (`lmech.ensemble.train`,
each member's BatchNorm on its own batch). Each convolution's weight and bias (they feed a
BatchNorm) form a scale group, written out; `StepGeometry` records every step its squared
norm Q = ‖θ_A‖² and the gradient or momentum norms the prediction needs.

Prediction (docs/theory/symmetry.md, §Exact discrete updates): Q_{k+1} = (1 − ηλ)²Q_k +
η²‖g_k‖² without momentum, the (Q, ⟨θ, v⟩) recursion of `quadratic_charge_momentum`
driven by ‖v_{k+1}‖² with it; both exact given ⟨g_A, θ_A⟩ = 0. Measured: the source
fraction (Q_k − Q_k^free)/(Q̂_k − Q_k^free), the share of the predicted η² source the
norm shows (Q^free: the same recursion without source); 1 for the theory.

Foil: the conserved norm of gradient flow (decayed only by weight decay): fraction 0.

Tolerance (computed): only rounding (ε perturbs ⟨g, θ⟩ by ε/σ² ≈ 1e-30). Over K steps the
charge carries ≲ K·1e-16 of Q, ≲ K·1e-16·Q/(η²Σ‖g‖²) on the fraction: ≤ 2e-6 for
K ≤ 2·10⁴ and a source of at least 1e-6 of Q (checked). Declared: 1e-5; the foil is 1 away.

Source: Kunin, Sagastuy-Brena, Ganguli, Yamins & Tanaka, "Neural Mechanics", ICLR 2021
(arXiv:2012.04728), §5 (scale symmetry with weight decay, momentum and finite lr).
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
from lmech.laws.symmetry._charges import (
    REGIMES,
    digits_set,
    quadratic_charge,
    source_fraction,
    train_geometry,
)
from lmech.measure.stats import mean_estimate, record_steps
from lmech.models import BatchNormCNN, BatchNormCNNConfig

TOLERANCE = 1e-5
PANEL = "scale norm"
GROUPS = {"conv1": ["conv1.weight", "conv1.bias"], "conv2": ["conv2.weight", "conv2.bias"]}


class ScaleNormParams(LawParams):
    lr: float = Field(0.1, gt=0, le=1.0, description="learning rate η")
    weight_decay: float = Field(5e-3, gt=0, le=0.1, description="λ (second and third regime)")
    momentum: float = Field(0.9, gt=0, lt=1, description="β (third regime)")
    steps: int = Field(150, ge=2, le=20_000, description="optimiser steps per run")
    batch: int = Field(32, ge=2, le=1797, description="SGD minibatch size")
    n_train: int = Field(256, ge=8, le=1797, description="training images (GD uses all)")
    n_seeds: int = Field(4, ge=2, le=64, description="independent initialisations")
    n_points: int = Field(10, ge=1, description="recorded steps per curve")


class ScaleNormDynamics(AbstractLaw):
    claim = ("The squared norm of BatchNorm'd weights grows by exactly η²‖g‖² per step and "
             "decays by (1 − ηλ)² (heavy ball: the discrete damped oscillator) — not the "
             "conservation of gradient flow.")
    source = "Kunin et al., Neural Mechanics, ICLR 2021 (arXiv:2012.04728), §5"
    pillar = Pillar.SOLVABLE
    kind = Kind.IDENTITY  # ⟨g, θ⟩ = 0 by scale invariance: bookkeeping
    tolerance_basis = ToleranceBasis.computed(
        "float64 rounding accumulated over K steps, divided by the η² source")
    Params = ScaleNormParams
    budgets = {
        "smoke": dict(steps=12, n_seeds=2, n_points=3, n_train=64),
        "quick": {},
        "full": dict(steps=2000, n_seeds=8, n_points=40, n_train=1797),
    }
    panels = (Panel(PANEL, xlabel="step k", ylabel="measured share of the η² source"),)

    def _keys(self, params: ScaleNormParams) -> tuple[list[str], np.ndarray]:
        names = [f"{r.name}: {g}" for r in REGIMES for g in GROUPS]
        return names, _record_steps(params)

    def predict(self, params: ScaleNormParams) -> Series:
        names, steps = self._keys(params)
        return Series.from_curves(Curve(PANEL, n, steps, np.ones(steps.size)) for n in names)

    def foil(self, params: ScaleNormParams) -> Series:
        names, steps = self._keys(params)
        return Series.from_curves(Curve(PANEL, n, steps, np.zeros(steps.size)) for n in names)

    def tolerance(self, params: ScaleNormParams, prediction: Series) -> np.ndarray:
        return np.full(len(prediction), TOLERANCE)

    def measure(self, params: ScaleNormParams, seed: int, *, device: str = "cpu",
                progress: Progress = lambda f: None) -> Series:
        with single_thread():  # tiny networks: a second thread only adds contention
            return self._measure(params, seed, device, progress)

    def _measure(self, params: ScaleNormParams, seed: int, device: str,
                 progress: Progress) -> Series:
        steps = _record_steps(params)
        data = digits_set(params.n_train, flatten=False, device=device)
        n = params.n_seeds
        curves = []
        for r, regime in enumerate(REGIMES):
            ens = init_ensemble(BatchNormCNN(BatchNormCNNConfig()),
                                member_ids=range(r * n, (r + 1) * n), seed=seed,
                                init="torch", dtype=torch.float64, device=device)
            rec = train_geometry(ens, regime, data, GROUPS, lr=params.lr,
                                 weight_decay=params.weight_decay, momentum=params.momentum,
                                 steps=params.steps, batch=params.batch, seed=seed,
                                 progress=lambda f, r=r: progress((r + f) / len(REGIMES)))
            hyper = regime.hyper(params.lr, params.weight_decay, params.momentum)
            for g in GROUPS:
                charge, pred, free = quadratic_charge(rec, {g: 1.0}, hyper)
                est = mean_estimate(source_fraction(charge[:, steps], pred[:, steps],
                                                    free[:, steps]))
                curves.append(Curve(PANEL, f"{regime.name}: {g}", steps, est.value,
                                    est.stderr, est.units))
        progress(1.0)
        return Series.from_curves(curves)


def _record_steps(params: ScaleNormParams) -> np.ndarray:
    return record_steps(params.steps, params.n_points + 1)[1:]
