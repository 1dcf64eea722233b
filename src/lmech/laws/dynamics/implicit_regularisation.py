"""dynamics.implicit_regularisation — GD follows the flow of L + (η/4)‖∇L‖², not that of L.

Experiment. A one-hidden-layer tanh network f(x) = w₂ᵀ tanh(W₁x + b₁) + b₂ (float64) is
fitted to a smooth nonlinear target, y = sin(2 a·x) + (b·x)(c·x)/2 on `n_samples` Gaussian
inputs (unit directions a, b, c and the initialisation drawn from `problem_seed`), with
the loss L = (1/2n) Σ (f − y)². Gradient descent θ ← θ − η∇L runs for T/η steps at each
η of `learning_rates`; its end point is compared with the gradient flow θ̇ = −∇L (GF) and
the modified flow θ̇ = −∇L̃, L̃ = L + (η/4)‖∇L‖² (MF), both solved to time T by an
explicit 8th-order Runge–Kutta method (DOP853, relative tolerance `ode_rtol`; its error
is ~10⁻¹² against gaps ≥ 10⁻⁶). GD is deterministic, so the seeds repeat it in a
randomly rotated input basis (x → Rx, W₁ → W₁Rᵀ: an isometry of parameter space that
leaves the loss unchanged) and map the end point back; their spread is the rounding
error, and the verdict rests on the tolerance.

Prediction. Backward error analysis: GD is the exact time-η map of
θ̇ = f + η f₁ + η² f₂ + …, with f = −∇L, f₁ = −½ H∇L (the gradient of −(1/4)‖∇L‖²: the
modified flow) and f₂ = (1/12) f″(f, f) + (1/3) f′f′f = −(1/12)∇³L[∇L, ∇L] − (1/3)H²∇L.
Hence (points of panel "gap at time T"):

- to the modified flow: ‖θ_GD(T) − θ_MF(T)‖ = η²‖w(T)‖ + O(η³), where w solves the
  linearised equation ẇ = −H(θ_GF) w + f₂(θ_GF), w(0) = 0, along gradient flow;
- to gradient flow: ‖θ_GD(T) − θ_GF(T)‖ = ‖θ_MF(T) − θ_GF(T)‖ (= O(η)) up to the
  previous gap.

Foil (gradient flow): GD tracks θ̇ = −∇L to O(η²), so the gap to gradient flow is 0 at
first order, and the gap to the modified flow is ‖θ_MF(T) − θ_GF(T)‖.

Tolerance. The modified-equation series is a series in η f′, i.e. in ηS with S the
spectral norm of the Hessian, so the neglected next order is a relative ρ = η·S_max
(S_max: the largest |eigenvalue| of H sampled along gradient flow): η²‖w‖·ρ on the gap to
the modified flow, and by the triangle inequality η²‖w‖(1 + ρ) on the gap to gradient
flow.

Source: D. G. T. Barrett & B. Dherin, "Implicit gradient regularization", ICLR 2021
(arXiv:2009.11162), Theorem 3.1; the second-order term: E. Hairer, C. Lubich, G. Wanner,
*Geometric Numerical Integration* (2006), §IX.1 (explicit Euler's modified equation).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from pydantic import Field, PositiveFloat, model_validator
from scipy.integrate import solve_ivp

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
        with single_thread():
            for j in range(params.n_seeds):
                gen = torch.Generator().manual_seed(seed * 1000 + j)
                rot, _ = torch.linalg.qr(torch.randn(params.input_dim, params.input_dim,
                                                     generator=gen, dtype=torch.float64))
                for i, eta in enumerate(params.learning_rates):
                    end = prob.gradient_descent(eta, round(params.time / eta), rot)
                    gaps[0, i, j] = np.linalg.norm(end - fl["gf"])
                    gaps[1, i, j] = np.linalg.norm(end - fl["mf"][i])
                progress((j + 1) / params.n_seeds)
        mean = gaps.mean(-1)
        se = np.maximum(gaps.std(-1, ddof=1) / np.sqrt(params.n_seeds), ROUNDING)
        etas = np.array(params.learning_rates)
        units = params.n_seeds
        return Series.from_curves([Curve(PANEL, TO_GF, etas, mean[0], se[0], units),
                                   Curve(PANEL, TO_MF, etas, mean[1], se[1], units)])


def _series(etas: np.ndarray, to_gf: np.ndarray, to_mf: np.ndarray) -> Series:
    return Series.from_curves([Curve(PANEL, TO_GF, etas, to_gf), Curve(PANEL, TO_MF, etas, to_mf)])


class _Problem:
    """The network's loss as a function of its flat parameters θ = (W₁, b₁, w₂, b₂)."""

    def __init__(self, params: ImplicitRegularisationParams) -> None:
        gen = torch.Generator().manual_seed(params.problem_seed)
        d, h, n = params.input_dim, params.width, params.n_samples
        kw = dict(generator=gen, dtype=torch.float64)
        self.x = torch.randn(n, d, **kw)
        a, b, c = (v / torch.linalg.vector_norm(v) for v in torch.randn(3, d, **kw))
        self.y = torch.sin(2 * self.x @ a) + 0.5 * (self.x @ b) * (self.x @ c)  # (n,)
        self.shapes = [(h, d), (h,), (h,), (1,)]
        zeros = functools.partial(torch.zeros, dtype=torch.float64)
        self.theta0 = torch.cat([torch.randn(h * d, **kw) / d**0.5, zeros(h),
                                 torch.randn(h, **kw) / h**0.5, zeros(1)])

    def loss(self, theta: torch.Tensor, rot: torch.Tensor | None = None) -> torch.Tensor:
        sizes = [int(np.prod(s)) for s in self.shapes]
        w1, b1, w2, b2 = (p.view(s) for p, s in zip(theta.split(sizes), self.shapes, strict=True))
        x = self.x if rot is None else self.x @ rot.T  # rotated inputs R x
        out = torch.tanh(x @ w1.T + b1) @ w2 + b2
        return 0.5 * ((out - self.y) ** 2).mean()

    def gradient_descent(self, eta: float, steps: int, rot: torch.Tensor) -> np.ndarray:
        """GD in the rotated basis (W₁ → W₁Rᵀ), mapped back to the original one."""
        h, d = self.shapes[0]
        theta = self.theta0.clone()
        theta[: h * d] = (theta[: h * d].view(h, d) @ rot.T).reshape(-1)
        for _ in range(steps):
            t = theta.requires_grad_()
            g = torch.autograd.grad(self.loss(t, rot), t)[0]
            theta = (t - eta * g).detach()
        theta[: h * d] = (theta[: h * d].view(h, d) @ rot).reshape(-1)
        return theta.numpy()

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
