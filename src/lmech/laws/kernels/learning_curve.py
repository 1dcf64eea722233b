"""kernels.learning_curve — kernel regression's test error vs n follows the eigenlearning curve.

Experiment. Kernel ridge regression f̂ = k(·, X)(K_XX + δI)⁻¹y (ridge δ on the raw Gram
matrix), labels y = f(x) + ε with Var ε = σ², test error against noisy labels, averaged
over n_draws · n_max/n training sets at each n (small n are cheap and noisier):
"power-law spectrum": a Gaussian design with λ_k = k^(−α) on `modes` features φ_k ~ N(0, 1)
and target coefficients v_k = k^(−β/2), so the test error is exactly ‖v̂ − v‖² + σ²;
"ReLU kernel": the infinite-width NTK (or NNGP) of a ReLU MLP on a population of Gaussian
inputs with a random one-hidden-layer ReLU teacher, training sets of n distinct points, the
test error the mean over the population. `problem_seed` draws population and teacher; the
run's seed the training sets. "decay exponent": the least-squares slope of log E on log n
(power law), a consistency panel.

Prediction: eigenlearning (docs/theory/kernels.md, §Eigenlearning): κ from
Σ_i λ_i/(λ_i + κ) + δ/κ = n, L_i = λ_i/(λ_i + κ), E₀ = n/(n − Σ L_i²),
E = E₀[Σ_i (1 − L_i)² v_i² + σ²], with (λ, v) as drawn or from the population's kernel
matrix (`kernel_eigensystem`).

Foil: eigenlearning without the overfitting factor, E = Σ_i (1 − L_i)² v_i² + σ² with the
same κ: the population risk of the renormalised ridge, the answer that forgets that the
finite sample also amplifies the unlearned signal and the noise (about 30 % below).

Tolerance: 6 % of E (and Σ_i |c_i| · 6 % on the slope, c_i its least-squares weights),
declared from a pilot at twice its largest deviation: eigenlearning is the leading order in
1/n and neglects the finite-n fluctuations of the Gram matrix (docs/theory/kernels.md,
§What is neglected).

Source: J. B. Simon, M. Dickens, D. Karkada, M. R. DeWeese, TMLR 2023 (arXiv:2110.03922),
eqs. 4–8; B. Bordelon, A. Canatar, C. Pehlevan, ICML 2020 (arXiv:2002.02561), eq. 5.
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import numpy as np
import torch
from pydantic import Field, model_validator
from threadpoolctl import threadpool_limits

from lmech.ensemble import derive, generator
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
from lmech.measure.stats import mean_estimate, slope_weights
from lmech.theory import (
    eigenlearning_kappa,
    eigenlearning_test_error,
    kernel_eigensystem,
    learnabilities,
    nngp_kernel,
    ntk_kernel,
)

RELATIVE_TOLERANCE = 0.06
PILOT_SEEDS = (1_000_011, 1_000_012, 1_000_013)
POWER = "power-law spectrum"
RELU = "ReLU kernel"
EXPONENT = "decay exponent"


class LearningCurveParams(LawParams):
    modes: int = Field(2000, ge=2, le=100_000, description="power-law modes M")
    population: int = Field(2000, ge=16, le=20_000,
                            description="ReLU-kernel population N (p is uniform on it)")
    sample_sizes: tuple[int, ...] = Field((32, 64, 128, 256), min_length=2,
                                          description="training-set sizes n, increasing")
    n_draws: int = Field(100, ge=2, le=100_000,
                         description="training sets at the largest n; n_draws·n_max/n at n")
    ridge: float = Field(1e-2, gt=0, description="ridge δ on the raw Gram matrix, > 0")
    noise: float = Field(1e-2, ge=0, description="label-noise variance σ²")
    alpha: float = Field(1.5, gt=1, description="power-law spectrum λ_k = k^(−α)")
    beta: float = Field(2.0, gt=1, description="target power v_k² = k^(−β)")
    kernel: Literal["ntk", "nngp"] = Field("ntk", description="ReLU kernel family")
    depth: int = Field(2, ge=1, le=50, description="layers of the ReLU network's kernel")
    input_dim: int = Field(16, ge=1, le=1000, description="input dimension d")
    teacher_width: int = Field(64, ge=1, le=10_000, description="ReLU teacher width m")
    problem_seed: int = Field(0, ge=0, description="draws the populations and targets")

    @model_validator(mode="after")
    def _consistent(self) -> LearningCurveParams:
        ns = self.sample_sizes
        if min(ns) < 1 or any(b <= a for a, b in zip(ns, ns[1:], strict=False)):
            raise ValueError(f"sample_sizes must be positive and increasing, got {ns}")
        if 4 * ns[-1] > min(self.population, self.modes):
            raise ValueError(
                f"the largest sample size ({ns[-1]}) must be at most a quarter of the modes "
                f"({self.modes}) and of the population ({self.population}), so that the "
                "spectrum the prediction uses extends well past n"
            )
        return self


class LearningCurve(AbstractLaw):
    claim = (
        "Kernel ridge regression's test error as a function of n follows eigenlearning's "
        "self-consistent prediction from the kernel's eigenvalues and the target's coefficients."
    )
    source = "Simon et al., TMLR 2023 (arXiv:2110.03922), eqs. 4–8; Bordelon et al., ICML 2020"
    pillar = Pillar.LIMITS
    tolerance_basis = ToleranceBasis.pilot(
        seeds=PILOT_SEEDS,
        measured="quick budget, 3 seeds: every point within 2.9 % of eigenlearning (largest "
                 "+2.8 ± 0.7 % at n = 64 on the power law; mean +1.3 % at n = 32); slopes "
                 "within 0.006",
        why="6 % of E, twice the pilot's largest deviation: eigenlearning neglects the finite-n "
            "fluctuations of the Gram matrix")
    Params = LearningCurveParams
    budgets = {
        "smoke": dict(modes=1000, population=600, sample_sizes=(32, 64, 128),
                      n_draws=40, input_dim=8),
        "quick": {},
        "full": dict(modes=4000, population=4000, sample_sizes=(32, 64, 128, 256, 512),
                     n_draws=400),
    }
    panels = (
        Panel(POWER, xlabel="training samples n", ylabel="test error", xscale="log",
              yscale="log"),
        Panel(RELU, xlabel="training samples n", ylabel="test error", xscale="log",
              yscale="log"),
        Panel(EXPONENT, xlabel="spectrum exponent α", ylabel="slope of log E vs log n",
              no_foil="a consistency check: the overfitting factor changes the level of E far "
                      "more than its slope, so the foil's slope lies within the tolerance"),
    )

    def predict(self, params: LearningCurveParams) -> Series:
        return self._series(params, lambda lam, v, ns: eigenlearning_test_error(
            lam, v, ns, params.ridge, params.noise))

    def foil(self, params: LearningCurveParams) -> Series:
        return self._series(params, lambda lam, v, ns: _error_without_overfitting(
            lam, v, ns, params.ridge, params.noise))

    def tolerance(self, params: LearningCurveParams, prediction: Series) -> np.ndarray:
        tol = RELATIVE_TOLERANCE * np.abs(prediction.y)
        weights = slope_weights(np.log(params.sample_sizes))
        tol[prediction.panel == EXPONENT] = RELATIVE_TOLERANCE * np.abs(weights).sum()
        return tol

    def _series(self, params: LearningCurveParams, curve) -> Series:
        ns = np.array(params.sample_sizes, dtype=np.float64)
        power, relu = _problems(params)
        e_power = curve(power.eigenvalues, power.coefficients, ns)
        e_relu = curve(relu.eigenvalues, relu.coefficients, ns)
        slope = float(slope_weights(np.log(ns)) @ np.log(e_power))
        return Series.from_curves([
            Curve(POWER, _power_name(params), ns, e_power),
            Curve(RELU, params.kernel.upper(), ns, e_relu),
            Curve(EXPONENT, _power_name(params), [params.alpha], [slope]),
        ])

    def measure(self, params: LearningCurveParams, seed: int, *, device: str = "cpu",
                progress: Progress = lambda f: None) -> Series:
        ns = np.array(params.sample_sizes, dtype=np.float64)
        out = []
        for k, prob in enumerate(_problems(params)):
            # problem k's training sets: the "data" stream of member k
            gen = generator(seed, "data", k)
            out.append(_measured_errors(prob, params, gen, device))  # (n_sizes, 2): mean, se
            progress((k + 1) / 2)
        (power, relu) = out
        weights = slope_weights(np.log(ns))
        slope = float(weights @ np.log(power[:, 0]))
        slope_se = float(np.sqrt(np.sum((weights * power[:, 1] / power[:, 0]) ** 2)))
        units = _draws(params)  # independent training sets at each n
        return Series.from_curves([
            Curve(POWER, _power_name(params), ns, power[:, 0], power[:, 1], units),
            Curve(RELU, params.kernel.upper(), ns, relu[:, 0], relu[:, 1], units),
            Curve(EXPONENT, _power_name(params), [params.alpha], [slope], [slope_se],
                  units.min()),
        ])


def _draws(params: LearningCurveParams) -> np.ndarray:
    """Training sets at each n: n_draws · n_max/n. The relative spread of one draw's error
    grows as n falls while a draw gets cheaper, so small n get more draws."""
    ns = np.array(params.sample_sizes, dtype=np.float64)
    return np.round(params.n_draws * ns[-1] / ns).astype(np.int64)


def _power_name(params: LearningCurveParams) -> str:
    return f"α={params.alpha:g}, β={params.beta:g}"


def _error_without_overfitting(lam, v, ns, ridge: float, noise: float) -> np.ndarray:
    """Eigenlearning's E with the right κ but no overfitting factor: Σ(1 − L_i)²v_i² + σ²."""
    kappa = eigenlearning_kappa(lam, ns, ridge)
    return np.sum((1 - learnabilities(lam, kappa)) ** 2 * v**2, axis=-1) + noise


class _Problem:
    """A kernel's operator eigensystem (λ, v) and how to sample its training sets:
    ``draw_error(*tensors, n, gen, params)`` with `arrays` moved to the run's device."""

    def __init__(self, eigenvalues: np.ndarray, coefficients: np.ndarray, draw_error,
                 arrays: tuple[np.ndarray, ...]) -> None:
        self.eigenvalues = eigenvalues
        self.coefficients = coefficients
        self.draw_error = draw_error
        self.arrays = arrays


@functools.lru_cache(maxsize=4)
def _problems(params: LearningCurveParams) -> tuple[_Problem, _Problem]:
    ks = np.arange(1, params.modes + 1, dtype=np.float64)
    lam, v = ks ** -params.alpha, ks ** (-params.beta / 2)
    power = _Problem(lam, v, _gaussian_design_error, (lam, v))
    d, m = params.input_dim, params.teacher_width
    # the problem (teacher weights, member 0; its input population, member 1) is drawn from
    # problem_seed's "teacher" streams, apart from every training-set stream of the run
    teacher = np.random.default_rng(derive(params.problem_seed, "teacher", 0))
    w, a = teacher.standard_normal((d, m)), teacher.standard_normal(m)
    x = np.random.default_rng(derive(params.problem_seed, "teacher", 1)).standard_normal(
        (params.population, d))
    target = np.maximum(x @ w / np.sqrt(d), 0.0) @ a / np.sqrt(m)
    kernel = ntk_kernel if params.kernel == "ntk" else nngp_kernel
    gram = kernel(x, depth=params.depth)
    with threadpool_limits(1):
        lam_relu, v_relu = kernel_eigensystem(gram, target)
    relu = _Problem(lam_relu, v_relu, _population_error, (gram, target))
    return power, relu


def _gaussian_design_error(lam: torch.Tensor, v: torch.Tensor, n: int, gen: torch.Generator,
                           params: LearningCurveParams) -> float:
    """KRR with features φ_k(x) iid N(0, 1): the test error is exact, ‖v̂ − v‖² + σ²."""
    phi = torch.randn(n, lam.numel(), generator=gen, dtype=torch.float64).to(lam.device)
    eps = torch.randn(n, generator=gen, dtype=torch.float64).to(lam.device)
    y = phi @ v + math.sqrt(params.noise) * eps  # (n,)
    gram = (phi * lam) @ phi.T + params.ridge * torch.eye(n, dtype=lam.dtype, device=lam.device)
    v_hat = lam * (phi.T @ torch.linalg.solve(gram, y))  # (M,)
    return float(((v_hat - v) ** 2).sum()) + params.noise


def _population_error(gram: torch.Tensor, target: torch.Tensor, n: int, gen: torch.Generator,
                      params: LearningCurveParams) -> float:
    """KRR on n distinct population points, tested on the whole population (= E over p)."""
    train = torch.randperm(target.numel(), generator=gen)[:n].to(target.device)
    eps = torch.randn(n, generator=gen, dtype=torch.float64).to(target.device)
    y = target[train] + math.sqrt(params.noise) * eps
    k = gram[train][:, train] + params.ridge * torch.eye(n, dtype=gram.dtype,
                                                         device=gram.device)
    coef = torch.linalg.solve(k, y)
    return float(((gram[:, train] @ coef - target) ** 2).mean()) + params.noise


def _measured_errors(prob: _Problem, params: LearningCurveParams, gen: torch.Generator,
                     device: str) -> np.ndarray:
    """Mean and standard error of the test error at each n, shape (n_sizes, 2)."""
    tensors = [torch.from_numpy(a).to(device) for a in prob.arrays]
    out = np.zeros((len(params.sample_sizes), 2))
    with single_thread():
        for i, (n, draws) in enumerate(zip(params.sample_sizes, _draws(params), strict=True)):
            est = mean_estimate([prob.draw_error(*tensors, n, gen, params)
                                 for _ in range(draws)])
            out[i] = est.value, est.stderr
    return out
