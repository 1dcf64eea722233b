"""symmetry.equilibrium_norm — at equilibrium the squared norm of scale-invariant weights is
set by the mean squared gradient: the η² source balances the weight decay.

Experiment (`lmech.laws.symmetry._equilibrium`): the BatchNorm'd networks of
`symmetry.angular_equilibrium` (64 → BN(W₁x) → ReLU → BN(W₂h) → 10, ε = 0, float64), on
digits with true and with random labels, trained by PyTorch's SGD with weight decay,
without momentum and with heavy ball, over η; after a burn-in of several relaxation times,
each layer's balance λQ̄/(ηḠ) over a window, Q̄ the mean of ‖θ_k‖² and Ḡ of ‖g_k‖² (the
minibatch gradient, without the decay term). Units: networks, `n_seeds` per point.

Prediction (`lmech.theory.equilibrium_norm_balance`): λQ̄/(ηḠ) = 1/((1 − β)(2 −
ηλ/(1 + β))); with ‖g‖² = C/‖θ‖², the equilibrium ‖θ‖⁴ = ηC/(λ(1 − β)(2 − ηλ/(1 + β))).
Without momentum it is exact at any steady state (panel "SGD", a consistency check with no
rival); with momentum it also needs gradients uncorrelated from step to step (the
random-walk model of rotational equilibrium), the claim under test on panel "heavy ball".

Foil (heavy ball): the balance without the momentum factor, 1/(2 − ηλ), plain SGD's.

Tolerance (computed): the window's boundary terms. Summed over W steps, the exact
recursions for Q, ⟨θ, v⟩ and ‖v‖² leave terms in ΔQ, Δ⟨θ, v⟩ and Δ‖v‖² (each drifting at
most as much, relative to its mean, as Q, which drifts at most by the allowed drift δ of
`_equilibrium`, checked on every run); their relative effect on the balance is
≤ (δ/W)[(1 − β)²/(ηλ) + 2β(1 − β) + 2β + 2βηλ/(1 + β)] / ((1 − β)(2 − ηλ/(1 + β))).

Source: Kosson, Messmer & Jaggi, "Rotational equilibrium", 2023 (arXiv:2305.17212) (the
random-walk model); derived in docs/theory/symmetry.md, §Equilibrium norm.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from lmech.laws import AbstractLaw, Panel, Pillar, Progress, Series, ToleranceBasis
from lmech.laws.symmetry._equilibrium import (
    EquilibriumParams,
    Setting,
    allowed_drift,
    check_grid,
    measure_windows,
    theory_curves,
    window_curves,
)
from lmech.theory.noether import equilibrium_norm_balance

SGD_PANEL = "SGD"
MOMENTUM_PANEL = "heavy ball"


class NormParams(EquilibriumParams):
    lrs: tuple[float, ...] = Field((0.1, 0.2), min_length=1, description="learning rates η")
    momenta: tuple[float, ...] = Field((0.0, 0.5, 0.9), min_length=1,
                                       description="momenta β, each in [0, 1)")
    window: float = Field(10.0, gt=0, description="measured window, in units of 1/r")

    @model_validator(mode="after")
    def _valid(self) -> NormParams:
        check_grid(self, "sgd", max_lr=2.0, momentum_required=False)
        if not any(beta > 0 for beta in self.momenta):
            raise ValueError("momenta needs a β > 0: without momentum the law has no rival")
        return self


def _panel(beta: float) -> str:
    return MOMENTUM_PANEL if beta > 0 else SGD_PANEL


class EquilibriumNorm(AbstractLaw):
    claim = ("At equilibrium under SGD with weight decay, scale-invariant weights satisfy "
             "λ‖θ‖² = η‖g‖²/((1 − β)(2 − ηλ/(1 + β))): exact without momentum, and with "
             "momentum if gradients are uncorrelated across steps.")
    finding = ("With momentum the norm sits below the random-walk balance: on true labels "
               "λQ̄/(ηḠ) is 10–30 % below 1/((1 − β)(2 − ηλ/(1 + β))) at β = 0.5 and 0.9, "
               "on random labels up to about 15 % below, while without momentum the exact "
               "balance holds within 2 %. Consecutive minibatch gradients at equilibrium are "
               "anti-correlated: the recursion for ‖v‖² gives ⟨v_k, g_k⟩ ≈ −0.1 to −0.2 ‖g‖² "
               "on true labels.")
    expected = "REFUTED"
    source = ("Kosson, Messmer & Jaggi, Rotational equilibrium, 2023 (arXiv:2305.17212); "
              "derived in docs/theory/symmetry.md")
    pillar = Pillar.HYPERPARAMETERS
    tolerance_basis = ToleranceBasis.computed(
        "the window's boundary terms of the exact recursions for ‖θ‖², ⟨θ, v⟩ and ‖v‖², "
        "with the equilibrium drift checked on every run")
    Params = NormParams
    budgets = {
        "smoke": dict(lrs=(0.8,), momenta=(0.0, 0.9), n_seeds=3, width=16, window=5.0,
                      burn_in=4.0),
        "quick": {},
        "full": dict(lrs=(0.05, 0.1, 0.2, 0.4), n_seeds=16, burn_in=8.0, window=20.0),
    }
    panels = (
        Panel(SGD_PANEL, xlabel="learning rate η", ylabel="λ‖θ‖²/(η‖g‖²) at equilibrium",
              xscale="log", yscale="log",
              no_foil="a consistency check: without momentum the balance is exact at any "
                      "steady state, and no rival value is held"),
        Panel(MOMENTUM_PANEL, xlabel="learning rate η",
              ylabel="λ‖θ‖²/(η‖g‖²) at equilibrium", xscale="log", yscale="log"),
    )

    def predict(self, params: NormParams) -> Series:
        return Series.from_curves(theory_curves(
            params, "sgd", _panel,
            lambda s: float(equilibrium_norm_balance(s.lr, s.weight_decay, s.momentum))))

    def foil(self, params: NormParams) -> Series:
        return Series.from_curves(theory_curves(
            params, "sgd", _panel, lambda s: float(
                equilibrium_norm_balance(s.lr, s.weight_decay)) if s.momentum > 0 else np.nan))

    def tolerance(self, params: NormParams, prediction: Series) -> np.ndarray:
        def bound(s: Setting) -> float:
            x, beta = s.lr * s.weight_decay, s.momentum
            terms = (1 - beta) ** 2 / x + 2 * beta * (1 - beta) + 2 * beta + 2 * beta * x / (
                1 + beta)
            rel = allowed_drift(params) / (s.total - s.burn) * terms / (
                (1 - beta) * (2 - x / (1 + beta)))
            return rel * float(equilibrium_norm_balance(s.lr, s.weight_decay, beta))

        return Series.from_curves(theory_curves(params, "sgd", _panel, bound)).y

    def measure(self, params: NormParams, seed: int, *, device: str = "cpu",
                progress: Progress = lambda f: None) -> Series:
        grid, sums = measure_windows(params, "sgd", seed=seed, device=device,
                                     progress=progress)
        lam, eta = params.weight_decay, np.repeat([s.lr for s in grid], params.n_seeds)
        balance = lam * sums["theta_sq"] / (eta[:, None] * sums["grad_sq"])
        return Series.from_curves(window_curves(params, grid, balance, _panel))
