"""init.kernel_recursion — the mean kernel at finite width: the recursion plus its 1/n shift.

Experiment. For each activation, `members` random MLPs of width n and depth L
(W ~ N(0, C_W/n), b ~ N(0, C_b), sampled by `lmech.ensemble.sample_preactivations`) see two
inputs with x·x/n₀ = q and correlation ρ. At the last layer the measured variance is the
average over networks of (1/n)Σᵢ z_i(x₁)² and the covariance that of (1/n)Σᵢ z_i(x₁)z_i(x₂);
the standard error is over networks (neurons of one network share its random kernel).

Prediction (PDLT eqs. 4.118 and 4.115; docs/theory/init.md, §The 1/n kernel shift): the
infinite-width recursion K^(l+1)_αβ = C_b + C_W<σ(z_α)σ(z_β)>_{K^(l)}
(`kernel_recursion_gram`) plus its computed O(1/n) shift δ^(l)
(`kernel_finite_width_shift_pair`: the second-order expansion of <σσ>_Ĝ in the
fluctuation of Ĝ, whose covariance is the four-point vertex V/n).

Foil: the infinite-width recursion alone, K^(l) without the shift.

Tolerance (computed): the first neglected terms are O(1/n²), δ^(l) times one more power of
the expansion parameter; we allow |δ^(l)|·κ^(l), κ the leading excess kurtosis 3V/(nK²)
(for the scale-invariant class the exact series gives κ/6 there), plus 1e-6·|K| for
float32 sampling.

Setting: tanh and sin at criticality (the K* = 0 class, whose κ is small enough that the
shift is resolvable: the foil lies 1/κ ≈ 3.5 tolerances away). The shift is tested at the
last layer, where it is largest; ReLU is left out (its single-input shift is zero at every
order, and its κ ≈ 15L/n exceeds 1 before its covariance shift is resolvable).

Source: Roberts, Yaida & Hanin, *The Principles of Deep Learning Theory*
(arXiv:2106.10165), eqs. 4.118 (recursion) and 4.115 (1/n correction); Lee et al. 2018.
"""

from __future__ import annotations

import functools

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
from lmech.laws.init._moments import layer_moments, pair_inputs, sample
from lmech.measure.stats import mean_estimate
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
        (("tanh", 1.0, 0.0), ("sin", 1.0, 0.0)), min_length=1,
        description="(activation, C_W, C_b) of each network family")
    width: int = Field(32, ge=2, le=4096, description="hidden width n")
    depth: int = Field(6, ge=3, le=100, description="layers L (the shift starts at layer 3)")
    members: int = Field(400_000, ge=10, description="random networks per family")
    q: float = Field(1.0, gt=0, description="input norm x·x/n₀")
    rho: float = Field(0.8, ge=-0.99, le=0.99, description="input correlation")

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


def last_layer_kernel(params: KernelRecursionParams, name: str, c_w: float, c_b: float
                      ) -> tuple[np.ndarray, np.ndarray, float]:
    """(K, δ, κ) at layer L: infinite-width (K11, K12), their 1/n shift, and the kurtosis."""
    return _last_layer_kernel(name, c_w, c_b, params.depth, params.width, params.q, params.rho)


@functools.lru_cache(maxsize=64)
def _last_layer_kernel(name, c_w, c_b, depth, width, q, rho):
    # Cached: predict, foil and tolerance each need it, and the pair shift takes ~0.2 s.
    K1 = c_b + c_w * q * np.array([[1.0, rho], [rho, 1.0]])
    K = kernel_recursion_gram(name, depth, c_w, c_b, K1)[-1]
    shift = kernel_finite_width_shift_pair(name, depth, width, c_w, c_b, K1)[-1]
    kappa = excess_kurtosis(name, depth, width, c_w, c_b, K1[0, 0])[-1]
    return np.array([K[0, 0], K[0, 1]]), shift[:2], float(kappa)


class KernelRecursion(AbstractLaw):
    claim = ("The mean kernel of a finite-width random MLP is the infinite-width recursion "
             "K' = C_b + C_W<σσ>_K shifted by its computed 1/n correction.")
    source = "Roberts, Yaida & Hanin, PDLT (arXiv:2106.10165), eqs. 4.118, 4.115; Lee et al. 2018"
    pillar = Pillar.LIMITS
    tolerance_basis = ToleranceBasis.computed(
        "the O(1/n²) terms: the 1/n shift times the expansion parameter κ = 3V/(nK²), plus "
        "float32 sampling")
    Params = KernelRecursionParams
    budgets = {
        "smoke": dict(members=40_000),
        "quick": {},
        "full": dict(members=2_000_000),
    }
    panels = (
        Panel(VARIANCE, xlabel="layer l", ylabel="E z(x₁)²"),
        Panel(COVARIANCE, xlabel="layer l", ylabel="E z(x₁)z(x₂)"),
    )

    def _series(self, params, value) -> Series:
        curves = []
        for name, c_w, c_b in params.networks:
            K, shift, _ = last_layer_kernel(params, name, c_w, c_b)
            y = value(K, shift)
            curves.append(Curve(VARIANCE, name, [params.depth], [y[0]]))
            curves.append(Curve(COVARIANCE, name, [params.depth], [y[1]]))
        return Series.from_curves(curves)

    def predict(self, params: KernelRecursionParams) -> Series:
        return self._series(params, lambda K, shift: K + shift)

    def foil(self, params: KernelRecursionParams) -> Series:
        return self._series(params, lambda K, shift: K)

    def tolerance(self, params: KernelRecursionParams, prediction: Series) -> np.ndarray:
        tols = []
        for name, c_w, c_b in params.networks:
            K, shift, kappa = last_layer_kernel(params, name, c_w, c_b)
            tols.append(np.abs(shift) * kappa + FLOAT32 * np.abs(K))
        return np.concatenate(tols)

    def measure(self, params: KernelRecursionParams, seed: int, *, device: str = "cpu",
                progress: Progress = lambda f: None) -> Series:
        curves = []
        x = pair_inputs(params.q, params.rho)
        for i, (name, c_w, c_b) in enumerate(params.networks):
            (z,) = sample(x, depth=params.depth, width=params.width, activation=name, C_W=c_w,
                          C_b=c_b, members=params.members, seed=seed, family=i, device=device,
                          layers=[params.depth])
            moments = layer_moments(z.cpu())
            for panel, key in ((VARIANCE, "zz"), (COVARIANCE, "zw")):
                e = mean_estimate(moments[key])
                curves.append(Curve(panel, name, [params.depth], [e.value], [e.stderr],
                                    e.units))
            progress((i + 1) / len(params.networks))
        return Series.from_curves(curves)
