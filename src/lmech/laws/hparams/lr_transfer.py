"""hparams.lr_transfer — under μP the loss-optimal learning rate does not move with width,
nor with depth when residual branches carry 1/√L.

Experiment. Bias-free ReLU networks classify scikit-learn's digits (cross-entropy, Adam,
minibatches): plain MLPs 64 → n → n → 10 at each width n of `widths` (μP relative to the
first, TP5 Table 8, zero readout), and residual MLPs of width `residual_width` with L
one-layer branches at each depth of `depths` (Depth-μP relative to the first: branch
× √(L₀/L), branch learning rate × √(L₀/L)). The whole grid — every width and depth inside
each member, every learning rate of `rates` (log₂ η) and seed as members — trains as one
stacked ensemble (`lmech.models.scaled_mlp`). After `steps` steps each network's training
loss is taken on the whole set; log₂ η* is the vertex of the parabola through the lowest
point of the seed-averaged log loss against log₂ η and its neighbours
(`lmech.measure.optimum`). Measured: the shift of log₂ η* from the base width (depth), with
its bootstrap error over seeds.

Prediction (docs/theory/hparams.md, §What transfers): no shift, 0.

Foil: the standard scaling of Adam's optimal rate, η* ∝ 1/n (every hidden and readout
coordinate sums n updates of size η) and, without the branch factors, η* ∝ 1/L (the
stream sums L branch updates of size η): shifts −log₂(n/n₀) and −log₂(L/L₀).

Tolerance: a margin on log₂ η* declared from pilots (seeds 1 000 001–3): one octave for
grids spanning at most 8× (μP's optimum rose by 0.4–0.6 octave from width 64 to 512,
Depth-μP's fell by about 0.4 from 4 to 32 blocks), 1.5 octaves for wider ones (the `full`
grid, 64 → 1024: it rose by 0.4–0.75): finite-size corrections, growing with the span.

Source: Yang, Hu et al., "Tensor Programs V" (arXiv:2203.03466), §5, Fig. 1; Yang, Yu,
Zhu & Hayou (arXiv:2310.02244); Bordelon, Noci, Li, Hanin & Pehlevan (arXiv:2309.16620).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, model_validator

from lmech.ensemble import Adam, derive, train
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
from lmech.laws.hparams._grid import Grid, depth_net, width_net
from lmech.measure.optimum import parabolic_minimum
from lmech.measure.stats import bootstrap
from lmech.tasks import digits

PILOT_SEEDS = (1_000_001, 1_000_002, 1_000_003)
MARGIN = 1.0  # on log₂ η*, for grids spanning at most SPAN = 8×; see the tolerance basis
WIDE_MARGIN = 1.5  # for wider grids (piloted up to 16×: widths 64 → 1024)
SPAN = 8
N_IN, N_OUT = 64, 10  # digits: 8×8 pixels, ten classes
WIDTH = "across width"
DEPTH = "across depth"


class LrTransferParams(LawParams):
    widths: tuple[int, ...] = Field((64, 512), min_length=2,
                                    description="hidden widths n; the first is the base")
    depths: tuple[int, ...] = Field((4, 32), min_length=2,
                                    description="residual blocks L; the first is the base")
    residual_width: int = Field(64, ge=1, le=4096, description="width of the residual nets")
    rates: tuple[float, ...] = Field(tuple(float(k) for k in range(-10, -1)), min_length=9,
                                     description="log₂ η of the grid, evenly spaced")
    seeds: int = Field(8, ge=2, le=256, description="independent seeds (units)")
    steps: int = Field(100, ge=1, le=100_000, description="Adam steps")
    batch: int = Field(64, ge=1, le=1797, description="digits per minibatch")
    resamples: int = Field(400, ge=10, le=100_000, description="bootstrap resamples")

    @model_validator(mode="after")
    def _grids(self) -> LrTransferParams:
        for name in ("widths", "depths"):
            v = getattr(self, name)
            if list(v) != sorted(set(v)) or min(v) < 1:
                raise ValueError(f"{name} must be positive and strictly increasing, got {v}")
        step = np.diff(self.rates)
        if np.any(step <= 0) or not np.allclose(step, step[0]):
            raise ValueError(f"rates must be evenly spaced and increasing, got {self.rates}")
        return self


class LrTransfer(AbstractLaw):
    claim = ("Under μP the loss-optimal Adam learning rate stays within a factor 2 as width "
             "grows 8× (2.8 as it grows 16×, 64 → 1024, at the full budget), and with 1/√L "
             "residual branches as depth grows 8×, where the standard scaling predicts "
             "η* ∝ 1/width and ∝ 1/depth.")
    source = ("Yang, Hu et al., Tensor Programs V (arXiv:2203.03466), §5; Yang, Yu, Zhu & "
              "Hayou (arXiv:2310.02244); Bordelon et al. (arXiv:2309.16620)")
    pillar = Pillar.HYPERPARAMETERS
    tolerance_basis = ToleranceBasis.pilot(
        seeds=PILOT_SEEDS,
        measured="shifts of log₂ η* at the quick budget (8 seeds): width 64 → 512 +0.43, "
                 "+0.37, +0.62; depth 4 → 32 −0.44, −0.40, −0.35 (bootstrap se ≈ 0.07); "
                 "at the full grid: width 64 → 256 +0.31, +0.29, +0.56, 64 → 1024 +0.43, "
                 "+0.66, +0.75 (se 0.07–0.16); depth 4 → 32 −0.20, −0.44, −0.26",
        why="1.0 in log₂ η* (a factor 2 in η) for grids spanning ≤ 8×: 1.6× the pilot's "
            "largest shift (2× would leave the width panel weak against its 3-octave foil "
            "gap at 8 seeds), a third of the foil's shift; 1.5 for wider grids (64 → 1024): "
            "2× the largest shift there, where a 1-octave band left two of the three "
            "pilot seeds INCONCLUSIVE; 3/8 of the foil's 4-octave shift")
    Params = LrTransferParams
    budgets = {
        # smoke keeps 4 seeds: at 2, Student-t at 1 dof (≈ 127) leaves no power to reject
        "smoke": dict(widths=(16, 64), depths=(1, 4), residual_width=16, seeds=4, steps=30,
                      batch=32, resamples=50),
        "quick": {},
        # the whole width range, 16×; about 10 CPU-minutes (the width-1024 nets)
        "full": dict(widths=(64, 256, 1024)),
    }
    panels = (
        Panel(WIDTH, xlabel="width n", ylabel="log₂ η*(n) − log₂ η*(n₀)", xscale="log"),
        Panel(DEPTH, xlabel="residual blocks L", ylabel="log₂ η*(L) − log₂ η*(L₀)",
              xscale="log"),
    )

    def predict(self, params: LrTransferParams) -> Series:
        return _series(params, np.zeros(len(params.widths) - 1),
                       np.zeros(len(params.depths) - 1))

    def foil(self, params: LrTransferParams) -> Series:
        n, depth = np.array(params.widths, float), np.array(params.depths, float)
        return _series(params, -np.log2(n[1:] / n[0]), -np.log2(depth[1:] / depth[0]))

    def tolerance(self, params: LrTransferParams, prediction: Series) -> np.ndarray:
        span = max(params.widths[-1] / params.widths[0], params.depths[-1] / params.depths[0])
        return np.full(len(prediction), MARGIN if span <= SPAN else WIDE_MARGIN)

    def measure(self, params: LrTransferParams, seed: int, *, device: str = "cpu",
                progress: Progress = lambda f: None) -> Series:
        losses = final_losses(params, seed, "mup", device, progress)
        shifts = optimal_rate_shifts(params, losses, seed)
        k = len(params.widths) - 1
        return _series(params, shifts.value[:k], shifts.value[k:], shifts.stderr[:k],
                       shifts.stderr[k:], shifts.units)


def _series(params, width_y, depth_y, width_se=None, depth_se=None, units=None) -> Series:
    return Series.from_curves([
        Curve(WIDTH, "μP", params.widths[1:], width_y, width_se, units),
        Curve(DEPTH, "μP, 1/√L branches", params.depths[1:], depth_y, depth_se, units),
    ])


def grid_nets(params: LrTransferParams) -> tuple[list, list]:
    """(the width networks, the depth networks) of the grid."""
    widths = [width_net(N_IN, n, 2, params.widths[0], N_OUT) for n in params.widths]
    depths = [depth_net(N_IN, params.residual_width, d, params.depths[0], N_OUT)
              for d in params.depths]
    return widths, depths


def final_losses(params: LrTransferParams, seed: int, parametrisation: str,
                 device: str = "cpu", progress: Progress = lambda f: None
                 ) -> dict[str, np.ndarray]:
    """Each network's training loss after training, ``(seeds, rates)`` by network name.

    Member r·seeds + s trains at rate 2^rates[r] with seed index s; all networks of the
    grid are inside every member, so one `train` call runs the whole grid.
    """
    widths, depths = grid_nets(params)
    rates, seeds = len(params.rates), params.seeds
    grid = Grid(widths + depths, [parametrisation] * (rates * seeds))
    data = digits(flatten=True, device=device)
    lr = torch.tensor(params.rates, dtype=torch.float64).exp2().repeat_interleave(seeds)
    with single_thread():
        ensemble = grid.ensemble(seed, list(range(seeds)) * rates, device)
        factors = grid.multipliers(device)

        def forward(p, b):
            return grid.outputs(p, factors, b[0])

        def loss(outputs, b):
            return sum(_cross_entropy(out, b[1]) for out in outputs.values())

        decay = _LinearDecay(params.steps)
        trajectory = train(ensemble, data.x, data.y, optimizer=Adam(lr=lr, schedule=decay),
                           steps=params.steps, seed=seed, batch_size=params.batch,
                           forward=forward, loss=loss, every=params.steps, progress=progress)
        with torch.no_grad():
            outputs = grid.outputs(ensemble.params, factors, data.x)
            target = data.y.expand(rates * seeds, -1)
            per_net = {name: _cross_entropy(out, target).double().cpu()
                       for name, out in outputs.items()}
    diverged = trajectory.diverged_at >= 0
    out = {}
    for name, per_member in per_net.items():
        per_member[diverged] = float("inf")  # a frozen member did not finish training
        per_member[~torch.isfinite(per_member)] = float("inf")
        out[name] = per_member.numpy().reshape(rates, seeds).T
    progress(1.0)
    return out


class _LinearDecay:
    """The factor 1 − t/T of update t: the rate falls linearly to 0 at the last step."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def __call__(self, step: int) -> float:
        return 1.0 - step / self.steps


def _cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``(M,)`` mean cross-entropy of logits ``(M, B, 10)`` against labels ``(M, B)``."""
    m, b, c = logits.shape
    return F.cross_entropy(logits.reshape(m * b, c), labels.reshape(m * b),
                           reduction="none").view(m, b).mean(-1)


def log2_optimum(params: LrTransferParams, mean_loss: np.ndarray) -> float:
    """log₂ η* of one network from its seed-averaged losses ``(rates,)``; a rate at which
    some member diverged counts as ten times worse than the worst finished one."""
    log_loss = np.log(mean_loss)
    finite = np.isfinite(log_loss)
    log_loss[~finite] = log_loss[finite].max() + np.log(10)
    return parabolic_minimum(params.rates, log_loss).x


def optimal_rate_shifts(params: LrTransferParams, losses: dict[str, np.ndarray], seed: int):
    """Bootstrap estimate of the shifts of log₂ η* from the base width and base depth."""
    widths, depths = grid_nets(params)
    order = [n.name for n in widths] + [n.name for n in depths]
    k = len(widths)

    def shifts(*means: np.ndarray) -> np.ndarray:
        opt = np.array([log2_optimum(params, m) for m in means])
        return np.concatenate([opt[1:k] - opt[0], opt[k + 1:] - opt[k]])

    rng = np.random.default_rng(derive(seed, "resample"))
    return bootstrap(shifts, *[losses[n] for n in order], resamples=params.resamples,
                     generator=rng)
