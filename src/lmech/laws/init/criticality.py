"""init.criticality — correlations converge exponentially off criticality, as a power law at it.

Experiment. Two inputs of equal norm and correlation ρ_x go through `members` random MLPs
of width n and depth L (`lmech.ensemble.sample_preactivations`). At every layer the
measured quantity is 1 − ρ^(l), with ρ^(l) = E z(x₁)z(x₂)/√(E z(x₁)² E z(x₂)²) over
networks and neurons (computed from E(z₁ − z₂)² without cancellation); standard errors by
a grouped jackknife over networks. Two networks:

- off criticality: tanh with C_W = 1.5, C_b = 0.2, inputs at the fixed point K* = 0.69324,
  where a small distance shrinks by χ⊥(K*) = 0.797 per layer: 1 − ρ^(l) ∝ e^{−l/ξ⊥},
  ξ⊥ = −1/ln χ⊥ = 4.41 layers (docs/theory/init.md, §Susceptibilities);
- at criticality: ReLU with C_W = 2, C_b = 0, where χ⊥ = 1 and the approach is set by the
  next order of the correlation map, 1 − ρ' = (1 − ρ) − (2√2/3π)(1 − ρ)^{3/2} + …, so
  1 − ρ^(l) → 9π²/(2l²), a power law (PDLT §5.2).

Prediction: 1 − ρ^(l) from the pair kernel recursion (`kernel_recursion_gram`), which
contains both behaviours exactly (its late-layer ratio tends to χ⊥(K*), resp. to the
power law).

Foil: the other behaviour with the same first step. Off criticality, the power law
through the predicted layers 1 and 2, (1 − ρ¹)·l^p with p = log₂((1 − ρ²)/(1 − ρ¹)); at
criticality, the exponential through them, (1 − ρ¹)·r^{l−1} with r = (1 − ρ²)/(1 − ρ¹).

Tolerance: the O(1/n) shift of 1 − ρ from the pair kernel's shift
(`kernel_finite_width_shift_pair`, linearised: δρ = δ₁₂/√(K₁₁K₂₂) − (ρ/2)(δ₁₁/K₁₁ + δ₂₂/K₂₂)),
times (1 + κ^(l)) for the O(1/n²) terms as in `init.kernel_recursion`, plus 1e-6 for
float32 sampling.

Source: Roberts, Yaida & Hanin, *The Principles of Deep Learning Theory*
(arXiv:2106.10165), §5.1–5.2; Schoenholz et al., ICLR 2017 (depth scales).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

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
from lmech.laws.init._moments import (
    grouped_jackknife,
    one_minus_correlation,
    pair_inputs,
    sample,
)
from lmech.theory import (
    excess_kurtosis,
    fixed_point,
    kernel_finite_width_shift_pair,
    kernel_recursion_gram,
)

OFF = "off criticality: tanh, C_W=1.5, C_b=0.2"
AT = "at criticality: ReLU, C_W=2, C_b=0"
JACKKNIFE_GROUPS = 40  # groups of networks: the units behind each standard error
NETWORKS = ((OFF, "tanh", 1.5, 0.2), (AT, "relu", 2.0, 0.0))
FLOAT32 = 1e-6


class CriticalityParams(LawParams):
    width: int = Field(512, ge=2, le=8192, description="hidden width n")
    depth: int = Field(20, ge=3, le=200, description="layers L")
    members: int = Field(2000, ge=40, description="random networks per panel")
    rho: float = Field(0.3, ge=-0.9, le=0.95, description="input correlation x₁·x₂/|x|²")


def _input_norm(name: str, c_w: float, c_b: float) -> float:
    """x·x/n₀ that puts K¹ at the fixed point (so only the correlation flows); 1 if none."""
    return (fixed_point(name, c_w, c_b) - c_b) / c_w if c_b > 0 else 1.0


def _first_kernel(params: CriticalityParams, name: str, c_w: float, c_b: float) -> np.ndarray:
    """K¹ = C_b + C_W x_α·x_β/n₀ for inputs of correlation ρ_x."""
    q = _input_norm(name, c_w, c_b)
    return c_b + c_w * q * np.array([[1.0, params.rho], [params.rho, 1.0]])


def _one_minus_rho(K: np.ndarray) -> np.ndarray:
    return 1 - K[:, 0, 1] / np.sqrt(K[:, 0, 0] * K[:, 1, 1])


class Criticality(AbstractLaw):
    claim = ("Two inputs' correlation approaches its fixed point exponentially, with depth "
             "scale ξ⊥ = −1/ln χ⊥, off criticality, and as a power law at criticality.")
    source = "Roberts, Yaida & Hanin, PDLT (arXiv:2106.10165), §5.1–5.2; Schoenholz et al. 2017"
    pillar = Pillar.LIMITS
    tolerance_basis = ToleranceBasis.computed(
        "the O(1/n) shift of 1 − ρ from the finite-width pair kernel, times (1 + κ) for the "
        "O(1/n²) terms, plus float32 sampling")
    Params = CriticalityParams
    budgets = {
        "smoke": dict(width=128, depth=8, members=400),
        "quick": {},
        "full": dict(width=2048, depth=40, members=8000),
    }
    panels = (
        Panel(OFF, xlabel="layer l", ylabel="1 − ρ", yscale="log"),
        Panel(AT, xlabel="layer l", ylabel="1 − ρ", xscale="log", yscale="log"),
    )

    def _kernel(self, params, name, c_w, c_b) -> np.ndarray:
        return kernel_recursion_gram(name, params.depth, c_w, c_b,
                                     _first_kernel(params, name, c_w, c_b))

    def predict(self, params: CriticalityParams) -> Series:
        layers = np.arange(1, params.depth + 1)
        return Series.from_curves([
            Curve(panel, "1 − ρ", layers, _one_minus_rho(self._kernel(params, *net)))
            for panel, *net in NETWORKS])

    def foil(self, params: CriticalityParams) -> Series:
        layers = np.arange(1, params.depth + 1)
        curves = []
        for panel, *net in NETWORKS:
            eps = _one_minus_rho(self._kernel(params, *net))
            ratio = eps[1] / eps[0]
            if panel == OFF:  # a power law through the first two layers
                y = eps[0] * layers ** np.log2(ratio)
            else:  # an exponential through the first two layers
                y = eps[0] * ratio ** (layers - 1.0)
            curves.append(Curve(panel, "1 − ρ", layers, y))
        return Series.from_curves(curves)

    def tolerance(self, params: CriticalityParams, prediction: Series) -> np.ndarray:
        tols = []
        for _, name, c_w, c_b in NETWORKS:
            K1 = _first_kernel(params, name, c_w, c_b)
            K = self._kernel(params, name, c_w, c_b)
            d = kernel_finite_width_shift_pair(name, params.depth, params.width, c_w, c_b, K1)
            norm = np.sqrt(K[:, 0, 0] * K[:, 1, 1])
            rho = K[:, 0, 1] / norm
            shift = d[:, 1] / norm - rho / 2 * (d[:, 0] / K[:, 0, 0] + d[:, 2] / K[:, 1, 1])
            kappa = excess_kurtosis(name, params.depth, params.width, c_w, c_b, K1[0, 0])
            tols.append(np.abs(shift) * (1 + kappa) + FLOAT32)
        return np.concatenate(tols)

    def measure(self, params: CriticalityParams, seed: int, *, device: str = "cpu",
                progress: Progress = lambda f: None) -> Series:
        layers = np.arange(1, params.depth + 1)
        curves = []
        for i, (panel, name, c_w, c_b) in enumerate(NETWORKS):
            x = pair_inputs(_input_norm(name, c_w, c_b), params.rho)
            zs = sample(x, depth=params.depth, width=params.width, activation=name, C_W=c_w,
                        C_b=c_b, members=params.members, seed=seed + 1000 * i, device=device)
            y, se = [], []
            for z in zs:
                z = z.cpu().double()
                per_net = [(z[:, 0] ** 2).mean(-1).numpy(), (z[:, 1] ** 2).mean(-1).numpy(),
                           ((z[:, 0] - z[:, 1]) ** 2).mean(-1).numpy()]
                value, err = grouped_jackknife(one_minus_correlation, per_net,
                                               groups=JACKKNIFE_GROUPS)
                y.append(value)
                se.append(err)
            curves.append(Curve(panel, "1 − ρ", layers, y, se, JACKKNIFE_GROUPS))
            progress((i + 1) / len(NETWORKS))
        return Series.from_curves(curves)
