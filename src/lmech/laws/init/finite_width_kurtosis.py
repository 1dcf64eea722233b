"""init.finite_width_kurtosis — the excess kurtosis of preactivations grows like depth over width.

Experiment. `members` random MLPs at criticality (ReLU: C_W = 2, C_b = 0; tanh: C_W = 1,
C_b = 0) of each width n see one input with x·x/n₀ = 1 (K¹ = C_W). At layers l = r·n for
a few depth-to-width ratios r the excess kurtosis κ = E z⁴/(E z²)² − 3 is estimated from
per-network neuron averages of z² and z⁴, with a delta-method standard error over networks
(neurons of one network share its random kernel, so the network is the unit of sampling).

Prediction (PDLT eq. 4.90, §5.4; docs/theory/init.md, §Four-point vertex): the leading
order κ₁^(l) = 3V^(l)/(n K^(l)²) from the vertex recursion (`excess_kurtosis`); widths
collapse onto one curve of l/n per class: 15(l − 1)/n for ReLU (scale-invariant class),
growing towards 2l/n for tanh (K* = 0 class; (V/K²)/l = 0.55 at l = 10, so the recursion,
not the asymptote, is used).

Tolerance (computed): the O(1/n²) term, allowed as κ₁²/3, twice the scale-invariant class's
exact second-order coefficient (the exact ReLU law 3[(1 + 5/n)^{l−1} − 1] expands as
κ₁ + κ₁²/6·(l − 2)/(l − 1) + O(κ₁³); the K* = 0 class's coefficient is not computed: a
Monte Carlo at n = 32, l = 10 puts it near κ₁²/13), plus float32 sampling. Depth-to-width
ratios are chosen per class so that κ₁ ≈ 0.4–1.3, where the second-order band is wider than
the sampling error and narrower than half the gap to the foil.

Foil: width-only scaling with no depth growth: every layer keeps the second layer's
κ₁^(2) ∝ 1/n. (The infinite-width foil κ = 0 is further still, tested separately.)

Source: Roberts, Yaida & Hanin, *The Principles of Deep Learning Theory*
(arXiv:2106.10165), §4.3 (eq. 4.90), §5.4; Hanin & Nica 2019 (the exact ReLU product law).
"""

from __future__ import annotations

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
from lmech.laws.init._moments import layer_kurtosis, sample
from lmech.theory import excess_kurtosis

NETWORKS = (("relu", 2.0), ("tanh", 1.0))
FLOAT32 = 1e-5  # float32 sampling: relative rounding of z⁴ moments ~1e-6, times κ + 3


def _panel(name: str) -> str:
    return f"{name} at criticality"


class FiniteWidthKurtosisParams(LawParams):
    relu_widths: tuple[int, ...] = Field((64, 128), min_length=1, description="ReLU widths n")
    relu_ratios: tuple[float, ...] = Field((0.0625, 0.09375), min_length=1,
                                           description="ReLU depth-to-width ratios l/n judged")
    tanh_widths: tuple[int, ...] = Field((32, 64), min_length=1, description="tanh widths n")
    tanh_ratios: tuple[float, ...] = Field((0.25, 0.3125), min_length=1,
                                           description="tanh depth-to-width ratios l/n judged")
    members: int = Field(80_000, ge=100, description="random networks per width")

    @model_validator(mode="after")
    def _whole_layers(self) -> FiniteWidthKurtosisParams:
        for name, _ in NETWORKS:
            for n in getattr(self, f"{name}_widths"):
                for r in getattr(self, f"{name}_ratios"):
                    if abs(r * n - round(r * n)) > 1e-9 or not 2 <= round(r * n) <= 400:
                        raise ValueError(f"{name}: ratio {r} × width {n} must be a whole "
                                         f"layer in 2..400")
        return self

    def layers(self, name: str, width: int) -> np.ndarray:
        """The judged layers l = r·n of `name` at `width`, ascending."""
        return np.array(sorted(round(r * width) for r in getattr(self, f"{name}_ratios")))

    def points(self) -> list[tuple[str, float, int]]:
        """(activation, C_W, width) of every measured family."""
        return [(name, c_w, n) for name, c_w in NETWORKS for n in getattr(self, f"{name}_widths")]


def leading_kurtosis(name: str, c_w: float, depth: int, width: int) -> np.ndarray:
    """κ₁^(1) … κ₁^(L) = 3V/(nK²), the leading order in 1/n (K¹ = C_W, C_b = 0)."""
    return excess_kurtosis(name, depth, width, c_w, 0.0, c_w)


class FiniteWidthKurtosis(AbstractLaw):
    claim = ("The excess kurtosis of a preactivation at criticality grows linearly with depth "
             "at fixed width, as a function of l/n with the class-specific coefficient.")
    source = ("Roberts, Yaida & Hanin, PDLT (arXiv:2106.10165), §4.3, §5.4; "
              "Hanin & Nica 2019")
    pillar = Pillar.LIMITS
    tolerance_basis = ToleranceBasis.computed(
        "the O(1/n²) term allowed as κ₁²/3, twice the scale-invariant class's exact "
        "second-order coefficient, plus float32 sampling")
    Params = FiniteWidthKurtosisParams
    budgets = {
        "smoke": dict(relu_widths=(64,), tanh_widths=(32,), members=8000),
        "quick": {},
        "full": dict(relu_widths=(64, 128, 256), tanh_widths=(32, 64, 128),
                     members=320_000),
    }
    panels = tuple(Panel(_panel(name), xlabel="depth / width  l/n", ylabel="excess kurtosis κ")
                   for name, _ in NETWORKS)

    def _series(self, params, values) -> Series:
        curves = []
        for name, c_w, n in params.points():
            layers = params.layers(name, n)
            kappa = leading_kurtosis(name, c_w, int(layers[-1]), n)
            curves.append(Curve(_panel(name), f"n={n}", layers / n, values(kappa, layers)))
        return Series.from_curves(curves)

    def predict(self, params: FiniteWidthKurtosisParams) -> Series:
        return self._series(params, lambda kappa, layers: kappa[layers - 1])

    def foil(self, params: FiniteWidthKurtosisParams) -> Series:
        return self._series(params, lambda kappa, layers: np.full(len(layers), kappa[1]))

    def tolerance(self, params: FiniteWidthKurtosisParams, prediction: Series) -> np.ndarray:
        return prediction.y**2 / 3 + FLOAT32 * (np.abs(prediction.y) + 3)

    def measure(self, params: FiniteWidthKurtosisParams, seed: int, *, device: str = "cpu",
                progress: Progress = lambda f: None) -> Series:
        x = torch.ones(1, 4)
        curves = []
        runs = params.points()
        for i, (name, c_w, n) in enumerate(runs):
            layers = params.layers(name, n)
            zs = sample(x, depth=int(layers[-1]), width=n, activation=name, C_W=c_w, C_b=0.0,
                        members=params.members, seed=seed, family=i, device=device,
                        layers=[int(ell) for ell in layers])
            kappa = layer_kurtosis(zs)
            curves.append(Curve(_panel(name), f"n={n}", layers / n, kappa.value, kappa.stderr,
                                kappa.units))
            progress((i + 1) / len(runs))
        return Series.from_curves(curves)
