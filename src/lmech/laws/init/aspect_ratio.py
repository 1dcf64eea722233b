"""init.aspect_ratio — does the NTK's change in training collapse onto depth over width, L/n?

Experiment. ReLU MLPs at criticality (C_W = 2, no biases) with L weight layers of width n
start from `lmech.ensemble.init_ensemble` and are trained by full-batch gradient descent
(`lmech.ensemble.train`) on k points of the sphere |x|² = n₀ with ±1 labels (one data set
per seed, shared by every network). The amount of training is fixed in function space:
`steps` steps of η = c·k/(2λ_max(Θ₀)) on the mean squared error, so that each step moves
the residual's top NTK mode by the same fraction c whatever L and n. For each network the
relative change of its empirical NTK on the training points (`lmech.measure.empirical_ntk`),
r = ‖Θ_T − Θ₀‖_F/‖Θ₀‖_F, is averaged over `members` networks.

Claim (PDLT ch. 11, ∞: the depth-to-width ratio L/n is the expansion parameter of
representation learning at criticality;
docs/theory/init.md, §Depth over width in training): the leading-order change is a
function of L/n alone, growing linearly at small L/n; the theory gives no constant for
this protocol, so the law tests the collapse itself.
Networks are grouped on diagonals of equal L/n; each is compared with the depth-4 network
of its diagonal: measured ratio r(L, n)/r(4, 4n/L).

Prediction: ratio 1 (collapse). Foil: r ∝ 1/n at any depth, ratio 4/L.
Tolerance (computed): finite-depth terms shift the effective depth by O(1) (L against
L − 1 layers feeding the kernel): relative 1/L_ref = 1/4 on the ratio.

Finding: the collapse fails: at fixed L/n the change grows with depth (see `finding`;
docs/theory/init.md, §Depth over width in training).

Source: Roberts, Yaida & Hanin, *The Principles of Deep Learning Theory*
(arXiv:2106.10165), ch. 11 and ∞; Hanin & Nica, ICLR 2020 (arXiv:1909.05989).
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field, model_validator

from lmech.ensemble import SGD, generator, init_ensemble, train
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
from lmech.measure import empirical_ntk
from lmech.measure.stats import Estimate, mean_estimate, quotient_estimate
from lmech.models import MLPConfig

COLLAPSE = "relative NTK change, against the depth-4 network of equal L/n"
REFERENCE_DEPTH = 4


class AspectRatioParams(LawParams):
    ratios: tuple[float, ...] = Field((1 / 8, 1 / 16), min_length=1,
                                      description="depth-to-width ratios L/n (diagonals)")
    depths: tuple[int, ...] = Field((4, 8, 16, 32), min_length=2,
                                    description="depths L (weight layers); the first is 4")
    max_width: int = Field(512, ge=8, le=4096, description="widest network")
    n_in: int = Field(8, ge=1, le=1024, description="input dimension n₀")
    n_points: int = Field(8, ge=1, le=256, description="training points k")
    steps: int = Field(10, ge=1, le=1000, description="gradient-descent steps")
    step_fraction: float = Field(0.2, gt=0, lt=1, description="c: top-mode residual "
                                 "fraction removed per step")
    members: int = Field(24, ge=2, description="networks per (L, n)")

    @model_validator(mode="after")
    def _grid(self) -> AspectRatioParams:
        if self.depths[0] != REFERENCE_DEPTH or list(self.depths) != sorted(set(self.depths)):
            raise ValueError(f"depths must be increasing and start at {REFERENCE_DEPTH}, got "
                             f"{self.depths}")
        for r in self.ratios:
            if abs(REFERENCE_DEPTH / r - round(REFERENCE_DEPTH / r)) > 1e-9 or \
                    REFERENCE_DEPTH / r > self.max_width:
                raise ValueError(f"ratio {r}: the depth-4 width 4/r must be a whole width "
                                 f"<= max_width = {self.max_width}")
        return self

    def diagonal(self, ratio: float) -> list[tuple[int, int]]:
        """(L, n) on the diagonal L/n = ratio with n <= max_width, reference first."""
        return [(d, round(d / ratio)) for d in self.depths
                if abs(d / ratio - round(d / ratio)) < 1e-9 and d / ratio <= self.max_width]


def _data(seed: int, params: AspectRatioParams) -> tuple[torch.Tensor, torch.Tensor]:
    """k inputs on the sphere |x|² = n₀ and ±1 labels: the seed's one data set."""
    g = generator(seed, "data", 0)
    x = torch.randn(params.n_points, params.n_in, generator=g)
    x = x / x.norm(dim=1, keepdim=True) * params.n_in**0.5
    y = torch.sign(torch.randn(params.n_points, 1, generator=g))
    return x, y


def relative_ntk_change(params: AspectRatioParams, depth: int, width: int, seed: int,
                        family: int, device: str) -> Estimate:
    """r = ‖Θ_T − Θ₀‖_F/‖Θ₀‖_F of `members` networks (member ids distinct per family)."""
    x, y = (t.to(device) for t in _data(seed, params))
    ids = [family * params.members + j for j in range(params.members)]
    ens = init_ensemble(MLPConfig(n_in=params.n_in, width=width, depth=depth - 1, n_out=1,
                                  activation="relu", bias=False),
                        member_ids=ids, seed=seed, C_W=2.0, device=device)
    theta0 = empirical_ntk(ens, x)
    top = torch.linalg.eigvalsh(theta0.double())[:, -1].to(theta0.dtype)  # (M,)
    lr = params.step_fraction * params.n_points / (2 * top)
    train(ens, x, y, optimizer=SGD(lr=lr), steps=params.steps, seed=seed, loss="mse",
          every=params.steps)
    change = (empirical_ntk(ens, x) - theta0).flatten(1).norm(dim=1)
    return mean_estimate((change / theta0.flatten(1).norm(dim=1)).double().cpu().numpy())


class AspectRatio(AbstractLaw):
    claim = ("At criticality the relative change of the empirical NTK over a fixed amount of "
             "training is a function of depth over width L/n alone (networks of equal L/n "
             "agree).")
    finding = ("Under this protocol (ReLU at criticality, one global step normalised by the "
               "NTK's top eigenvalue) the collapse fails: at equal L/n the relative NTK change "
               "grows with depth, about 2× the depth-4 network's at L = 8–16 and 3–4× at "
               "L = 32, nearer L(L − 1)/n; the 1/n foil is rejected too.")
    expected = "REFUTED"
    source = ("Roberts, Yaida & Hanin, PDLT (arXiv:2106.10165), ch. 11, ∞; Hanin & Nica, "
              "ICLR 2020")
    pillar = Pillar.LIMITS
    tolerance_basis = ToleranceBasis.computed(
        "finite-depth terms: an O(1) shift of the effective depth, relative 1/L_ref = 1/4")
    Params = AspectRatioParams
    budgets = {
        "smoke": dict(ratios=(1 / 8,), depths=(4, 8), max_width=64, steps=5, members=32),
        "quick": {},
        "full": dict(ratios=(1 / 4, 1 / 8, 1 / 16, 1 / 32), members=64),
    }
    panels = (Panel(COLLAPSE, xlabel="depth / width  L/n",
                    ylabel="r(L, n) / r(4, 4n/L)", xscale="log", yscale="log"),)

    def _series(self, params: AspectRatioParams, value) -> Series:
        curves = []
        for depth in params.depths[1:]:
            xs = [r for r in params.ratios if (depth, round(depth / r)) in params.diagonal(r)]
            if xs:
                curves.append(Curve(COLLAPSE, f"L={depth}", xs, [value(depth) for _ in xs]))
        return Series.from_curves(curves)

    def predict(self, params: AspectRatioParams) -> Series:
        return self._series(params, lambda depth: 1.0)

    def foil(self, params: AspectRatioParams) -> Series:
        return self._series(params, lambda depth: REFERENCE_DEPTH / depth)

    def tolerance(self, params: AspectRatioParams, prediction: Series) -> np.ndarray:
        return np.abs(prediction.y) / REFERENCE_DEPTH

    def measure(self, params: AspectRatioParams, seed: int, *, device: str = "cpu",
                progress: Progress = lambda f: None) -> Series:
        runs = [(r, d, n) for r in params.ratios for d, n in params.diagonal(r)]
        cost = np.array([d * n * n for _, d, n in runs], dtype=float)
        done, ratios = 0.0, {}
        with single_thread():
            for family, (r, depth, width) in enumerate(runs):
                e = relative_ntk_change(params, depth, width, seed, family, device)
                if depth == REFERENCE_DEPTH:
                    reference = e
                else:
                    ratios[depth, r] = quotient_estimate(e, reference)
                done += cost[family]
                progress(done / cost.sum())
        curves = []
        for depth in params.depths[1:]:
            xs = [r for r in params.ratios if (depth, r) in ratios]
            if xs:
                es = [ratios[depth, r] for r in xs]
                curves.append(Curve(COLLAPSE, f"L={depth}", xs, [float(e.value) for e in es],
                                    [float(e.stderr) for e in es], [e.units for e in es]))
        return Series.from_curves(curves)

