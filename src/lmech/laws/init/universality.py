"""init.universality — activations of one universality class share the normalised vertex.

Experiment. For each member of two universality classes, `members` random MLPs of width
n and depth L at criticality (C_b = 0, C_W from `critical_point`) see one input; the
excess kurtosis κ^(l) of a preactivation is estimated at every layer (per-network neuron
averages of z² and z⁴, delta-method standard error over networks) and turned into the
normalised vertex w = V/K² = nκ/3 (docs/theory/init.md, §Four-point vertex:
κ = 3V/(nK²) + O(1/n²)).

- K* = 0 class: tanh, erf, sin. Inputs are scaled so that every member starts at the same
  K̃¹ = −a₁K¹ (K¹ = K̃¹/2 for tanh and erf, K̃¹ for sin). Prediction: the one universal
  curve w(l) of `k_star_zero_universal_vertex`, which depends on nothing but K̃¹ and tends
  to (2/3)l.
- scale-invariant class: ReLU, leaky ReLU (slope 0.5), linear. Plotted is w/c with the
  class coefficient c = 3A₄/A₂² − 1 (5, 2.12, 2). Prediction: the universal line l − 1.

Foil: the class-blind answer — every network's vertex is the deep linear network's,
nκ/3 = n[(1 + 2/n)^{l−1} − 1] (the exact linear result), plotted in the same units.

Tolerance: universality holds up to non-universal terms, which theory computes here and
declares: for each member, |w_member − w_universal|, where w_member is the member's own
leading-order vertex recursion (K* = 0: the higher orders in K̃, from σ₅ and beyond;
scale-invariant: the member's exact finite-width result n[(1 + c/n)^{l−1} − 1]/c against
l − 1, an O(cl²/n) difference); plus, for the K* = 0 class, the O(1/n²) term of the
kurtosis, κ₁²/3 in κ (n κ₁²/9 in w; see `init.finite_width_kurtosis`), and a float32
allowance.

Source: Roberts, Yaida & Hanin, *The Principles of Deep Learning Theory*
(arXiv:2106.10165), §5.3–5.4 (universality classes, eqs. 5.99 ff.).
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
from lmech.theory import (
    critical_point,
    excess_kurtosis,
    get_activation,
    k_star_zero_universal_vertex,
    scale_invariant_excess_kurtosis,
    scale_invariant_universal_vertex,
)

K_STAR_ZERO = "K*=0 class: w = V/K²"
SCALE_INVARIANT = "scale-invariant class: w/c"
MEMBERS = {
    K_STAR_ZERO: (("tanh", {}), ("erf", {}), ("sin", {})),
    SCALE_INVARIANT: (("relu", {}), ("leaky_relu", {"slope": 0.5}), ("linear", {})),
}
FLOAT32 = 1e-5


class UniversalityParams(LawParams):
    width: int = Field(256, ge=4, le=8192, description="hidden width n")
    depth: int = Field(20, ge=3, le=200, description="layers L")
    members: int = Field(8000, ge=100, description="random networks per activation")
    K_tilde1: float = Field(0.05, gt=0, lt=0.5, description="K̃¹ = −a₁K¹ of the K*=0 members")


def _coefficient(act) -> float:
    ap, am = act.slopes
    a2, a4 = (ap**2 + am**2) / 2, (ap**4 + am**4) / 2
    return 3 * a4 / a2**2 - 1


def _setup(panel: str, name: str, kw: dict, params: UniversalityParams):
    """(activation, C_W, K¹, scale of y) of one member."""
    act = get_activation(name, **kw)
    cp = critical_point(act)
    if panel == K_STAR_ZERO:
        return act, cp.C_W, params.K_tilde1 / (-cp.a1), 1.0
    return act, cp.C_W, cp.C_W, 1.0 / _coefficient(act)


class Universality(AbstractLaw):
    claim = ("Activations of one universality class share the large-depth growth of the "
             "normalised vertex V/K² (K*=0 class: → 2l/3; scale-invariant: c·(l − 1)).")
    source = "Roberts, Yaida & Hanin, PDLT (arXiv:2106.10165), §5.3–5.4"
    pillar = Pillar.UNIVERSAL
    tolerance_basis = ToleranceBasis.computed(
        "each member's non-universal terms, computed from its own leading-order vertex "
        "recursion")
    Params = UniversalityParams
    budgets = {
        "smoke": dict(width=128, depth=8, members=2000),
        "quick": {},
        "full": dict(width=1024, depth=40, members=40000),
    }
    panels = (
        Panel(K_STAR_ZERO, xlabel="layer l", ylabel="normalised vertex V/K² = nκ/3"),
        Panel(SCALE_INVARIANT, xlabel="layer l", ylabel="V/(cK²) = nκ/(3c)"),
    )

    def _series(self, params, values) -> Series:
        layers = np.arange(2, params.depth + 1)
        return Series.from_curves([
            Curve(panel, act_name, layers, values(panel, act_name, kw))
            for panel, members in MEMBERS.items() for act_name, kw in members])

    def _universal(self, params, panel) -> np.ndarray:
        if panel == K_STAR_ZERO:
            return k_star_zero_universal_vertex(params.depth, params.K_tilde1)[1:]
        return scale_invariant_universal_vertex(params.depth)[1:]

    def predict(self, params: UniversalityParams) -> Series:
        return self._series(params, lambda panel, name, kw: self._universal(params, panel))

    def foil(self, params: UniversalityParams) -> Series:
        n = params.width
        linear = n * scale_invariant_excess_kurtosis("linear", params.depth, n)[1:] / 3

        def value(panel, name, kw):
            return linear * _setup(panel, name, kw, params)[3]
        return self._series(params, value)

    def _own(self, params, panel, name, kw) -> tuple[np.ndarray, np.ndarray]:
        """The member's own leading-order w (in panel units) and the kurtosis κ₁."""
        act, c_w, k1, scale = _setup(panel, name, kw, params)
        n, depth = params.width, params.depth
        if panel == K_STAR_ZERO:
            kappa = excess_kurtosis(act, depth, n, c_w, 0.0, k1)[1:]
        else:
            kappa = scale_invariant_excess_kurtosis(act, depth, n)[1:]
        return n * kappa / 3 * scale, kappa

    def tolerance(self, params: UniversalityParams, prediction: Series) -> np.ndarray:
        tols = []
        for panel, members in MEMBERS.items():
            universal = self._universal(params, panel)
            for name, kw in members:
                own, kappa = self._own(params, panel, name, kw)
                second = params.width * kappa**2 / 9 if panel == K_STAR_ZERO else 0.0
                tols.append(np.abs(own - universal) + second + FLOAT32 * np.abs(own))
        return np.concatenate(tols)

    def measure(self, params: UniversalityParams, seed: int, *, device: str = "cpu",
                progress: Progress = lambda f: None) -> Series:
        results = {}
        runs = [(p, name, kw) for p, members in MEMBERS.items() for name, kw in members]
        for i, (panel, name, kw) in enumerate(runs):
            act, c_w, k1, scale = _setup(panel, name, kw, params)
            x = torch.full((1, 4), float(np.sqrt(k1 / c_w)))  # x·x/n₀ = K¹/C_W
            zs = sample(x, depth=params.depth, width=params.width, activation=act, C_W=c_w,
                        C_b=0.0, members=params.members, seed=seed + 1000 * i, device=device,
                        layers=list(range(2, params.depth + 1)))
            stats = np.array([kurtosis_and_stderr(m["z4"], m["zz"])
                              for m in (layer_moments(z.cpu()) for z in zs)])
            results[panel, name] = stats * params.width / 3 * scale  # (L − 1, 2)
            progress((i + 1) / len(runs))
        layers = np.arange(2, params.depth + 1)
        return Series.from_curves([
            Curve(panel, name, layers, results[panel, name][:, 0], results[panel, name][:, 1],
                  params.members)
            for panel, name, _ in runs])
