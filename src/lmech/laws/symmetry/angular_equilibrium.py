"""symmetry.angular_equilibrium — under heavy-ball SGD with weight decay, scale-invariant
weights settle to a data-free angular update per step that carries the momentum factor.

Experiment (`lmech.laws.symmetry._equilibrium`): BatchNorm'd networks, 64 → BN(W₁x) →
ReLU → BN(W₂h) → 10 (both weight matrices scale-invariant, ε = 0, float64), trained on
digits with true and with random labels by PyTorch's heavy ball with coupled weight decay
(v ← βv + g + λθ, θ ← θ − ηv) over η and β; after a burn-in of several relaxation times,
each layer's angular update is Δ̄ = arccos(Σ⟨θ_k, θ_{k+1}⟩/√(Σ‖θ_k‖² Σ‖θ_{k+1}‖²)) over a
window. Units: networks, `n_seeds` per point.

Prediction (`lmech.theory.equilibrium_angular_update`): Δ* = arccos(1 − ηλ/(1 + β)),
≈ √(2ηλ/(1 + β)), the same for both layers and both label sets: the steady state of the
exact (Q, ⟨θ, v⟩) recursion gives η²ΣK = 2ηλΣQ/(1 + β) whatever the gradient noise.

Foil: the rotation without the momentum factor, arccos(1 − ηλ) ≈ √(2ηλ) (the equilibrium
of plain SGD, or of heavy ball read with its raw η); the prediction is √(1 + β) smaller.

Tolerance (computed): the steady state is only approached. Summing the recursion over W
window steps leaves (1 − β)ΔQ + 2ηβΔ⟨θ, v⟩ against 2ηλΣQ; with ⟨θ, v⟩ drifting at most λ
times as much as Q, the relative error of 1 − cos Δ̄ is ≤ (|ΔQ|/Q̄)((1 − β) +
2ηλβ)/(2ηλW), half that on Δ̄, with |ΔQ|/Q̄ the allowed drift of `_equilibrium` (checked
on every run). Nothing else is neglected (ε = 0, the exact PyTorch update, float64).

Source: Kunin et al., ICLR 2021 (arXiv:2012.04728), §5; Tanaka & Kunin, NeurIPS 2021
(arXiv:2105.02716); docs/theory/symmetry.md, §Angular equilibrium.
"""

from __future__ import annotations

import numpy as np
from pydantic import model_validator

from lmech.laws import AbstractLaw, Panel, Pillar, Progress, Series, ToleranceBasis
from lmech.laws.symmetry._equilibrium import (
    EquilibriumParams,
    allowed_drift,
    check_grid,
    measure_windows,
    theory_curves,
    window_curves,
)
from lmech.theory.noether import equilibrium_angular_update

PANEL = "heavy-ball SGD"


class AngularParams(EquilibriumParams):
    @model_validator(mode="after")
    def _valid(self) -> AngularParams:
        check_grid(self, "sgd", max_lr=2.0, momentum_required=True)
        return self


class AngularEquilibrium(AbstractLaw):
    claim = ("Scale-invariant weights under heavy-ball SGD with weight decay reach an angular "
             "update per step of arccos(1 − ηλ/(1 + β)) ≈ √(2ηλ/(1 + β)), whatever the data.")
    source = ("Kunin et al., ICLR 2021 (arXiv:2012.04728), §5; Tanaka & Kunin, NeurIPS 2021 "
              "(arXiv:2105.02716)")
    pillar = Pillar.HYPERPARAMETERS
    tolerance_basis = ToleranceBasis.computed(
        "the window's boundary terms of the exact norm recursion, with the equilibrium drift "
        "checked on every run")
    Params = AngularParams
    budgets = {
        "smoke": dict(lrs=(0.4,), window=10.0, n_seeds=3, width=16),
        "quick": {},
        "full": dict(lrs=(0.025, 0.05, 0.1), n_seeds=16, burn_in=8.0, window=40.0),
    }
    panels = (Panel(PANEL, xlabel="learning rate η", ylabel="angular update per step (rad)",
                    xscale="log", yscale="log"),)

    def predict(self, params: AngularParams) -> Series:
        return Series.from_curves(theory_curves(
            params, "sgd", PANEL,
            lambda s: float(equilibrium_angular_update(s.lr, s.weight_decay, s.momentum))))

    def foil(self, params: AngularParams) -> Series:
        return Series.from_curves(theory_curves(
            params, "sgd", PANEL, lambda s: float(equilibrium_angular_update(s.lr,
                                                                              s.weight_decay))))

    def tolerance(self, params: AngularParams, prediction: Series) -> np.ndarray:
        def bound(s) -> float:
            eta, lam, beta = s.lr, s.weight_decay, s.momentum
            rel = allowed_drift(params) * ((1 - beta) + 2 * eta * lam * beta) / (
                2 * eta * lam * (s.total - s.burn))
            return 0.5 * rel * float(equilibrium_angular_update(eta, lam, beta))

        return Series.from_curves(theory_curves(params, "sgd", PANEL, bound)).y

    def measure(self, params: AngularParams, seed: int, *, device: str = "cpu",
                progress: Progress = lambda f: None) -> Series:
        grid, sums = measure_windows(params, "sgd", seed=seed, device=device,
                                     progress=progress)
        angles = np.arccos(sums["dot"] / np.sqrt(sums["theta_sq"] * sums["next_sq"]))
        return Series.from_curves(window_curves(params, grid, angles, PANEL))
