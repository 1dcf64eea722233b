"""init.criticality — correlations converge exponentially off criticality, as a power law at it.

Experiment. Two inputs of equal norm and correlation ρ_x go through `members` random MLPs
of width n and depth L (`lmech.ensemble.sample_preactivations`). At a few deep layers the
measured quantity is 1 − ρ^(l), with ρ^(l) = E z(x₁)z(x₂)/√(E z(x₁)² E z(x₂)²) over
networks and neurons (computed from E(z₁ − z₂)² without cancellation); standard errors by
a grouped jackknife over networks. Two networks:

- off criticality: tanh with C_W = 1.5, C_b = 0.2, inputs at the fixed point K* = 0.69324,
  where a small distance shrinks by χ⊥(K*) = 0.797 per layer: 1 − ρ^(l) ∝ e^{−l/ξ⊥},
  ξ⊥ = −1/ln χ⊥ = 4.41 layers (docs/theory/init.md, §Susceptibilities);
- at criticality: ReLU with C_W = 2, C_b = 0, where χ⊥ = 1 and the approach is set by the
  next order of the correlation map, so 1 − ρ^(l) → 9π²/(2l²), a power law (PDLT §5.2).

Prediction: 1 − ρ^(l) from the pair kernel recursion (`kernel_recursion_gram`), which
contains both behaviours exactly. Foil: the other behaviour with the same first step. Off
criticality, the power law through the predicted layers 1 and 2; at criticality, the
exponential through them.

Tolerance (computed): the finite-width terms the recursion neglects: the O(1/n) shift δ of
1 − ρ (`kernel_finite_width_shift_pair`, linearised in the pair kernel's shift) plus a
bound max(1, κ^(l))·|δ| on the uncomputed O(1/n²) remainder (κ the leading kurtosis; off
criticality κ ≈ 0.02 underestimates the remainder, which Monte Carlo at n = 8–64 puts at
10–40 % of δ, so at least |δ| is allowed: docs/theory/init.md, §The 1/n kernel shift),
plus 1e-6 for float32. Widths are chosen per network so that the shift is small against
the foil's gap yet resolvable (tanh n = 64, ReLU n = 256, where κ < 1 to layer 16), and
only layers 8–16 are judged: there the O(1/n²) remainder has settled (at layers 3–6 ReLU's
exceeds its shift) and the tanh shift still stands above the noise.

Source: Roberts, Yaida & Hanin, *The Principles of Deep Learning Theory*
(arXiv:2106.10165), §5.1–5.2; Schoenholz et al., ICLR 2017 (depth scales).
"""


from __future__ import annotations

import numpy as np
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
from lmech.laws.init._moments import one_minus_correlation, pair_inputs, sample
from lmech.measure.stats import jackknife
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
    widths: tuple[int, int] = Field((64, 256), description="hidden width n of the network "
                                    "off and at criticality")
    depth: int = Field(16, ge=3, le=200, description="layers L")
    layers: tuple[int, ...] = Field((8, 10, 12, 14, 16), min_length=1,
                                    description="layers at which 1 − ρ is judged")
    members: tuple[int, int] = Field((80_000, 8000), description="random networks off and "
                                     "at criticality (>= 40 each: 40 jackknife groups)")
    rho: float = Field(0.3, ge=-0.9, le=0.95, description="input correlation x₁·x₂/|x|²")

    @model_validator(mode="after")
    def _consistent(self) -> CriticalityParams:
        if min(self.widths) < 2 or max(self.widths) > 8192:
            raise ValueError(f"widths must be in 2..8192, got {self.widths}")
        if min(self.members) < JACKKNIFE_GROUPS:
            raise ValueError(f"members must be >= {JACKKNIFE_GROUPS} each, got {self.members}")
        if any(not 3 <= ell <= self.depth for ell in self.layers) or \
                len(set(self.layers)) != len(self.layers):
            raise ValueError(f"layers must be distinct, in 3..depth = {self.depth}, got "
                             f"{self.layers}")
        return self


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
        "the O(1/n) shift δ of 1 − ρ from the finite-width pair kernel, plus max(1, κ)·|δ| "
        "for the O(1/n²) remainder, plus float32 sampling")
    Params = CriticalityParams
    budgets = {
        "smoke": dict(depth=10, layers=(8, 10), members=(4000, 800)),
        "quick": {},
        "full": dict(depth=40, layers=(8, 12, 16, 20, 30, 40), members=(320_000, 32_000)),
    }
    panels = (
        Panel(OFF, xlabel="layer l", ylabel="1 − ρ", yscale="log"),
        Panel(AT, xlabel="layer l", ylabel="1 − ρ", xscale="log", yscale="log"),
    )

    def _kernel(self, params, name, c_w, c_b) -> np.ndarray:
        return kernel_recursion_gram(name, params.depth, c_w, c_b,
                                     _first_kernel(params, name, c_w, c_b))

    def _series(self, params: CriticalityParams, value) -> Series:
        """One curve per network at `params.layers`, y = value(panel, 1 − ρ at every layer)."""
        at = np.asarray(params.layers) - 1
        return Series.from_curves([
            Curve(panel, "1 − ρ", params.layers,
                  value(panel, _one_minus_rho(self._kernel(params, *net)))[at])
            for panel, *net in NETWORKS])

    def predict(self, params: CriticalityParams) -> Series:
        return self._series(params, lambda panel, eps: eps)

    def foil(self, params: CriticalityParams) -> Series:
        layers = np.arange(1, params.depth + 1)

        def other(panel, eps):
            ratio = eps[1] / eps[0]
            if panel == OFF:  # a power law through the first two layers
                return eps[0] * layers ** np.log2(ratio)
            return eps[0] * ratio ** (layers - 1.0)  # an exponential through them
        return self._series(params, other)

    def tolerance(self, params: CriticalityParams, prediction: Series) -> np.ndarray:
        tols = []
        at = np.asarray(params.layers) - 1
        for (_, name, c_w, c_b), width in zip(NETWORKS, params.widths, strict=True):
            K1 = _first_kernel(params, name, c_w, c_b)
            K = self._kernel(params, name, c_w, c_b)
            d = kernel_finite_width_shift_pair(name, params.depth, width, c_w, c_b, K1)
            norm = np.sqrt(K[:, 0, 0] * K[:, 1, 1])
            rho = K[:, 0, 1] / norm
            shift = d[:, 1] / norm - rho / 2 * (d[:, 0] / K[:, 0, 0] + d[:, 2] / K[:, 1, 1])
            kappa = excess_kurtosis(name, params.depth, width, c_w, c_b, K1[0, 0])
            tols.append((np.abs(shift) * (1 + np.maximum(1.0, kappa)) + FLOAT32)[at])
        return np.concatenate(tols)

    def measure(self, params: CriticalityParams, seed: int, *, device: str = "cpu",
                progress: Progress = lambda f: None) -> Series:
        curves = []
        for i, (panel, name, c_w, c_b) in enumerate(NETWORKS):
            x = pair_inputs(_input_norm(name, c_w, c_b), params.rho)
            zs = sample(x, depth=params.depth, width=params.widths[i], activation=name,
                        C_W=c_w, C_b=c_b, members=params.members[i], seed=seed, family=i,
                        device=device, layers=list(params.layers))
            y, se = [], []
            for z in zs:
                z = z.cpu().double()
                per_net = [(z[:, 0] ** 2).mean(-1).numpy(), (z[:, 1] ** 2).mean(-1).numpy(),
                           ((z[:, 0] - z[:, 1]) ** 2).mean(-1).numpy()]
                e = jackknife(one_minus_correlation, *per_net, groups=JACKKNIFE_GROUPS)
                y.append(float(e.value))
                se.append(float(e.stderr))
            curves.append(Curve(panel, "1 − ρ", params.layers, y, se, e.units))
            progress((i + 1) / len(NETWORKS))
        return Series.from_curves(curves)
