"""symmetry.rescale — the difference of squared norms across a ReLU layer follows Noether's law.

Experiment. A one-hidden-layer ReLU network (64 → `width` → 10, float64) is trained on
scikit-learn's digits with softmax cross-entropy under three optimisers: full-batch
gradient descent, minibatch SGD with weight decay, heavy-ball SGD with weight decay (at
η(1 − β)). `detect` finds the rescale group (incoming weights and bias of the hidden
units vs their outgoing weights) and a `NoetherTracker` records the charge
Q = ‖θ_in‖² − ‖θ_out‖² with the norms its prediction needs. The network starts rescaled
by α = `imbalance` (θ_in ← α θ_in, θ_out ← θ_out/α, which changes no output): then
‖g_in‖² ∝ 1/α² dominates ‖g_out‖² ∝ α² throughout, so the source has one sign and the
measured share of it is well defined.

Prediction (docs/theory/symmetry.md, §Exact discrete updates):
Q_{k+1} = (1 − ηλ)² Q_k +
η² (‖g_in‖² − ‖g_out‖²) without momentum, and the (Q, ⟨θ, v⟩) recursion of
`lmech.theory.quadratic_charge_momentum` with momentum — both exact given
⟨g_in, θ_in⟩ = ⟨g_out, θ_out⟩. Measured: the source fraction
(Q_k − Q_k^free)/(Q̂_k − Q_k^free), 1 for the theory.

Foil: exact conservation, the gradient-flow answer (decayed only by weight decay's
shrink when λ > 0): source fraction 0.

Tolerance: only rounding is neglected (the ReLU rescale symmetry is exact): ≲ K·1e-16
of Q per fraction over K steps, divided by a source of at least 1e-6 of Q (checked) —
≤ 2e-6 for K ≤ 2·10⁴. Declared: 1e-5; the foil sits at distance 1.

Source: Kunin et al., "Neural Mechanics", ICLR 2021 (arXiv:2012.04728), §5 (rescale).
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
    source_fraction,
    symmetries_of,
    train_tracked,
)

TOLERANCE = 1e-5
PANEL = "rescale charge"
REGIMES = ("GD", "SGD + weight decay", "SGD + momentum + weight decay")


class RescaleParams(LawParams):
    width: int = Field(32, ge=2, le=1024, description="hidden ReLU units")
    imbalance: float = Field(0.5, gt=0, le=1.0, description="initial rescale α of the layer")
    lr: float = Field(0.1, gt=0, le=1.0, description="learning rate η")
    weight_decay: float = Field(5e-3, gt=0, le=0.1, description="λ (second and third regime)")
    momentum: float = Field(0.9, gt=0, lt=1, description="β (third regime)")
    steps: int = Field(200, ge=2, le=20_000, description="optimiser steps per run")
    batch: int = Field(32, ge=2, le=1797, description="SGD minibatch size")
    n_train: int = Field(512, ge=8, le=1797, description="training images (GD uses all)")
    n_seeds: int = Field(4, ge=2, le=64, description="independent initialisations")
    n_points: int = Field(10, ge=1, description="recorded steps per curve")


class Rescale(AbstractLaw):
    claim = ("Across a ReLU layer, ‖θ_in‖² − ‖θ_out‖² changes by exactly "
             "η²(‖g_in‖² − ‖g_out‖²) per step (decayed by (1 − ηλ)²) — it is not conserved "
             "at finite learning rate.")
    source = "Kunin et al., Neural Mechanics, ICLR 2021 (arXiv:2012.04728), §5"
    pillar = Pillar.SOLVABLE
    kind = Kind.IDENTITY  # the prediction is fed the measured gradient norms
    tolerance_basis = ToleranceBasis.computed(
        "float64 rounding accumulated over K steps, divided by a source of at least 1e-6 of "
        "the charge")
    Params = RescaleParams
    budgets = {
        "smoke": dict(steps=12, n_seeds=2, n_points=3, n_train=64, width=16),
        "quick": {},
        "full": dict(steps=3000, n_seeds=8, n_points=40, n_train=1797, width=64),
    }
    panels = (Panel(PANEL, xlabel="step k", ylabel="measured share of the η² source"),)

    def predict(self, params: RescaleParams) -> Series:
        steps = _record_steps(params)
        return Series.from_curves(Curve(PANEL, r, steps, np.ones(steps.size)) for r in REGIMES)

    def foil(self, params: RescaleParams) -> Series:
        steps = _record_steps(params)
        return Series.from_curves(Curve(PANEL, r, steps, np.zeros(steps.size))
                                  for r in REGIMES)

    def tolerance(self, params: RescaleParams, prediction: Series) -> np.ndarray:
        return np.full(len(prediction), TOLERANCE)

    def measure(self, params: RescaleParams, seed: int, *, device: str = "cpu",
                progress: Progress = lambda f: None) -> Series:
        del device  # CPU float64 by design: the law tests an identity to rounding level
        with single_thread():  # tiny networks: a second thread only adds contention
            return self._measure(params, seed, progress)

    def _measure(self, params: RescaleParams, seed: int, progress: Progress) -> Series:
        steps = _record_steps(params)
        curves = []
        for r, regime in enumerate(REGIMES):
            fractions = []
            for s in range(params.n_seeds):
                gen = torch.Generator().manual_seed(seed * 1000 + s)
                net = build(lambda: digits_mlp(params.width), gen)
                with torch.no_grad():  # a rescale: the network computes the same function
                    net[0].weight.mul_(params.imbalance)
                    net[0].bias.mul_(params.imbalance)
                    net[2].weight.div_(params.imbalance)
                rec = train_tracked(net, symmetries_of(net, "rescale", True), flatten=True,
                                    steps=params.steps, generator=gen, cadence=1,
                                    n_train=params.n_train, **_optimiser(params, regime))
                fractions.append(source_fraction(rec[rec.step.isin(steps)]))
                progress((r * params.n_seeds + s + 1) / (3 * params.n_seeds))
            mean, se = mean_and_stderr(np.array(fractions))
            curves.append(Curve(PANEL, regime, steps, mean, se, params.n_seeds))
        return Series.from_curves(curves)


def _optimiser(params: RescaleParams, regime: str) -> dict:
    if regime == "GD":
        return dict(lr=params.lr, batch=None)
    if regime == "SGD + weight decay":
        return dict(lr=params.lr, batch=params.batch, weight_decay=params.weight_decay)
    return dict(lr=params.lr * (1 - params.momentum), batch=params.batch,
                weight_decay=params.weight_decay, momentum=params.momentum)


def _record_steps(params: RescaleParams) -> np.ndarray:
    return np.unique(np.linspace(0, params.steps, params.n_points + 1).round().astype(int))[1:]
