"""init.kernel_recursion — preactivation (co)variances of a random MLP follow the kernel recursion.

Experiment. For each activation, `members` random MLPs of width n and depth L
(W ~ N(0, C_W/n), b ~ N(0, C_b), sampled by `lmech.ensemble.sample_preactivations`) see two
inputs with x·x/n₀ = q and correlation ρ. At every layer l the measured variance is the
average over networks of (1/n)Σᵢ z_i(x₁)² and the covariance that of (1/n)Σᵢ z_i(x₁)z_i(x₂);
the standard error is over networks (neurons of one network share its random kernel).

Prediction (PDLT eq. 4.118; docs/theory/init.md, §Kernel recursion):
K¹ = C_b + C_W x_α·x_β/n₀ and
K^(l+1)_αβ = C_b + C_W <σ(z_α)σ(z_β)>_{K^(l)} — `kernel_recursion_gram`.

Foil: the linear-network answer K^(l+1) = C_b + C_W K^(l) (variance multiplied by C_W each
layer), what one gets by forgetting that σ reshapes the distribution.

Tolerance: the recursion is the infinite-width limit. At width n the mean kernel moves by
δ^(l) = O(1/n), computed here exactly at that order (`kernel_finite_width_shift_pair`:
second-order expansion of <σσ>_Ĝ in the fluctuation of Ĝ, whose covariance is the
four-point vertex V/n); the first neglected terms are O(1/n²), i.e. δ times the
expansion parameter of the 1/n series, the leading excess kurtosis κ^(l) = 3V/(nK²)
(for ReLU the exact series gives κ/6 there, so the factor 1 is generous). So
tol = |δ^(l)|(1 + κ^(l)) + 1e-6·|K| (float32 sampling). For ReLU the variance shift vanishes
at every order (E z² is linear in E Ĝ), the covariance shift does not.

Source: Roberts, Yaida & Hanin, *The Principles of Deep Learning Theory*
(arXiv:2106.10165), eqs. 4.118 (recursion) and 4.115 (1/n correction); Lee et al. 2018.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from lmech.errors import LmechError
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
from lmech.laws.init._moments import layer_moments, mean_and_stderr, pair_inputs, sample
from lmech.theory import (
    excess_kurtosis,
    get_activation,
    kernel_finite_width_shift_pair,
    kernel_recursion_gram,
)

VARIANCE = "variance"
COVARIANCE = "covariance"
FLOAT32 = 1e-6


class KernelRecursionParams(LawParams):
    networks: tuple[tuple[str, float, float], ...] = Field(
        (("tanh", 1.0, 0.0), ("relu", 2.0, 0.0), ("gelu", 1.983, 0.173)), min_length=1,
        description="(activation, C_W, C_b) of each network family")
    width: int = Field(64, ge=2, le=4096, description="hidden width n")
    depth: int = Field(10, ge=2, le=100, description="layers L")
    members: int = Field(4000, ge=10, description="random networks per family")
    q: float = Field(1.0, gt=0, description="input norm x·x/n₀")
    rho: float = Field(0.5, ge=-0.99, le=0.99, description="input correlation")

    @model_validator(mode="after")
    def _known_networks(self) -> KernelRecursionParams:
        for name, c_w, c_b in self.networks:
            try:
                get_activation(name)  # an unknown name is refused here, before anything runs
            except LmechError as err:
                raise ValueError(str(err)) from None
            if not (c_w > 0 and c_b >= 0):
                raise ValueError(f"network {name!r}: need C_W > 0 and C_b >= 0, got "
                                 f"C_W={c_w}, C_b={c_b}")
        return self


def _first_kernel(params, c_w: float, c_b: float) -> np.ndarray:
    g = params.q * np.array([[1.0, params.rho], [params.rho, 1.0]])
    return c_b + c_w * g


class KernelRecursion(AbstractLaw):
    claim = ("The variance and covariance of preactivations of a random MLP follow the "
             "infinite-width kernel recursion K' = C_b + C_W<σσ>_K, within its 1/n shift.")
    source = "Roberts, Yaida & Hanin, PDLT (arXiv:2106.10165), eq. 4.118; Lee et al. 2018"
    pillar = Pillar.LIMITS
    tolerance_basis = ToleranceBasis.computed(
        "the finite-width 1/n shift of the kernel, computed, times (1 + κ) for the O(1/n²) "
        "terms")
    Params = KernelRecursionParams
    budgets = {
        "smoke": dict(networks=(("tanh", 1.0, 0.0), ("relu", 2.0, 0.0)), width=32, depth=4,
                      members=1500),
        "quick": {},
        "full": dict(width=128, depth=20, members=20000),
    }
    panels = (
        Panel(VARIANCE, xlabel="layer l", ylabel="E z(x₁)²", yscale="log"),
        Panel(COVARIANCE, xlabel="layer l", ylabel="E z(x₁)z(x₂)", yscale="log"),
    )

    def _curves(self, params, kernels) -> Series:
        layers = np.arange(1, params.depth + 1)
        curves = []
        for (name, _, _), K in zip(params.networks, kernels, strict=True):
            curves.append(Curve(VARIANCE, name, layers, K[:, 0, 0]))
            curves.append(Curve(COVARIANCE, name, layers, K[:, 0, 1]))
        return Series.from_curves(curves)

    def predict(self, params: KernelRecursionParams) -> Series:
        return self._curves(params, [
            kernel_recursion_gram(name, params.depth, c_w, c_b, _first_kernel(params, c_w, c_b))
            for name, c_w, c_b in params.networks])

    def foil(self, params: KernelRecursionParams) -> Series:
        kernels = []
        for _, c_w, c_b in params.networks:
            K = np.empty((params.depth, 2, 2))
            K[0] = _first_kernel(params, c_w, c_b)
            for layer in range(1, params.depth):
                K[layer] = c_b + c_w * K[layer - 1]
            kernels.append(K)
        return self._curves(params, kernels)

    def tolerance(self, params: KernelRecursionParams, prediction: Series) -> np.ndarray:
        tols = []
        for name, c_w, c_b in params.networks:
            K1 = _first_kernel(params, c_w, c_b)
            shift = kernel_finite_width_shift_pair(name, params.depth, params.width, c_w, c_b,
                                                   K1)  # (L, 3)
            kappa = excess_kurtosis(name, params.depth, params.width, c_w, c_b, K1[0, 0])
            K = kernel_recursion_gram(name, params.depth, c_w, c_b, K1)
            for column, entry in ((0, K[:, 0, 0]), (1, K[:, 0, 1])):
                tols.append(np.abs(shift[:, column]) * (1 + kappa) + FLOAT32 * np.abs(entry))
        return np.concatenate(tols)

    def measure(self, params: KernelRecursionParams, seed: int, *, device: str = "cpu",
                progress: Progress = lambda f: None) -> Series:
        layers = np.arange(1, params.depth + 1)
        curves = []
        x = pair_inputs(params.q, params.rho)
        for i, (name, c_w, c_b) in enumerate(params.networks):
            zs = sample(x, depth=params.depth, width=params.width, activation=name, C_W=c_w,
                        C_b=c_b, members=params.members, seed=seed + 1000 * i, device=device)
            stats = [layer_moments(z.cpu()) for z in zs]
            var = [mean_and_stderr(s["zz"]) for s in stats]
            cov = [mean_and_stderr(s["zw"]) for s in stats]
            curves.append(Curve(VARIANCE, name, layers, [v[0] for v in var], [v[1] for v in var],
                                params.members))
            curves.append(Curve(COVARIANCE, name, layers, [c[0] for c in cov],
                                [c[1] for c in cov], params.members))
            progress((i + 1) / len(params.networks))
        return Series.from_curves(curves)
