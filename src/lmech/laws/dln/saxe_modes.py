"""dln.saxe_modes — a deep linear network learns each mode on its own sigmoidal clock.

Experiment. A two-layer linear network y = W2 W1 x (hidden width `width`) is trained by
full-batch gradient descent on the per-sample mean squared error of a linear teacher
T = U diag(s) Vᵀ with the chosen spectrum, on Gaussian inputs whitened exactly
((1/P) Xᵀ X = I, the theorem's assumption). It starts from Saxe's small decoupled balanced
initialisation W1 = R diag(√u0) Vᵀ, W2 = U diag(√u0) Rᵀ with a Haar-random hidden basis R.
Each seed draws new teacher modes U, V, inputs X and basis R; the mode strength
u_α = u_αᵀ W2 W1 v_α is recorded every step, and the half-learning time of each mode is
found by interpolating ln(u/(s−u)) across its zero.

Prediction (docs/theory/deep_linear.md, §Mode dynamics):
u(t) = s / (1 + (s/u0 − 1) e^{−2st/τ}) with τ = 1/η and
t = η·step; half-learning time (τ/2s) ln((s − u0)/u0).

Foil: a one-layer network's answer, u(t) = s + (u0 − s) e^{−t/τ}: every mode on the same
exponential clock, half-learned at τ ln((s − u0)/(s/2)) ≈ τ ln 2 whatever s.

Tolerance: the theory is gradient flow; gradient descent at finite η departs from it by
a finite-learning-rate term. Per step, the log-odds ℓ = ln(u/(s−u)) of a decoupled mode
moves by 2ηs + η² s(3u − s) + O(η³) instead of 2ηs, so the first-order bound
B(t) = η s ∫₀ᵗ |3u − s| dt' (`saxe_finite_step_logodds_bound`) caps the gap: the declared
tolerance is u(s−u)/s · B(t) on a strength and B(t½)/(2s) on a half-learning time (at most
≈ η s ln(s/u0)/8 · s, 0.5 % of s at the quick budget), plus a float64 rounding allowance of
1e-9 relative. Nothing else is neglected: with exact whitening and decoupled
initialisation every seed follows the same curve, so the seeds test that the result does
not depend on the random bases, and their standard errors are at the rounding level; the
verdict rests on the tolerance, which the theory tests check against the exact
discrete map.

Source: Saxe, McClelland & Ganguli, ICLR 2014 (arXiv:1312.6120), eqs. 5–10.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field, model_validator

from lmech.ensemble import SGD, Ensemble, train
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
from lmech.models import MLP, deep_linear
from lmech.tasks import linear_teacher, whitened_inputs
from lmech.theory import (
    saxe_finite_step_logodds_bound,
    saxe_learning_time,
    saxe_mode_strength,
    shallow_mode_strength,
)

ROUNDING = 1e-9  # relative float64 rounding allowance over thousands of steps

MODES = "mode strength"
TIMES = "learning time"


class SaxeModesParams(LawParams):
    n_in: int = Field(8, ge=1, le=4096, description="input dimension")
    n_out: int = Field(8, ge=1, le=4096, description="output dimension")
    width: int = Field(16, ge=1, le=4096, description="hidden width")
    spectrum: tuple[float, ...] = Field(
        (3.0, 2.0, 1.0, 0.5), min_length=1, description="teacher singular values s, > 0"
    )
    u0: float = Field(1e-3, gt=0, description="initial strength of every mode")
    learning_rate: float = Field(0.002, gt=0, description="gradient-descent step η")
    steps: int = Field(5500, ge=1, le=10_000_000, description="gradient-descent steps")
    n_samples: int = Field(256, ge=1, description="training inputs P (whitened)")
    n_seeds: int = Field(8, ge=2, description="independent networks")
    n_points: int = Field(56, ge=2, description="recorded times per mode")

    @model_validator(mode="after")
    def _consistent(self) -> SaxeModesParams:
        r = len(self.spectrum)
        if min(self.spectrum) <= 0:
            raise ValueError(f"spectrum values must be > 0, got {self.spectrum}")
        if r > min(self.n_in, self.n_out, self.width):
            raise ValueError(
                f"spectrum has {r} values; at most min(n_in, n_out, width) = "
                f"{min(self.n_in, self.n_out, self.width)} modes fit"
            )
        if self.u0 > min(self.spectrum) / 10:
            raise ValueError(
                f"u0 must be small, <= min(spectrum)/10 = {min(self.spectrum) / 10:.3g}"
            )
        if self.learning_rate * max(self.spectrum) > 0.5:
            raise ValueError(
                f"learning_rate · max(spectrum) must be <= 0.5 for gradient descent to track "
                f"gradient flow, got {self.learning_rate * max(self.spectrum):.3g}"
            )
        if self.n_samples < self.n_in:
            raise ValueError(f"n_samples must be >= n_in = {self.n_in} to whiten the inputs")
        t_slowest = float(saxe_learning_time(min(self.spectrum), self.u0))
        if self.steps * self.learning_rate < 1.2 * t_slowest:
            raise ValueError(
                f"steps · learning_rate = {self.steps * self.learning_rate:.3g} is too short: "
                f"the slowest mode is half-learned at t = {t_slowest:.3g}; need >= "
                f"{1.2 * t_slowest:.3g}"
            )
        if self.n_points > self.steps + 1:
            raise ValueError(f"n_points must be <= steps + 1 = {self.steps + 1}")
        return self


class SaxeModes(AbstractLaw):
    claim = (
        "A two-layer linear network learns each teacher mode along Saxe's sigmoid, "
        "half-learned at (τ/2s)·ln((s−u0)/u0)."
    )
    source = "Saxe, McClelland & Ganguli, ICLR 2014 (arXiv:1312.6120), eqs. 5–10"
    pillar = Pillar.SOLVABLE
    kind = Kind.IDENTITY  # decoupled, balanced start + exact whitening: a scalar map per mode
    tolerance_basis = ToleranceBasis.computed(
        "first-order bound on gradient descent's departure from gradient flow, plus 1e-9 "
        "relative float64 rounding")
    Params = SaxeModesParams
    budgets = {
        "smoke": dict(
            n_in=4, n_out=4, width=8, spectrum=(3.0, 1.5), learning_rate=0.01, steps=500,
            n_samples=32, n_seeds=2, n_points=26,
        ),
        "quick": {},
        "full": dict(
            n_in=16, n_out=16, width=32, spectrum=(4.0, 2.0, 1.0, 0.5, 0.25),
            learning_rate=0.0005, steps=40_000, n_samples=1024, n_seeds=32, n_points=101,
        ),
    }
    panels = (
        Panel(MODES, xlabel="time t = η·step", ylabel="mode strength u"),
        Panel(TIMES, xlabel="singular value s", ylabel="half-learning time",
              xscale="log", yscale="log"),
    )

    def predict(self, params: SaxeModesParams) -> Series:
        t = _record_steps(params) * params.learning_rate
        curves = [
            Curve(MODES, _mode_name(s), t, saxe_mode_strength(t, s, params.u0))
            for s in params.spectrum
        ]
        s = np.array(params.spectrum)
        curves.append(Curve(TIMES, "half-learning time", s, saxe_learning_time(s, params.u0)))
        return Series.from_curves(curves)

    def foil(self, params: SaxeModesParams) -> Series:
        t = _record_steps(params) * params.learning_rate
        curves = [
            Curve(MODES, _mode_name(s), t, shallow_mode_strength(t, s, params.u0))
            for s in params.spectrum
        ]
        s = np.array(params.spectrum)
        foil_time = np.log((s - params.u0) / (s / 2))  # shallow net: u(t) = s/2
        curves.append(Curve(TIMES, "half-learning time", s, foil_time))
        return Series.from_curves(curves)

    def tolerance(self, params: SaxeModesParams, prediction: Series) -> np.ndarray:
        s = np.array(params.spectrum)
        eta, u0 = params.learning_rate, params.u0
        t = _record_steps(params)[:, None] * eta
        u = saxe_mode_strength(t, s, u0)  # (n_points, r)
        tol_u = u * (s - u) / s * saxe_finite_step_logodds_bound(t, s, u0, eta) + ROUNDING * s
        t_half = saxe_learning_time(s, u0)
        tol_t = saxe_finite_step_logodds_bound(t_half, s, u0, eta) / (2 * s)
        tol_t += ROUNDING * t_half
        return np.concatenate([tol_u.T.reshape(-1), tol_t])

    def measure(
        self,
        params: SaxeModesParams,
        seed: int,
        *,
        device: str = "cpu",
        progress: Progress = lambda f: None,
    ) -> Series:
        u = _train(params, seed, device, progress)  # (steps + 1, M, r)
        s = np.array(params.spectrum)
        steps = _record_steps(params)
        t = steps * params.learning_rate
        m = params.n_seeds
        curves = [
            Curve(MODES, _mode_name(s_a), t, u[steps, :, a].mean(1),
                  u[steps, :, a].std(1, ddof=1) / np.sqrt(m), m)
            for a, s_a in enumerate(params.spectrum)
        ]
        half = _half_times(u, s[None, :], params.learning_rate)  # (M, r)
        curves.append(Curve(TIMES, "half-learning time", s, half.mean(0),
                            half.std(0, ddof=1) / np.sqrt(m), m))
        return Series.from_curves(curves)


def _mode_name(s: float) -> str:
    return f"s={s:g}"


def _record_steps(params: SaxeModesParams) -> np.ndarray:
    return np.unique(np.linspace(0, params.steps, params.n_points).round().astype(int))


def _half_times(u: np.ndarray, s: np.ndarray, learning_rate: float) -> np.ndarray:
    """First time u reaches s/2, interpolating the log-odds ln(u/(s−u)) between steps.

    Args:
        u: ``(steps + 1, ...)`` strengths after each step; `s` broadcasts against u[0].
    Returns:
        ``u.shape[1:]`` times (in units of t = η·step).
    """
    s = np.broadcast_to(s, u.shape[1:])
    crossed = u >= s / 2
    if not np.all(crossed.any(axis=0)):
        raise RuntimeError("a mode never reached half its strength; increase steps")
    k = np.argmax(crossed, axis=0)  # first step at or past s/2
    before = np.take_along_axis(u, np.maximum(k - 1, 0)[None], axis=0)[0]
    after = np.take_along_axis(u, k[None], axis=0)[0]
    # Both straddle s/2, so their log-odds are finite; ℓ is linear in t to O(η²).
    l_before, l_after = np.log(before / (s - before)), np.log(after / (s - after))
    frac = np.where(k > 0, l_before / (l_before - l_after), 0.0)
    return (k - 1 + frac) * learning_rate


def _train(params: SaxeModesParams, seed: int, device: str, progress: Progress) -> np.ndarray:
    """Mode strengths after every gradient-descent step, shape ``(steps + 1, M, r)``."""
    gen = torch.Generator().manual_seed(seed)
    m, r = params.n_seeds, len(params.spectrum)
    kw = dict(members=m, generator=gen, dtype=torch.float64, device=device)
    teacher = linear_teacher(params.n_in, params.n_out, params.spectrum, **kw)
    x = whitened_inputs(params.n_samples, params.n_in, **kw)  # (M, P, n_in)
    y = x @ teacher.map.transpose(-1, -2)  # (M, P, n_out)
    q, _ = torch.linalg.qr(torch.randn(m, params.width, r, generator=gen, dtype=torch.float64))
    hidden = q.to(device)  # (M, width, r), orthonormal columns
    a = params.u0**0.5
    net = MLP(deep_linear(params.n_in, params.width, 1, params.n_out)).double().to(device)
    ensemble = Ensemble(net, {
        "layers.0.weight": a * hidden @ teacher.V.transpose(-1, -2),  # (M, width, n_in)
        "layers.1.weight": a * teacher.U @ hidden.transpose(-1, -2),  # (M, n_out, width)
    })

    def strengths(p: dict[str, torch.Tensor], batch) -> torch.Tensor:
        product = p["layers.1.weight"] @ p["layers.0.weight"]  # (M, n_out, n_in)
        return torch.einsum("mor,moi,mir->mr", teacher.U, product, teacher.V)

    trajectory = train(
        ensemble, x, y, optimizer=SGD(lr=params.learning_rate), steps=params.steps,
        loss=lambda out, batch: _half_squared_error(out, batch[1]), every=1,
        observables={"u": strengths}, progress=progress,
    )
    return trajectory.observables["u"].transpose(0, 1).numpy()  # (steps + 1, M, r)


def _half_squared_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per member (1/P) Σ_μ ½‖f(x_μ) − y_μ‖², the loss of Saxe et al.'s eq. 2: ``(M,)``."""
    return 0.5 * (pred - target).square().sum(-1).mean(-1)
