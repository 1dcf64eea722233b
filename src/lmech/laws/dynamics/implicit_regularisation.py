"""dynamics.implicit_regularisation — GD follows the flow of L + (η/4)‖∇L‖², not that of L.

An identity of numerical analysis (explicit Euler's modified equation), checked on one
fixed problem; its empirical consequence for networks is `dynamics.modified_flow`.

Setting. f(x) = w₂ᵀ tanh(W₁x + b₁) + b₂ (float64) fitted to y = sin(2a·x) + (b·x)(c·x)/2
on `n_samples` Gaussian inputs (drawn from `problem_seed`), L = (1/2n) Σ (f − y)². Gradient
descent (`lmech.ensemble.train`) runs T/η steps at each η; its end point is compared with
the gradient flow θ̇ = −∇L (GF) and the modified flow of L̃ = L + (η/4)‖∇L‖² (MF), both
solved to time T by DOP853 (relative tolerance `ode_rtol`). The seeds repeat GD in exactly
rotated input bases (x → Rx, W₁ → W₁Rᵀ, mapped back): their spread is rounding.

Prediction (docs/theory/dynamics.md, §Implicit gradient regularisation). GD is the
time-η map of θ̇ = f + ηf₁ + η²f₂ + …, f = −∇L, f₁ = −½H∇L, f₂ = −(1/12)∇³L[∇L, ∇L]
− (1/3)H²∇L. So ‖θ_GD(T) − θ_MF(T)‖ = η²‖w(T)‖ + O(η³), w solving ẇ = −H w + f₂ along
GF from 0; and ‖θ_GD(T) − θ_GF(T)‖ = ‖θ_MF(T) − θ_GF(T)‖ up to that gap.

Foil: GD tracks gradient flow to O(η²) (gap to GF 0, to MF the flows' distance).

Tolerance (computed): the series is in ηS, S = max |eigenvalue| of H along GF, so the
next order is a relative ρ = ηS: η²‖w‖ρ on the gap to MF, η²‖w‖(1 + ρ) on that to GF.

Source: D. G. T. Barrett & B. Dherin, ICLR 2021 (arXiv:2009.11162), Theorem 3.1;
E. Hairer, C. Lubich, G. Wanner, *Geometric Numerical Integration* (2006), §IX.1.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from pydantic import Field, PositiveFloat, model_validator
from scipy.integrate import solve_ivp

from lmech.ensemble import SGD, Ensemble, generator, train
from lmech.ensemble.train import mse
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
from lmech.measure.stats import mean_estimate
from lmech.models import MLP, MLPConfig

PANEL = "gap at time T"
TO_GF = "GD to gradient flow"
TO_MF = "GD to modified flow"
ROUNDING = 1e-13  # absolute floor of a gap's standard error (float64 over ~10³ steps)


class ImplicitRegularisationParams(LawParams):
    input_dim: int = Field(3, ge=1, le=100, description="input dimension")
    width: int = Field(8, ge=1, le=200, description="hidden width")
    n_samples: int = Field(16, ge=1, le=10_000, description="training inputs")
    time: float = Field(2.0, gt=0, le=100, description="flow time T = η · steps")
    learning_rates: tuple[PositiveFloat, ...] = Field(
        (0.1, 0.05, 0.025, 0.0125), min_length=1, description="GD learning rates η, > 0")
    problem_seed: int = Field(0, ge=0, description="draws the data, target and start point")
    n_seeds: int = Field(3, ge=2, le=100, description="rotated repeats of GD")
    ode_rtol: float = Field(1e-12, gt=0, lt=1e-6, description="ODE relative tolerance")

    @model_validator(mode="after")
    def _consistent(self) -> ImplicitRegularisationParams:
        for eta in self.learning_rates:
            steps = self.time / eta
            if abs(steps - round(steps)) > 1e-9 * steps or round(steps) < 1:
                raise ValueError(
                    f"time / learning_rate must be a whole number of steps, got "
                    f"{self.time:g} / {eta:g} = {steps:.6g}"
                )
        return self


class ImplicitRegularisation(AbstractLaw):
    claim = (
        "Gradient descent at step η stays O(η²)-close to the modified flow of "
        "L + (η/4)‖∇L‖², and only O(η)-close to gradient flow."
    )
    source = "Barrett & Dherin, ICLR 2021 (arXiv:2009.11162), Theorem 3.1"
    pillar = Pillar.HYPERPARAMETERS
    kind = Kind.IDENTITY  # seeds are exact rotations of one problem: numerical analysis
    tolerance_basis = ToleranceBasis.computed(
        "the modified-equation series' next order, a relative η·S_max (S_max the largest "
        "Hessian eigenvalue along gradient flow)")
    Params = ImplicitRegularisationParams
    budgets = {
        "smoke": dict(time=1.0, learning_rates=(0.1, 0.05), n_seeds=2),
        "quick": {},
        "full": dict(width=16, n_samples=32, time=4.0,
                     learning_rates=(0.1, 0.05, 0.025, 0.0125, 0.00625), n_seeds=5),
    }
    panels = (Panel(PANEL, xlabel="learning rate η", ylabel="‖θ_GD(T) − θ_flow(T)‖",
                    xscale="log", yscale="log"),)

    def predict(self, params: ImplicitRegularisationParams) -> Series:
        fl = _flows(params)
        etas = np.array(params.learning_rates)
        return _series(etas, fl["mf_gap"], etas**2 * fl["w_norm"])

    def foil(self, params: ImplicitRegularisationParams) -> Series:
        fl = _flows(params)
        etas = np.array(params.learning_rates)
        return _series(etas, np.zeros_like(etas), fl["mf_gap"])

    def tolerance(self, params: ImplicitRegularisationParams, prediction: Series) -> np.ndarray:
        fl = _flows(params)
        etas = np.array(params.learning_rates)
        rho = etas * fl["s_max"]
        second = etas**2 * fl["w_norm"]
        return np.concatenate([second * (1 + rho), second * rho])

    def measure(self, params: ImplicitRegularisationParams, seed: int, *, device: str = "cpu",
                progress: Progress = lambda f: None) -> Series:
        fl = _flows(params)
        prob = _Problem(params)
        gaps = np.zeros((2, len(params.learning_rates), params.n_seeds))
        rots = [torch.linalg.qr(torch.randn(params.input_dim, params.input_dim,
                                            generator=generator(seed, "probe", j),
                                            dtype=torch.float64))[0]
                for j in range(params.n_seeds)]
        with single_thread():
            for i, eta in enumerate(params.learning_rates):
                ends = prob.gradient_descent(eta, round(params.time / eta), rots, seed, device)
                gaps[0, i] = np.linalg.norm(ends - fl["gf"], axis=1)
                gaps[1, i] = np.linalg.norm(ends - fl["mf"][i], axis=1)
                progress((i + 1) / len(params.learning_rates))
        est = mean_estimate(np.moveaxis(gaps, -1, 0))  # the rotated repeats are the units
        se = np.maximum(est.stderr, ROUNDING)
        etas = np.array(params.learning_rates)
        return Series.from_curves([Curve(PANEL, TO_GF, etas, est.value[0], se[0], est.units),
                                   Curve(PANEL, TO_MF, etas, est.value[1], se[1], est.units)])


def _series(etas: np.ndarray, to_gf: np.ndarray, to_mf: np.ndarray) -> Series:
    return Series.from_curves([Curve(PANEL, TO_GF, etas, to_gf), Curve(PANEL, TO_MF, etas, to_mf)])


def _half_mse(outputs: torch.Tensor, batch) -> torch.Tensor:
    """``(M,)`` L = (1/2n) Σ (f − y)² per member."""
    return 0.5 * mse(outputs, batch[1])


class _Problem:
    """The network's loss as a function of its flat parameters θ = (W₁, b₁, w₂, b₂)."""

    def __init__(self, params: ImplicitRegularisationParams) -> None:
        d, h, n = params.input_dim, params.width, params.n_samples

        def draw(purpose: str, *shape: int) -> torch.Tensor:
            return torch.randn(*shape, generator=generator(params.problem_seed, purpose),
                               dtype=torch.float64)

        self.x = draw("data", n, d)
        a, b, c = (v / torch.linalg.vector_norm(v) for v in draw("teacher", 3, d))
        self.y = torch.sin(2 * self.x @ a) + 0.5 * (self.x @ b) * (self.x @ c)  # (n,)
        self.shapes = [(h, d), (h,), (h,), (1,)]
        zeros = functools.partial(torch.zeros, dtype=torch.float64)
        w = draw("init", h * d + h)
        self.theta0 = torch.cat([w[: h * d] / d**0.5, zeros(h), w[h * d:] / h**0.5, zeros(1)])

    def loss(self, theta: torch.Tensor, rot: torch.Tensor | None = None) -> torch.Tensor:
        sizes = [int(np.prod(s)) for s in self.shapes]
        w1, b1, w2, b2 = (p.view(s) for p, s in zip(theta.split(sizes), self.shapes, strict=True))
        x = self.x if rot is None else self.x @ rot.T  # rotated inputs R x
        out = torch.tanh(x @ w1.T + b1) @ w2 + b2
        return 0.5 * ((out - self.y) ** 2).mean()

    def gradient_descent(self, eta: float, steps: int, rots: list[torch.Tensor], seed: int,
                         device: str) -> np.ndarray:
        """GD end points ``(R, p)``, one member per rotation R (inputs Rx, W₁ → W₁Rᵀ), trained
        by `lmech.ensemble.train` and mapped back to the original basis."""
        h, d = self.shapes[0]
        sizes = [int(np.prod(s)) for s in self.shapes]
        w1, b1, w2, b2 = self.theta0.split(sizes)
        rot = torch.stack(rots)  # (M, d, d)
        m = rot.shape[0]
        start = {"layers.0.weight": w1.view(h, d) @ rot.transpose(1, 2),
                 "layers.0.bias": b1.expand(m, h), "layers.1.weight": w2.view(1, h).expand(m, 1, h),
                 "layers.1.bias": b2.expand(m, 1)}
        template = MLP(MLPConfig(d, h, 1, 1, "tanh")).double().to(device)
        ens = Ensemble(template, {k: v.clone().to(device) for k, v in start.items()})
        inputs = (self.x @ rot.transpose(1, 2)).to(device)  # (M, n, d): rotated inputs R x
        targets = self.y.view(1, -1, 1).expand(m, -1, 1).to(device)  # (M, n, 1)
        train(ens, inputs, targets, optimizer=SGD(lr=eta), steps=steps,
              seed=seed, loss=_half_mse, every=steps)
        end = {k: v.detach().cpu() for k, v in ens.params.items()}
        w1_back = (end["layers.0.weight"] @ rot).flatten(1)  # W₁Rᵀ R = W₁
        return torch.cat([w1_back, end["layers.0.bias"], end["layers.1.weight"].flatten(1),
                          end["layers.1.bias"]], 1).numpy()

    def derivatives(self, theta: np.ndarray, w: np.ndarray | None = None):
        """∇L, H w, H∇L, H²∇L and ∇³L[∇L, ∇L] at θ (w = None: only the first three)."""
        t = torch.from_numpy(theta).requires_grad_()
        g = torch.autograd.grad(self.loss(t), t, create_graph=True)[0]
        gd = g.detach()
        hg = torch.autograd.grad(g @ gd, t, create_graph=True, retain_graph=True)[0]
        if w is None:
            return gd.numpy(), None, hg.detach().numpy(), None, None
        hw = torch.autograd.grad(g @ torch.from_numpy(w), t, retain_graph=True)[0]
        h2g = torch.autograd.grad(g @ hg.detach(), t, retain_graph=True)[0]
        d3 = torch.autograd.grad(hg @ gd, t)[0]  # ∇_θ(vᵀH(θ)v) at v = ∇L fixed
        return gd.numpy(), hw.numpy(), hg.detach().numpy(), h2g.numpy(), d3.numpy()

    def hessian_norm(self, theta: np.ndarray) -> float:
        h = torch.autograd.functional.hessian(self.loss, torch.from_numpy(theta))
        return float(torch.linalg.eigvalsh(h).abs().max())


@functools.lru_cache(maxsize=8)
def _flows(params: ImplicitRegularisationParams) -> dict:
    """GF and MF end points, ‖w(T)‖ and S_max: the theory's numbers (cached per params)."""
    prob = _Problem(params)
    p = prob.theta0.numel()
    theta0 = prob.theta0.numpy()
    solve = functools.partial(solve_ivp, t_span=(0.0, params.time), method="DOP853",
                              rtol=params.ode_rtol, atol=params.ode_rtol * 1e-2)
    with single_thread():

        def linearised(t, state):
            g, hw, _, h2g, d3 = prob.derivatives(state[:p], state[p:])
            return np.concatenate([-g, -hw - d3 / 12 - h2g / 3])

        times = np.linspace(0.0, params.time, 11)
        gf = solve(linearised, y0=np.concatenate([theta0, np.zeros(p)]), t_eval=times)
        s_max = max(prob.hessian_norm(gf.y[:p, k]) for k in range(times.size))
        mf = []
        for eta in params.learning_rates:
            def modified(t, theta, eta=eta):
                g, _, hg, _, _ = prob.derivatives(theta)
                return -(g + 0.5 * eta * hg)

            mf.append(solve(modified, y0=theta0).y[:, -1])
    gf_end = gf.y[:p, -1]
    return dict(gf=gf_end, mf=mf, w_norm=float(np.linalg.norm(gf.y[p:, -1])),
                s_max=s_max, mf_gap=np.array([np.linalg.norm(m - gf_end) for m in mf]))
