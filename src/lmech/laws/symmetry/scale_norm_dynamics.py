"""symmetry.scale_norm_dynamics — BatchNorm'd weights' squared norm follows Noether's dynamics.

Experiment. A small CNN with BatchNorm (conv → BN → ReLU → pool → conv → BN → ReLU →
mean → linear, float64) is trained on scikit-learn's digits under three optimisers:
full-batch gradient descent (on the first `n_train` images), minibatch SGD with weight
decay, and heavy-ball SGD with weight decay (at learning rate η(1 − β), so its effective
step matches the others). `lmech.measure.detect` finds the
scale-invariant groups (each conv's weight and bias, which feed a BatchNorm), and a
`NoetherTracker` records each group's squared norm Q = ‖θ_A‖² with the gradient or
momentum norms the prediction needs.

Prediction (docs/theory/symmetry.md, §Exact discrete updates): without momentum
Q_{k+1} = (1 − ηλ)² Q_k + η² ‖g_k‖²; with momentum the (Q, ⟨θ, v⟩) recursion of
`lmech.theory.quadratic_charge_momentum`, driven by ‖v_{k+1}‖². Both follow from the
PyTorch update and ⟨g_A, θ_A⟩ = 0. The measured quantity is the *source fraction*
(Q_k − Q_k^free)/(Q̂_k − Q_k^free): how much of the predicted η² (kinetic) source the
measured norm shows, with Q̂ the prediction and Q^free the same recursion without the
source. The theory says 1 at every recorded step.

Foil: the conserved norm of gradient flow — Q constant under GD, decayed only by weight
decay's shrink otherwise (Q^free) — i.e. source fraction 0.

Tolerance: the prediction is exact in exact arithmetic, so only rounding is neglected.
BatchNorm's ε (1e-30) perturbs ⟨g, θ⟩ by ε/σ² ≈ 1e-30 relative, below float64 rounding.
Each step rounds θ and g at ~1e-16 relative, so over K steps the charge carries ≲ K·1e-16
of Q, i.e. ≲ K·1e-16 · Q/(η²Σ‖g‖²) on the fraction; with K ≤ 2·10⁴ steps and a source of
at least 1e-6 of Q (checked: `source_fraction` raises otherwise) that is ≤ 2e-6. The
declared tolerance is 1e-5 on the fraction; the foil sits at distance 1.

Source: Kunin, Sagastuy-Brena, Ganguli, Yamins & Tanaka, "Neural Mechanics", ICLR 2021
(arXiv:2012.04728), §5 (scale symmetry with weight decay, momentum and finite lr).
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
    DigitsCNN,
    build,
    mean_and_stderr,
    source_fraction,
    symmetries_of,
    train_tracked,
)

TOLERANCE = 1e-5
PANEL = "scale norm"
REGIMES = ("GD", "SGD + weight decay", "SGD + momentum + weight decay")


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
        names = [f"{r}: {g}" for r in REGIMES for g in ("conv1", "conv2")]
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
        del device  # CPU float64 by design: the law tests an identity to rounding level
        with single_thread():  # tiny networks: a second thread only adds contention
            return self._measure(params, seed, progress)

    def _measure(self, params: ScaleNormParams, seed: int, progress: Progress) -> Series:
        steps = _record_steps(params)
        curves = []
        for r, regime in enumerate(REGIMES):
            fractions = []  # (n_seeds, groups, points)
            for s in range(params.n_seeds):
                gen = torch.Generator().manual_seed(seed * 1000 + s)
                net = build(DigitsCNN, gen)
                rec = train_tracked(net, symmetries_of(net, "scale", False), flatten=False,
                                    steps=params.steps, generator=gen, cadence=1,
                                    n_train=params.n_train, **_optimiser(params, regime))
                rows = rec[rec.step.isin(steps)]
                fractions.append([source_fraction(rows[rows.symmetry == f"scale {g}"])
                                  for g in ("conv1", "conv2")])
                progress((r * params.n_seeds + s + 1) / (3 * params.n_seeds))
            mean, se = mean_and_stderr(np.array(fractions))
            curves += [Curve(PANEL, f"{regime}: {g}", steps, mean[i], se[i], params.n_seeds)
                       for i, g in enumerate(("conv1", "conv2"))]
        return Series.from_curves(curves)


def _optimiser(params: ScaleNormParams, regime: str) -> dict:
    if regime == "GD":
        return dict(lr=params.lr, batch=None)
    if regime == "SGD + weight decay":
        return dict(lr=params.lr, batch=params.batch, weight_decay=params.weight_decay)
    return dict(lr=params.lr * (1 - params.momentum), batch=params.batch,
                weight_decay=params.weight_decay, momentum=params.momentum)


def _record_steps(params: ScaleNormParams) -> np.ndarray:
    return np.unique(np.linspace(0, params.steps, params.n_points + 1).round().astype(int))[1:]
