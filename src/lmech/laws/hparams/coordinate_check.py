"""hparams.coordinate_check — under μP each layer's feature update does not grow with width.

Experiment. Bias-free ReLU MLPs 16 → n → n → 1 at every width n of `widths`, in μP relative
to the smallest (TP5 Table 8, zero readout), trained `steps` Adam steps at one learning rate
on a fixed batch of Gaussian inputs labelled by a tanh teacher, both drawn afresh for each
of `seeds` members; all widths of a member sit inside it, one stacked ensemble
(`lmech.models.scaled_mlp`). For each layer l (input, hidden, readout) the size of its
output's change on the batch, RMS(z_l(θ_k) − z_l(θ_0)), is fitted as ∝ n^s per member
(least squares in log–log); the exponent s is averaged over members.

Prediction (docs/theory/hparams.md, §The coordinate check): s = 0 for every layer — μP
makes every layer's update Θ(1) in width (TP5 §D.1).

Foil: the standard parametrisation's exponents under Adam, s = 0, 1, 1 (input, hidden,
readout): with a width-independent learning rate each hidden or readout coordinate sums n
updates of size η (TP5 Table 3's left column, docs/theory/hparams.md).

Tolerance: a margin declared from a pilot (seeds 1 000 001–3) for the finite-width
corrections to s = 0 over the widths used: 0.1, over 5× the pilot's largest |s|.

Source: Yang, Hu et al., "Tensor Programs V" (arXiv:2203.03466), §D.1, Tables 3 and 8.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field, model_validator

from lmech.ensemble import Adam, generator, train
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
from lmech.laws.hparams._grid import Grid, width_net
from lmech.measure.stats import slope_estimate
from lmech.tasks.tanh_teacher import tanh_teacher

PILOT_SEEDS = (1_000_001, 1_000_002, 1_000_003)
MARGIN = 0.1  # on each exponent s; see the tolerance basis
N_IN = 16
LAYERS = ("input", "hidden", "readout")
STANDARD_ADAM = (0.0, 1.0, 1.0)  # the standard parametrisation's exponents under Adam
PANEL = "update exponent"


class CoordinateCheckParams(LawParams):
    widths: tuple[int, ...] = Field((64, 128, 256, 512, 1024), min_length=3,
                                    description="hidden widths n; the first is μP's base")
    steps: int = Field(3, ge=1, le=1000, description="Adam steps before the update is measured")
    learning_rate: float = Field(2**-6, gt=0, le=1, description="Adam's learning rate η")
    batch: int = Field(64, ge=1, le=100_000, description="inputs in the fixed batch")
    seeds: int = Field(32, ge=2, le=1024, description="independent members (units)")

    @model_validator(mode="after")
    def _increasing(self) -> CoordinateCheckParams:
        if list(self.widths) != sorted(set(self.widths)) or min(self.widths) < 1:
            raise ValueError(f"widths must be positive and strictly increasing, got "
                             f"{self.widths}")
        return self


class CoordinateCheck(AbstractLaw):
    claim = ("Under μP, the change of every layer's output after a few Adam steps does not "
             "grow with width (exponent 0), where the standard parametrisation's grows ∝ n.")
    source = "Yang, Hu et al., Tensor Programs V (arXiv:2203.03466), §D.1, Tables 3 and 8"
    pillar = Pillar.HYPERPARAMETERS
    tolerance_basis = ToleranceBasis.pilot(
        seeds=PILOT_SEEDS,
        measured="μP exponents of the three layers' updates over widths 64–1024, 32 "
                 "members each with its own teacher and batch: s ≤ 0.018 (readout), ≤ 0.004 "
                 "(hidden), ≤ 0.005 (input), all ≥ 0; se ≤ 0.009",
        why="finite-width corrections to s = 0: 0.1, over 5× the pilot's largest |s| and a "
            "fifth of the smallest gap to the standard parametrisation's exponent 1")
    Params = CoordinateCheckParams
    budgets = {
        "smoke": dict(widths=(16, 32, 64), seeds=3, batch=32),
        "quick": {},
        "full": dict(widths=(64, 128, 256, 512, 1024, 2048), seeds=128),
    }
    panels = (Panel(PANEL, xlabel="layer (0 input, 1 hidden, 2 readout)",
                    ylabel="exponent s of RMS(Δz) ∝ widthˢ"),)

    def predict(self, params: CoordinateCheckParams) -> Series:
        return Series.from_curves([Curve(PANEL, "μP", np.arange(3), np.zeros(3))])

    def foil(self, params: CoordinateCheckParams) -> Series:
        return Series.from_curves([Curve(PANEL, "μP", np.arange(3), STANDARD_ADAM)])

    def tolerance(self, params: CoordinateCheckParams, prediction: Series) -> np.ndarray:
        return np.full(len(prediction), MARGIN)

    def measure(self, params: CoordinateCheckParams, seed: int, *, device: str = "cpu",
                progress: Progress = lambda f: None) -> Series:
        sizes = update_sizes(params, seed, "mup", device, progress)  # (seeds, widths, 3)
        x = np.log(np.array(params.widths, dtype=np.float64))
        fits = [slope_estimate(x, np.log(sizes[:, :, layer])) for layer in range(3)]
        return Series.from_curves([Curve(
            PANEL, "μP", np.arange(3), [float(f.value) for f in fits],
            [float(f.stderr) for f in fits], params.seeds)])


def member_tasks(members: int, batch: int, seed: int, device: str = "cpu"
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Each member's own teacher and batch: inputs ``(M, B, 16)``, targets ``(M, B, 1)``,
    member i's from the generators of (seed, "teacher", i) and (seed, "data", i)."""
    xs, ys = [], []
    for i in range(members):
        teacher = tanh_teacher(N_IN, 32, generator=generator(seed, "teacher", i))
        x = torch.randn(batch, N_IN, generator=generator(seed, "data", i))
        xs.append(x)
        ys.append(teacher(x).float())
    return torch.stack(xs).to(device), torch.stack(ys).to(device)


def update_sizes(params: CoordinateCheckParams, seed: int, parametrisation: str,
                 device: str = "cpu", progress: Progress = lambda f: None) -> np.ndarray:
    """RMS(z_l(θ_k) − z_l(θ_0)) on the batch, ``(seeds, widths, layers)``."""
    nets = [width_net(N_IN, n, 2, params.widths[0]) for n in params.widths]
    grid = Grid(nets, [parametrisation] * params.seeds)
    x, y = member_tasks(params.seeds, params.batch, seed, device)
    with single_thread():
        ensemble = grid.ensemble(seed, list(range(params.seeds)), device)
        factors = grid.multipliers(device)
        start = dict(ensemble.params)

        def forward(p, batch):
            return grid.outputs(p, factors, batch[0])

        def loss(outputs, batch):
            return sum((out - batch[1]).square().flatten(1).mean(-1)
                       for out in outputs.values())

        train(ensemble, x, y, optimizer=Adam(lr=params.learning_rate), steps=params.steps,
              seed=seed, loss=loss, forward=forward, every=params.steps, progress=progress)
        with torch.no_grad():
            before, after = {}, {}
            grid.outputs(start, factors, x, before)
            grid.outputs(ensemble.params, factors, x, after)
    sizes = np.stack([np.stack([(b - a).square().mean((1, 2)).sqrt().cpu().numpy()
                                for b, a in zip(after[n.name], before[n.name], strict=True)],
                               axis=-1) for n in nets], axis=1)  # (M, widths, layers)
    progress(1.0)
    return sizes
