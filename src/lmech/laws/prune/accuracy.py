"""prune.accuracy — accuracy against compression for four ways of pruning at initialisation:
SynFlow keeps the dense network's accuracy from 10× to 100×, while magnitude pruning falls
to chance once it has disconnected the network and random pruning by 100×.

Experiment. A bias-free VGG-like CNN (`lmech.models.SmallVGG`) at PyTorch's default
initialisation, on scikit-learn's digits (a random 1,200-image training split, the rest
held out). For each of `seeds` networks the same initial weights are trained dense and
pruned at initialisation by random pruning, magnitude, SNIP (|θ ⊙ ∂L/∂θ| on 100 training
digits) and iterative SynFlow (100 iterations), at compressions ρ = `low`, `middle`,
`high` (10, 30, 100). Every member is trained with Adam on its own minibatches, stacked
in ensembles of at most 32 whose forward multiplies each weight by its member's mask
(`lmech.models.masked`). A member whose mask leaves no input–output path computes the
constant 0 whatever its kept weights are, so every gradient vanishes and Adam leaves it as
it is: it is evaluated without being trained. Measured: the held-out accuracy retained
over chance, r = (acc − 1/10)/(acc_dense − 1/10), the ratio of means over seeds
(delta-method error).

Prediction (docs/theory/pruning.md, §Accuracy after pruning), one curve per method:

- SynFlow keeps a path through every layer up to ρ_max (prune.layer_collapse) and
  thins them in balance: r = 1 at every compression (within a margin that widens with ρ);
- magnitude pruning past its critical compression ρ_mag = N/K(t*) (≈ 22 for this VGG,
  `lmech.theory.magnitude_collapse_compression`) has cut every path: r = 0 at every grid
  point above ρ_mag;
- random pruning at `high` keeps about one of the first layer's 144 weights, a bottleneck
  that trains to chance: r = 0 (observed, not derived: most of its masks still hold a path);
- at `low`, far below every method's collapse, random, magnitude and SNIP train like the
  dense network, r = 1 (a panel without a foil: there the theory and its rival agree).

Random pruning and SNIP at `middle`, and SNIP at `high`, are connected and have no
predicted value: they are measured with the rest and drawn in the figure's last panel,
accuracy against compression with one curve per method, which illustrates and is not
judged (docs/theory/pruning.md gives the table).

Foil: the method does not matter at initialisation. SynFlow at `high` is no better than
random pruning, r = 0; magnitude and random retain the dense accuracy, r = 1.

Tolerance: equivalence margins from a pilot (seeds 1 000 001–3): each at least twice the
pilot's largest deviation and below half the prediction–foil gap.

Source: Tanaka, Kunin, Yamins & Ganguli, NeurIPS 2020 (arXiv:2006.05467), §3, §7,
Fig. 6; SNIP: Lee, Ajanthan & Torr, ICLR 2019 (arXiv:1810.02340).
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field, model_validator

from lmech.ensemble import Adam, Ensemble, derive, generator, train
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
from lmech.laws.prune._initial_networks import initial_networks, layer_shapes, template
from lmech.laws.prune.layer_collapse import _cut_fan_in
from lmech.measure.collapse import layer_collapse
from lmech.measure.pruning import prune_masks
from lmech.measure.stats import Estimate, ratio_estimate
from lmech.models import SmallVGG, VGGConfig
from lmech.models.masked import StackedForward
from lmech.tasks import digits
from lmech.theory.pruning import magnitude_collapse_compression

PILOT_SEEDS = (1_000_001, 1_000_002, 1_000_003)
METHODS = ("random", "magnitude", "snip", "synflow")
LABELS = {"random": "random", "magnitude": "magnitude", "snip": "SNIP", "synflow": "SynFlow"}
SYNFLOW = "SynFlow"
COLLAPSED = "chance: magnitude past its collapse, random at the highest ρ"
MODERATE = "every method at the lowest ρ"
OVERVIEW = "accuracy against compression"
CHANCE = 0.1  # ten balanced classes
TRAIN = 1200  # digits in the training split; the other 597 are held out
SNIP_BATCH = 100  # training digits in each network's SNIP batch
CHUNK = 32  # members trained together (larger stacks cost more per member on 2 cores)
# margins on r, from the pilot (its largest band reach |m − h| + t·se, t = 5.3, in brackets)
SYNFLOW_MARGINS = {"low": 0.10, "middle": 0.10, "high": 0.25}  # (0.056, 0.055, 0.18)
CHANCE_MARGIN = 0.05  # (0.012)
MODERATE_MARGIN = 0.15  # (0.10, random pruning)


class PruneAccuracyParams(LawParams):
    layout: tuple[int | str, ...] = Field(
        (16, "M", 32, 32, "M", 64), min_length=1,
        description="the VGG's channels per 3×3 convolution, 'M' for a 2×2 max-pool")
    low: float = Field(10.0, gt=1, description="the lowest compression ρ")
    middle: float = Field(30.0, gt=1, description="the middle compression ρ")
    high: float = Field(100.0, gt=1, description="the highest compression ρ")
    seeds: int = Field(8, ge=2, le=256, description="initial networks (units)")
    steps: int = Field(300, ge=1, le=100_000, description="Adam steps")
    learning_rate: float = Field(0.01, gt=0, le=1, description="Adam's learning rate")
    batch: int = Field(64, ge=1, le=TRAIN, description="minibatch size")
    iterations: int = Field(100, ge=1, le=1000, description="SynFlow's pruning iterations")

    @model_validator(mode="after")
    def _ordered(self) -> PruneAccuracyParams:
        if not self.low < self.middle < self.high:
            raise ValueError(f"need low < middle < high, got low={self.low}, "
                             f"middle={self.middle}, high={self.high}")
        return self

    @property
    def grid(self) -> tuple[float, float, float]:
        return (self.low, self.middle, self.high)


class PruneAccuracy(AbstractLaw):
    claim = ("Pruned at initialisation by iterative SynFlow, a CNN trains to the dense "
             "network's accuracy from 10× to 100×, where magnitude pruning (past its "
             "collapse) and random pruning fall to chance.")
    source = ("Tanaka, Kunin, Yamins & Ganguli, NeurIPS 2020 (arXiv:2006.05467), §7, "
              "Fig. 6; Lee, Ajanthan & Torr, ICLR 2019 (arXiv:1810.02340)")
    pillar = Pillar.SIMPLE_LAWS
    tolerance_basis = ToleranceBasis.pilot(
        seeds=PILOT_SEEDS,
        measured="retained accuracy r over 8 networks: SynFlow 0.992–1.010 (se ≤ 0.009) "
                 "at 10×, 0.983–0.991 (se ≤ 0.008) at 30×, 0.897–0.909 (se ≤ 0.017) at "
                 "100×; magnitude at 30× and 100× and random at 100× −0.011 to −0.002; at "
                 "10× random 0.966–0.985 (se ≤ 0.013), magnitude 0.997–1.010, SNIP "
                 "0.989–1.005",
        why="margins 0.10 (SynFlow 10× and 30×), 0.25 (SynFlow 100×), 0.05 (chance), "
            "0.15 (every method at 10×): each above the pilot's largest band reach "
            "|m − h| + t·se (0.056, 0.055, 0.18, 0.012, 0.10) and at least twice its "
            "largest deviation; the foil's gap at 100× is 1, over twice the margin")
    Params = PruneAccuracyParams
    budgets = {
        "smoke": dict(layout=(4, "M", 8), low=4.0, middle=15.0, high=60.0, seeds=2,
                      steps=30, learning_rate=0.02, iterations=20),
        "quick": {},
        "full": dict(seeds=32, steps=600),
    }
    panels = (
        Panel(SYNFLOW, xlabel="compression ρ", ylabel="accuracy retained over chance r",
              xscale="log"),
        Panel(COLLAPSED, xlabel="compression ρ", ylabel="accuracy retained over chance r",
              xscale="log"),
        Panel(MODERATE, xlabel="compression ρ", ylabel="accuracy retained over chance r",
              xscale="log",
              no_foil="far below every method's collapse the theory and its rival agree "
                      "(r = 1)"),
        Panel(OVERVIEW, xlabel="compression ρ", ylabel="accuracy retained over chance r",
              xscale="log",
              illustrates="every method at every compression, one measured curve each: "
                          "the judged points with those that have no predicted value"),
    )

    def predict(self, params: PruneAccuracyParams) -> Series:
        theory = {p: 1.0 if role != "chance" else 0.0 for p, role in _judged(params).items()}
        return _series(params, theory)

    def foil(self, params: PruneAccuracyParams) -> Series:
        # the rival departs from the theory only where a method's choice should matter
        foil = {p: 1.0 for p in _judged(params)}
        foil[("synflow", params.high)] = 0.0
        return _series(params, foil)

    def tolerance(self, params: PruneAccuracyParams, prediction: Series) -> np.ndarray:
        roles = _judged(params)
        where = {params.low: "low", params.middle: "middle", params.high: "high"}
        margins = {p: (SYNFLOW_MARGINS[where[p[1]]] if role == "synflow" else
                       CHANCE_MARGIN if role == "chance" else MODERATE_MARGIN)
                   for p, role in roles.items()}
        return _series(params, margins).y

    def measure(self, params: PruneAccuracyParams, seed: int, *, device: str = "cpu",
                progress: Progress = lambda f: None) -> Series:
        table = accuracy_table(params, seed, device=device, progress=progress)
        return _series(params, table, overview=table)


def magnitude_collapse(params: PruneAccuracyParams) -> float:
    """ρ_mag = N/K(t*): where magnitude pruning disconnects the law's VGG at PyTorch's
    default initialisation (`lmech.theory.magnitude_collapse_compression`)."""
    net = template(lambda: SmallVGG(VGGConfig(layout=params.layout, bias=False)))
    sizes, fans = layer_shapes(net)
    return magnitude_collapse_compression(sizes, fans, _cut_fan_in(net))


def _judged(params: PruneAccuracyParams) -> dict[tuple[str, float], str]:
    """The (method, ρ) points with a predicted value, and the role that sets it."""
    roles = {("synflow", rho): "synflow" for rho in params.grid}
    rho_mag = magnitude_collapse(params)
    for rho in params.grid:
        if rho > rho_mag:
            roles[("magnitude", rho)] = "chance"
    roles[("random", params.high)] = "chance"
    for method in ("random", "magnitude", "snip"):
        if (method, params.low) not in roles:
            roles[(method, params.low)] = "moderate"
    return roles


def _series(params: PruneAccuracyParams, values: dict[tuple[str, float], object],
            overview: dict[tuple[str, float], object] | None = None) -> Series:
    """The judged points of `values` in their panels, and every point of `overview` (one
    curve per method) in the illustration panel."""
    roles = _judged(params)
    curves = []
    for method in METHODS:
        rhos = [rho for rho in params.grid if (method, rho) in roles]
        for panel in (SYNFLOW, COLLAPSED, MODERATE):
            here = [rho for rho in rhos if _panel(roles[(method, rho)]) == panel]
            if here:
                curves.append(_curve(panel, method, here, values))
    for method in METHODS:
        here = [rho for rho in params.grid if (method, rho) in (overview or {})]
        if here:
            curves.append(_curve(OVERVIEW, method, here, overview))
    return Series.from_curves(curves)


def _curve(panel: str, method: str, rhos: list[float], values: dict) -> Curve:
    v = [values[(method, rho)] for rho in rhos]
    if isinstance(v[0], Estimate):
        return Curve(panel, LABELS[method], rhos, [float(e.value) for e in v],
                     [float(e.stderr) for e in v], [e.units for e in v])
    return Curve(panel, LABELS[method], rhos, [float(x) for x in v])


def _panel(role: str) -> str:
    return {"synflow": SYNFLOW, "chance": COLLAPSED, "moderate": MODERATE}[role]


def accuracy_table(params: PruneAccuracyParams, seed: int,
                   points: list[tuple[str, float]] | None = None, *, device: str = "cpu",
                   progress: Progress = lambda f: None) -> dict[tuple[str, float], Estimate]:
    """r = (acc − 1/10)/(acc_dense − 1/10) with its error over seeds at each (method, ρ) of
    `points` (default: every method at every compression of the grid)."""
    points = points or [(m, rho) for m in METHODS for rho in params.grid]
    accuracy = trained_accuracies(params, seed, points, device, progress)
    dense = accuracy["dense"] - CHANCE
    return {p: ratio_estimate(accuracy[p] - CHANCE, dense) for p in points}


def trained_accuracies(params: PruneAccuracyParams, seed: int,
                       points: list[tuple[str, float]], device: str = "cpu",
                       progress: Progress = lambda f: None) -> dict:
    """Held-out accuracy ``(seeds,)`` of the dense networks (key ``"dense"``) and of each
    pruned configuration (key ``(method, ρ)``), trained in stacked ensembles of at most
    `CHUNK` members; members whose masks collapse the network are evaluated untrained."""
    data = digits(device=device)
    order = torch.randperm(len(data.y), generator=generator(seed, "data")).to(device)
    train_idx, test_idx = order[:TRAIN], order[TRAIN:]
    config = VGGConfig(layout=params.layout, bias=False)
    configs = ["dense", *points]
    # a member's id (its minibatch stream) is its place in the whole grid, so that every
    # configuration trains alike whichever subset of the grid is asked for
    grid = ["dense", *[(m, rho) for m in METHODS for rho in params.grid]]
    with single_thread():
        nets = initial_networks(lambda: SmallVGG(config), params.seeds, seed, device=device)
        shape = nets.template.input_shape
        weights = [k for k in nets.params if k.endswith("weight")]
        members, frozen = [], []  # (config index, network, masks)
        for c, what in enumerate(configs):
            for i in range(params.seeds):
                kept = {} if what == "dense" else _masks(nets, i, what, shape, params, seed,
                                                         data, train_idx)
                masks = {k: kept.get(k, torch.ones_like(nets.params[k][i])).to(torch.float32)
                         for k in weights}
                dead = bool(kept) and layer_collapse(nets.member(i), kept, shape).collapsed
                place = grid.index(what) * params.seeds + i
                (frozen if dead else members).append((c, i, place, masks))
            progress(0.2 * (c + 1) / len(configs))
        correct = np.zeros((len(configs), params.seeds))
        chunks = [members[j:j + CHUNK] for j in range(0, len(members), CHUNK)]
        for n, chunk in enumerate(chunks):
            ensemble, forward = _stack(nets, weights, chunk, len(shape))
            train(ensemble, data.x[train_idx], data.y[train_idx],
                  optimizer=Adam(lr=params.learning_rate), steps=params.steps, seed=seed,
                  loss="cross_entropy", batch_size=params.batch, forward=forward,
                  every=params.steps,
                  progress=lambda f, n=n: progress(0.2 + 0.8 * (n + f) / len(chunks)))
            _score(correct, chunk, ensemble, forward, data.x[test_idx], data.y[test_idx])
        if frozen:
            ensemble, forward = _stack(nets, weights, frozen, len(shape))
            _score(correct, frozen, ensemble, forward, data.x[test_idx], data.y[test_idx])
    progress(1.0)
    return dict(zip(configs, correct, strict=True))


def _stack(nets: Ensemble, weights: list[str], members: list, input_dims: int
           ) -> tuple[Ensemble, StackedForward]:
    """One ensemble of `members` ((config, network, id, masks) each), with its masked
    forward."""
    params = {k: torch.stack([v[i] for _, i, _, _ in members])
              for k, v in nets.params.items()}
    masks = {k: torch.stack([m[k] for *_, m in members]).to(params[k]) for k in weights}
    ids = [place for _, _, place, _ in members]
    return (Ensemble(nets.template, params, member_ids=ids),
            StackedForward(nets.template, masks, input_dims=input_dims))


def _score(correct: np.ndarray, members: list, ensemble: Ensemble, forward: StackedForward,
           x: torch.Tensor, y: torch.Tensor) -> None:
    with torch.no_grad():
        logits = forward(ensemble.params, (x,))  # (M, B, 10)
        hits = (logits.argmax(-1) == y).double().mean(-1).cpu().numpy()
    for (c, i, _, _), h in zip(members, hits, strict=True):
        correct[c, i] = h


def _masks(nets: Ensemble, i: int, what: tuple[str, float], shape, params, seed: int,
           data=None, train_idx: torch.Tensor | None = None):
    """Network i's masks for (method, ρ); SNIP needs `data` and the training split."""
    method, rho = what
    member = nets.member_ids[i]
    batch = None
    if method == "snip":  # one batch of training digits, its own for each network
        pick = torch.randperm(len(train_idx), generator=generator(seed, "batch", member))
        pick = train_idx[pick[:SNIP_BATCH].to(train_idx.device)]
        batch = (data.x[pick], data.y[pick])
    return prune_masks(nets.member(i), method, rho, input_shape=shape, data=batch,
                       iterations=params.iterations if method == "synflow" else None,
                       seed=derive(seed, "prune", member))
