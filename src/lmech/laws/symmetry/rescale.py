"""symmetry.rescale — the difference of squared norms across a ReLU layer follows Noether's law.

Experiment. A one-hidden-layer ReLU network (64 → `width` → 10, float64) is trained on
digits with cross-entropy under three optimisers: full-batch GD, minibatch SGD with weight
decay, heavy ball with weight decay (at η(1 − β)); a regime's seeds train as one ensemble
(`lmech.ensemble.train`). The rescale group is written out (the hidden units' incoming
weights and biases against their outgoing weights); `StepGeometry` records every step the
charge Q = ‖θ_in‖² − ‖θ_out‖² and the norms its prediction needs. The network starts
rescaled by α = `imbalance` (θ_in ← αθ_in, θ_out ← θ_out/α: the same function), so
‖g_in‖² ∝ 1/α² dominates ‖g_out‖² ∝ α² and the source keeps one sign.

Prediction (docs/theory/symmetry.md, §Exact discrete updates): Q_{k+1} = (1 − ηλ)²Q_k +
η²(‖g_in‖² − ‖g_out‖²) without momentum, the (Q, ⟨θ, v⟩) recursion of
`quadratic_charge_momentum` with it; both exact given ⟨g_in, θ_in⟩ = ⟨g_out, θ_out⟩.
Measured: the source fraction (Q_k − Q_k^free)/(Q̂_k − Q_k^free), 1 for the theory.

Foil: exact conservation, the gradient-flow answer (decayed only by weight decay): 0.

Tolerance (computed): only rounding (the ReLU rescale symmetry is exact): ≲ K·1e-16 of Q
over K steps, divided by a source of at least 1e-6 of Q (checked): ≤ 2e-6 for K ≤ 2·10⁴.
Declared: 1e-5; the foil is 1 away.

Source: Kunin et al., "Neural Mechanics", ICLR 2021 (arXiv:2012.04728), §5 (rescale).
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
from lmech.models import MLPConfig

TOLERANCE = 1e-5
PANEL = "rescale charge"
GROUPS = {"in": ["layers.0.weight", "layers.0.bias"], "out": ["layers.1.weight"]}


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
        return Series.from_curves(Curve(PANEL, r.name, steps, np.ones(steps.size))
                                  for r in REGIMES)

    def foil(self, params: RescaleParams) -> Series:
        steps = _record_steps(params)
        return Series.from_curves(Curve(PANEL, r.name, steps, np.zeros(steps.size))
                                  for r in REGIMES)

    def tolerance(self, params: RescaleParams, prediction: Series) -> np.ndarray:
        return np.full(len(prediction), TOLERANCE)

    def measure(self, params: RescaleParams, seed: int, *, device: str = "cpu",
                progress: Progress = lambda f: None) -> Series:
        with single_thread():  # tiny networks: a second thread only adds contention
            return self._measure(params, seed, device, progress)

    def _measure(self, params: RescaleParams, seed: int, device: str,
                 progress: Progress) -> Series:
        steps = _record_steps(params)
        data = digits_set(params.n_train, flatten=True, device=device)
        n = params.n_seeds
        curves = []
        for r, regime in enumerate(REGIMES):
            ens = init_ensemble(MLPConfig(64, params.width, 1, 10, activation="relu"),
                                member_ids=range(r * n, (r + 1) * n), seed=seed,
                                init="torch", dtype=torch.float64, device=device)
            a = params.imbalance  # a rescale: every network computes the same function
            ens.params["layers.0.weight"] *= a
            ens.params["layers.0.bias"] *= a
            ens.params["layers.1.weight"] /= a
            hyper = (params.lr, params.weight_decay, params.momentum)
            rec = train_geometry(ens, regime, data, GROUPS, lr=params.lr,
                                 weight_decay=params.weight_decay, momentum=params.momentum,
                                 steps=params.steps, batch=params.batch, seed=seed,
                                 progress=lambda f, r=r: progress((r + f) / len(REGIMES)))
            charge, pred, free = quadratic_charge(rec, {"in": 1.0, "out": -1.0},
                                                  regime.hyper(*hyper))
            est = mean_estimate(source_fraction(charge[:, steps], pred[:, steps], free[:, steps]))
            curves.append(Curve(PANEL, regime.name, steps, est.value, est.stderr, est.units))
        progress(1.0)
        return Series.from_curves(curves)


def _record_steps(params: RescaleParams) -> np.ndarray:
    return record_steps(params.steps, params.n_points + 1)[1:]
