"""init.finite_width_kurtosis — the excess kurtosis of preactivations grows like depth over width.

Experiment. `members` random MLPs at criticality (ReLU: C_W = 2, C_b = 0; tanh: C_W = 1,
C_b = 0) of each width n see one input with x·x/n₀ = 1 (K¹ = C_W). At every layer l ≥ 2
the excess kurtosis κ = E z⁴/(E z²)² − 3 is estimated from per-network neuron averages of
z² and z⁴, with a delta-method standard error over networks (neurons of one network share
its random kernel, so the network is the unit of sampling).

Prediction (PDLT §5.4; docs/theory/init.md, §Four-point vertex):
κ^(l) = 3V^(l)/(n K^(l)²) + O(1/n²), with the
vertex recursion V^(l+1) = C_W²[<σ⁴> − <σ²>²]_{K^(l)} + χ∥² V^(l). Plotted against l/n the
widths collapse onto one curve per activation:

- ReLU (scale-invariant class): 15(l − 1)/n at leading order. docs/theory/init.md
  (§Depth over width) shows the 1/n expansion failing for ReLU once 5L/n ~ 1, so the
  prediction is the exact finite-width
  result κ^(l) = 3[(1 + 5/n)^{l−1} − 1] (`scale_invariant_excess_kurtosis`), whose
  expansion starts with 15(l − 1)/n; nothing is neglected (tolerance: float32 only);
- tanh (K* = 0 class): the exact leading-order recursion (`excess_kurtosis`), which grows
  towards 2l/n slowly ((V/K²)/l = 0.55 at l = 10), so the asymptote is not used.
  Tolerance: the O(1/n²) term. For scale-invariant σ the exact series is
  κ = κ₁ + κ₁²/6 + …; the K* = 0 class has its own, uncomputed, second-order coefficient,
  so the declared tolerance is twice that, κ₁²/3 (the Monte Carlo of
  docs/theory/init.md, §Reference values, at n = 32, L = 10: 0.539 ± 0.005 against
  κ₁ = 0.518, a gap of about κ₁²/13).

Foil: width-only scaling with no depth growth — every layer keeps the one-hidden-layer
value κ^(2) ∝ 1/n. (The infinite-width foil κ = 0 is further still, tested separately.)

Source: Roberts, Yaida & Hanin, *The Principles of Deep Learning Theory*
(arXiv:2106.10165), §4.3 (eq. 4.90), §5.4; Hanin & Nica 2019 (the exact ReLU product law).
"""

from __future__ import annotations

import numpy as np
import torch
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
from lmech.laws.init._moments import kurtosis_and_stderr, layer_moments, sample
from lmech.theory import excess_kurtosis, get_activation, scale_invariant_excess_kurtosis

NETWORKS = (("relu", 2.0), ("tanh", 1.0))
FLOAT32 = 1e-5  # float32 sampling: relative rounding of z⁴ moments ~1e-6, times κ + 3


def _panel(name: str) -> str:
    return f"{name} at criticality"


class FiniteWidthKurtosisParams(LawParams):
    widths: tuple[int, ...] = Field((32, 64, 128), min_length=1, description="hidden widths n")
    depth: int = Field(10, ge=2, le=200, description="layers L")
    members: int = Field(10000, ge=100, description="random networks per width")


def predicted_kurtosis(name: str, c_w: float, depth: int, width: int) -> np.ndarray:
    """κ^(1) … κ^(L): exact for a scale-invariant σ (ReLU), leading order in 1/n else."""
    if get_activation(name).slopes is not None:
        return scale_invariant_excess_kurtosis(name, depth, width)
    return excess_kurtosis(name, depth, width, c_w, 0.0, c_w)


class FiniteWidthKurtosis(AbstractLaw):
    claim = ("The excess kurtosis of a preactivation at criticality grows linearly with depth "
             "at fixed width, as a function of l/n with the class-specific coefficient.")
    source = ("Roberts, Yaida & Hanin, PDLT (arXiv:2106.10165), §4.3, §5.4; "
              "Hanin & Nica 2019")
    pillar = Pillar.LIMITS
    tolerance_basis = ToleranceBasis.computed(
        "the second-order term κ²/3 of the tanh expansion (zero for ReLU), plus float32 "
        "sampling")
    Params = FiniteWidthKurtosisParams
    budgets = {
        "smoke": dict(widths=(32, 64), depth=6, members=3000),
        "quick": {},
        "full": dict(widths=(32, 64, 128, 256), depth=20, members=40000),
    }
    panels = tuple(Panel(_panel(name), xlabel="depth / width  l/n", ylabel="excess kurtosis κ")
                   for name, _ in NETWORKS)

    def _series(self, params, values) -> Series:
        layers = np.arange(2, params.depth + 1)
        curves = []
        for name, _ in NETWORKS:
            for n in params.widths:
                curves.append(Curve(_panel(name), f"n={n}", layers / n, values(name, n)))
        return Series.from_curves(curves)

    def predict(self, params: FiniteWidthKurtosisParams) -> Series:
        c = dict(NETWORKS)
        return self._series(params, lambda name, n: predicted_kurtosis(
            name, c[name], params.depth, n)[1:])

    def foil(self, params: FiniteWidthKurtosisParams) -> Series:
        c = dict(NETWORKS)
        return self._series(params, lambda name, n: np.full(
            params.depth - 1, predicted_kurtosis(name, c[name], params.depth, n)[1]))

    def tolerance(self, params: FiniteWidthKurtosisParams, prediction: Series) -> np.ndarray:
        second_order = np.where(prediction.panel == _panel("tanh"), prediction.y**2 / 3, 0.0)
        return second_order + FLOAT32 * (np.abs(prediction.y) + 3)

    def measure(self, params: FiniteWidthKurtosisParams, seed: int, *, device: str = "cpu",
                progress: Progress = lambda f: None) -> Series:
        x = torch.ones(1, 4)
        results: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
        runs = [(name, c_w, n) for name, c_w in NETWORKS for n in params.widths]
        for i, (name, c_w, n) in enumerate(runs):
            zs = sample(x, depth=params.depth, width=n, activation=name, C_W=c_w, C_b=0.0,
                        members=params.members, seed=seed + 1000 * i, device=device,
                        layers=list(range(2, params.depth + 1)))
            stats = [kurtosis_and_stderr(m["z4"], m["zz"])
                     for m in (layer_moments(z.cpu()) for z in zs)]
            results[name, n] = (np.array([s[0] for s in stats]), np.array([s[1] for s in stats]))
            progress((i + 1) / len(runs))
        layers = np.arange(2, params.depth + 1)
        return Series.from_curves([
            Curve(_panel(name), f"n={n}", layers / n, *results[name, n], params.members)
            for name, _ in NETWORKS for n in params.widths])
