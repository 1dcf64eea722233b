"""symmetry.angular_equilibrium — scale-invariant weights settle to a data-free angular update.

Experiment. Many copies of a BatchNorm'd network, 64 → BN(W1 x) → ReLU → BN(W2 h) → 10
logits (both weight matrices scale-invariant; float64, ε = 0), are trained at once on
scikit-learn's digits — with the true labels, and with randomly permuted labels — by
PyTorch-convention SGD with weight decay (v ← βv + g + λθ, θ ← θ − ηv), over a grid of
learning rates η, weight decays λ and momenta β, several seeds each. Each copy runs
`burn_in`/r steps to forget its initial norm and then `window`/r more, with r the
slowest relaxation rate of ‖θ‖² per step (`_rate`: ≈ 2ηλ/(1 − β) when the charge
oscillator is over-damped, (1 − β)/(1 + β) when under-damped). Over the window the
angular update of each layer is measured as

    Δ̄ = arccos( Σ_k ⟨θ_k, θ_{k+1}⟩ / √(Σ_k ‖θ_k‖² · Σ_k ‖θ_{k+1}‖²) ).

Prediction (`lmech.theory.equilibrium_angular_update`): Δ* = arccos(1 − ηλ/(1 + β)),
≈ √(2ηλ/(1 + β)) — the same for both layers and both label sets. It is exact for the
window sums at a steady state, whatever the gradient noise (the steady state of the exact
(Q, ⟨θ, v⟩) recursion gives η²Σ‖v‖² = 2ηλΣQ/(1 + β)).

Foil: an angular update proportional to the learning rate alone, Δ = c·η, with c the
least-squares fit to the prediction over the grid (the most favourable such constant).

Tolerance: the steady state is only approached. Summing the exact recursion over a
window of W steps leaves boundary terms, (1 − β)ΔQ + 2ηβΔ⟨θ, v⟩, against 2ηλ·ΣQ; with
⟨θ, v⟩ drifting at most λ times as much as Q, the relative error of 1 − cos Δ̄ is
≤ (|ΔQ|/Q̄)((1 − β) + 2ηλβ)/(2ηλW), and half that on Δ̄. Two things make Q drift over the
window: the rest of the initial transient, at most m·e^{−burn_in} with m = 10 the allowed
initial mismatch (the distance from equilibrium shrinks at least as e^{−rk}), and the
equilibrium itself moving as training changes the gradient scale (the network keeps
learning its labels), allowed DRIFT = 5 % per relaxation time 1/r. Both assumptions are
checked on every run (it raises if the initial ‖θ‖² is more than 10× off the window's
mean, or if the measured |ΔQ|/Q̄ exceeds the allowance). For β = 0 the boundary term is
the only difference: exactly, cos Δ̄ = (1 − ηλ)·√(Σ‖θ_k‖²/Σ‖θ_{k+1}‖²). Nothing else is
neglected (ε = 0, the exact PyTorch update, float64).

Source: Kunin et al., ICLR 2021 (arXiv:2012.04728), §5; Tanaka & Kunin, NeurIPS 2021
(arXiv:2105.02716) (normalised weights as an adaptive optimiser); the equilibrium is
derived in `lmech.theory.noether`.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from pydantic import Field, model_validator

from lmech.laws import (
    AbstractLaw,
    Curve,
    LawParams,
    Panel,
    Pillar,
    Progress,
    Series,
    ToleranceBasis,
)
from lmech.laws._threads import single_thread
from lmech.laws.symmetry._train_ensemble import train_angles
from lmech.theory.noether import equilibrium_angular_update, oscillator_coefficients

PANEL = "angular update"
MISMATCH = 10.0  # allowed initial ‖θ‖² / equilibrium ratio (checked at run time)
DRIFT = 0.05  # allowed drift of the equilibrium ‖θ‖² per relaxation time 1/r (checked)
DATASETS = ("digits", "random labels")


class AngularParams(LawParams):
    lrs: tuple[float, ...] = Field((0.1, 0.4), min_length=1, description="learning rates η")
    weight_decays: tuple[float, ...] = Field((0.02, 0.08), min_length=1, description="λ")
    momenta: tuple[float, ...] = Field((0.0, 0.9), min_length=1, description="β")
    width: int = Field(32, ge=2, le=512, description="hidden units")
    batch: int = Field(32, ge=4, le=1797, description="minibatch size")
    burn_in: float = Field(6.0, gt=0, description="burn-in length, in units of 1/r")
    window: float = Field(10.0, gt=0, description="measured window, in units of 1/r")
    n_seeds: int = Field(8, ge=2, le=64, description="independent networks per setting")

    @model_validator(mode="after")
    def _valid(self) -> AngularParams:
        for eta, lam, beta in itertools.product(self.lrs, self.weight_decays, self.momenta):
            if not (0 < eta <= 2 and 0 < lam and 0 <= beta < 1 and eta * lam < 0.1):
                raise ValueError(f"need 0 < η ≤ 2, λ > 0, 0 ≤ β < 1 and ηλ < 0.1; got "
                                 f"η={eta}, λ={lam}, β={beta}")
        if max(total for _, total in _steps(self).values()) > 50_000:
            raise ValueError("the slowest setting needs more than 50,000 steps; raise ηλ")
        return self


class AngularEquilibrium(AbstractLaw):
    claim = ("Scale-invariant weights under SGD with weight decay reach an angular update "
             "per step of arccos(1 − ηλ/(1 + β)) ≈ √(2ηλ/(1 + β)), whatever the data.")
    source = ("Kunin et al., ICLR 2021 (arXiv:2012.04728), §5; Tanaka & Kunin, NeurIPS 2021 "
              "(arXiv:2105.02716)")
    pillar = Pillar.HYPERPARAMETERS
    tolerance_basis = ToleranceBasis.computed(
        "the window's boundary terms of the exact norm recursion, with the equilibrium drift "
        "checked on every run")
    Params = AngularParams
    budgets = {
        "smoke": dict(lrs=(0.4,), weight_decays=(0.04, 0.16), momenta=(0.0, 0.9),
                      n_seeds=4, width=16),
        "quick": {},
        "full": dict(lrs=(0.05, 0.1, 0.2, 0.4), weight_decays=(0.01, 0.02, 0.04, 0.08),
                     n_seeds=8, burn_in=8.0, window=20.0),
    }
    panels = (Panel(PANEL, xlabel="learning rate η", ylabel="angular update per step (rad)",
                    xscale="log", yscale="log"),)

    def _grid(self, params: AngularParams):
        for data, beta, lam, layer in itertools.product(DATASETS, params.momenta,
                                                        params.weight_decays, (1, 2)):
            yield f"{data}, β={beta:g}, λ={lam:g}, layer {layer}", beta, lam

    def predict(self, params: AngularParams) -> Series:
        eta = np.array(params.lrs)
        return Series.from_curves(
            Curve(PANEL, name, eta, equilibrium_angular_update(eta, lam, beta))
            for name, beta, lam in self._grid(params))

    def foil(self, params: AngularParams) -> Series:
        pred = self.predict(params)
        c = float(pred.x @ pred.y / (pred.x @ pred.x))  # best Δ = c·η
        return Series.from_curves(Curve(PANEL, cv.name, cv.x, c * np.asarray(cv.x))
                                  for cv in pred.curves())

    def tolerance(self, params: AngularParams, prediction: Series) -> np.ndarray:
        out = []
        steps = _steps(params)
        for _, beta, lam in self._grid(params):
            for eta in params.lrs:
                burn, total = steps[(beta, lam, eta)]
                drift = _allowed_drift(params)  # |ΔQ|/Q̄ over the window
                rel = drift * ((1 - beta) + 2 * eta * lam * beta) / (2 * eta * lam * (total - burn))
                out.append(0.5 * rel * equilibrium_angular_update(eta, lam, beta))
        return np.array(out)

    def measure(self, params: AngularParams, seed: int, *, device: str = "cpu",
                progress: Progress = lambda f: None) -> Series:
        settings = list(itertools.product(range(len(DATASETS)), params.momenta,
                                          params.weight_decays, params.lrs,
                                          range(params.n_seeds)))
        lr = torch.tensor([s[3] for s in settings], dtype=torch.float64)
        wd = torch.tensor([s[2] for s in settings], dtype=torch.float64)
        beta = torch.tensor([s[1] for s in settings], dtype=torch.float64)
        steps = _steps(params)  # per setting, in the order of `settings`
        burn = np.array([steps[(s[1], s[2], s[3])][0] for s in settings])
        total = np.array([steps[(s[1], s[2], s[3])][1] for s in settings])
        with single_thread():  # small batched matmuls: a second thread only adds contention
            sums = train_angles(
                dataset=torch.tensor([s[0] for s in settings]), lr=lr, weight_decay=wd,
                momentum=beta, burn=burn, total=total, width=params.width,
                batch=params.batch, seed=seed, device=device, progress=progress)
        _check_equilibrium(params, sums, (total - burn)[:, None])
        angles = np.arccos(sums["dot"] / np.sqrt(sums["q_k"] * sums["q_next"]))
        return self._series(params, settings, angles)

    def _series(self, params: AngularParams, settings, angles: np.ndarray) -> Series:
        """angles: ``(members, 2)`` → one curve per (data, β, λ, layer) over η."""
        curves = []
        for name, beta, lam in self._grid(params):
            data = DATASETS.index(name.split(",")[0])
            layer = int(name[-1]) - 1
            ys, ses = [], []
            for eta in params.lrs:
                rows = [i for i, s in enumerate(settings) if s[:4] == (data, beta, lam, eta)]
                vals = angles[rows, layer]
                ys.append(vals.mean())
                ses.append(vals.std(ddof=1) / np.sqrt(len(vals)))
            curves.append(Curve(PANEL, name, params.lrs, ys, ses, params.n_seeds))
        return Series.from_curves(curves)


def _allowed_drift(params: AngularParams) -> float:
    """Largest |Q_end − Q_start|/Q̄ over the window the tolerance covers: the residue of the
    burn-in, m e^{−burn_in}, plus the equilibrium's own drift, DRIFT per 1/r."""
    return MISMATCH * np.exp(-params.burn_in) + DRIFT * params.window


def _check_equilibrium(params: AngularParams, sums: dict, window: np.ndarray) -> None:
    """Raise if the run broke the assumptions behind the tolerance (see module docstring).

    Members are ordered with the seed last, so ``reshape(-1, n_seeds, 2)`` groups a setting.
    """
    mean_q = sums["q_k"] / window
    ratio = sums["q_init"] / mean_q
    if np.any(np.maximum(ratio, 1 / ratio) > MISMATCH):
        raise RuntimeError(f"the initial ‖θ‖² was more than {MISMATCH:g}× off its equilibrium; "
                           f"the tolerance assumes it is not")
    part = np.maximum(window // 5, 1)
    # (Q_end − Q_start)/Q̄ from the means over the window's first and last fifth (which sit
    # 0.8 of a window apart); its seed-to-seed noise is in the measurement's standard error,
    # so the check is on the seed mean, allowing 3 standard errors.
    drift = (sums["q_last"] - sums["q_first"]) / part / mean_q / 0.8
    drift = drift.reshape(-1, params.n_seeds, 2)
    excess = np.abs(drift.mean(1)) - 3 * drift.std(1, ddof=1) / np.sqrt(params.n_seeds)
    if np.any(excess > _allowed_drift(params)):
        raise RuntimeError(f"‖θ‖² drifted by {np.abs(drift.mean(1)).max():.3g} of itself over "
                           f"the window, beyond the {_allowed_drift(params):.3g} the tolerance "
                           f"allows: not at equilibrium (raise burn_in, or ηλ)")


def _rate(eta: float, lam: float, beta: float) -> float:
    """Slowest relaxation rate of ‖θ‖² per step: η·(γ − Re √(γ² − ω²)) of the charge
    oscillator (≈ 2ηλ/(1 − β) when strongly over-damped, ηγ = (1 − β)/(1 + β) when
    under-damped)."""
    _, gamma, omega2 = oscillator_coefficients(eta, lam, beta)
    return eta * (gamma - np.sqrt(max(gamma**2 - omega2, 0.0)))


def _steps(params: AngularParams) -> dict[tuple[float, float, float], tuple[int, int]]:
    """(β, λ, η) → (burn-in steps, total steps): `burn_in`/r and `window`/r more."""
    out = {}
    for beta, lam, eta in itertools.product(params.momenta, params.weight_decays, params.lrs):
        r = _rate(eta, lam, beta)
        burn = int(np.ceil(params.burn_in / r))
        out[(beta, lam, eta)] = (burn, burn + int(np.ceil(params.window / r)))
    return out
