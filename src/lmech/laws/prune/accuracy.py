"""prune.accuracy — SynFlow-pruned networks train like the dense one at 10× and stay far above
chance at 100×, where random and magnitude pruning at initialisation leave nothing to train.

Experiment. A bias-free VGG-like CNN (`lmech.models.SmallVGG`) at PyTorch's default
initialisation, on scikit-learn's digits (a random 1,200-image training split, the rest
held out). For each of `seeds` networks the same initial weights are trained dense and
pruned at initialisation: iterative SynFlow (100 iterations) at ρ = `low` and `high`,
single-shot magnitude and random pruning at `high`; every member is trained with Adam on
its own minibatches, all at once as one stacked ensemble whose forward multiplies each
weight by its member's mask (`lmech.models.masked`). Measured: the held-out
accuracy retained over chance, r = (acc − 1/10)/(acc_dense − 1/10), the ratio of means
over seeds (delta-method error).

Prediction (docs/theory/pruning.md, §Accuracy after pruning): SynFlow keeps a path
through every layer (prune.layer_collapse), so it retains the dense network's accuracy,
r = 1, at both compressions (at 100× within a wider margin); magnitude pruning at ρ = 100
is past its collapse (ρ_mag ≈ 22 here) and cuts every path, and random pruning, though it
mostly keeps a path (its collapse is near 180), keeps about one of the first layer's 144
weights, a bottleneck that trains to chance: r = 0 for both.

Foil: SynFlow at 100× is no better than random pruning, r = 0 (the method does not matter
at initialisation); magnitude and random retain the dense accuracy, r = 1.

Tolerance: equivalence margins from a pilot (seeds 1 000 001–3): each at least twice the
pilot's largest deviation and below half the prediction–foil gap.

Source: Tanaka, Kunin, Yamins & Ganguli, NeurIPS 2020 (arXiv:2006.05467), §7, Fig. 6.
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
from lmech.laws.prune._initial_networks import initial_networks
from lmech.measure.pruning import prune_masks
from lmech.measure.stats import ratio_estimate
from lmech.models import SmallVGG, VGGConfig
from lmech.models.masked import StackedForward
from lmech.tasks import digits

PILOT_SEEDS = (1_000_001, 1_000_002, 1_000_003)
SYNFLOW = "SynFlow"
COLLAPSED = "magnitude and random"
CHANCE = 0.1  # ten balanced classes
TRAIN = 1200  # digits in the training split; the other 597 are held out
# margins on r, from the pilot: SynFlow at `low`, at `high`; magnitude and random at `high`
MARGINS = (0.05, 0.25, 0.05, 0.05)


class PruneAccuracyParams(LawParams):
    layout: tuple[int | str, ...] = Field(
        (16, "M", 32, 32, "M", 64), min_length=1,
        description="the VGG's channels per 3×3 convolution, 'M' for a 2×2 max-pool")
    low: float = Field(10.0, gt=1, description="the moderate compression ρ")
    high: float = Field(100.0, gt=1, description="the high compression ρ")
    seeds: int = Field(8, ge=2, le=256, description="initial networks (units)")
    steps: int = Field(300, ge=1, le=100_000, description="Adam steps")
    learning_rate: float = Field(0.01, gt=0, le=1, description="Adam's learning rate")
    batch: int = Field(64, ge=1, le=TRAIN, description="minibatch size")
    iterations: int = Field(100, ge=1, le=1000, description="SynFlow's pruning iterations")

    @model_validator(mode="after")
    def _ordered(self) -> PruneAccuracyParams:
        if not self.low < self.high:
            raise ValueError(f"low must be below high, got low={self.low}, high={self.high}")
        return self


class PruneAccuracy(AbstractLaw):
    claim = ("Pruned at initialisation by iterative SynFlow, a CNN trains to the dense "
             "network's accuracy at 10× and keeps most of it at 100×, where magnitude and "
             "random pruning fall to chance.")
    source = "Tanaka, Kunin, Yamins & Ganguli, NeurIPS 2020 (arXiv:2006.05467), §7, Fig. 6"
    pillar = Pillar.SIMPLE_LAWS
    tolerance_basis = ToleranceBasis.pilot(
        seeds=PILOT_SEEDS,
        measured="retained accuracy r over 8 networks: SynFlow 0.996–1.008 (se ≤ 0.007) at "
                 "10× and 0.902–0.933 (se ≤ 0.025) at 100×; magnitude and random −0.011 to "
                 "−0.002 at 100×",
        why="margins 0.05 (SynFlow 10×), 0.25 (SynFlow 100×), 0.05 (collapsed): over 2.5× "
            "the pilot's largest deviation, at most half the gap to the foil")
    Params = PruneAccuracyParams
    budgets = {
        "smoke": dict(layout=(4, "M", 8), low=4.0, high=60.0, seeds=2, steps=30,
                      learning_rate=0.02, iterations=20),
        "quick": {},
        "full": dict(seeds=32, steps=600),
    }
    panels = (
        Panel(SYNFLOW, xlabel="compression ρ", ylabel="accuracy retained over chance r",
              xscale="log"),
        Panel(COLLAPSED, xlabel="compression ρ", ylabel="accuracy retained over chance r",
              xscale="log"),
    )

    def predict(self, params: PruneAccuracyParams) -> Series:
        return _series(params, {"synflow": [1.0, 1.0], "magnitude": [0.0], "random": [0.0]})

    def foil(self, params: PruneAccuracyParams) -> Series:
        # at `low` the rival predicts what the theory does; it departs at `high`
        return _series(params, {"synflow": [1.0, 0.0], "magnitude": [1.0], "random": [1.0]})

    def tolerance(self, params: PruneAccuracyParams, prediction: Series) -> np.ndarray:
        return np.array(MARGINS)

    def measure(self, params: PruneAccuracyParams, seed: int, *, device: str = "cpu",
                progress: Progress = lambda f: None) -> Series:
        accuracy = trained_accuracies(params, seed, device, progress)
        dense = accuracy["dense"] - CHANCE
        values = {name: [ratio_estimate(accuracy[(name, rho)] - CHANCE, dense)
                         for rho in rhos] for name, rhos in _pruned(params).items()}
        return _series(params, values)


def _pruned(params: PruneAccuracyParams) -> dict[str, list[float]]:
    return {"synflow": [params.low, params.high], "magnitude": [params.high],
            "random": [params.high]}


def _series(params: PruneAccuracyParams, values: dict[str, list]) -> Series:
    curves = []
    for name, rhos in _pruned(params).items():
        panel, label = (SYNFLOW, SYNFLOW) if name == "synflow" else (COLLAPSED, name)
        v = values[name]
        if isinstance(v[0], float):
            curves.append(Curve(panel, label, rhos, v))
        else:
            curves.append(Curve(panel, label, rhos, [float(e.value) for e in v],
                                [float(e.stderr) for e in v], [e.units for e in v]))
    return Series.from_curves(curves)


def trained_accuracies(params: PruneAccuracyParams, seed: int, device: str = "cpu",
                       progress: Progress = lambda f: None) -> dict:
    """Held-out accuracy ``(seeds,)`` of the dense networks (key ``"dense"``) and of each
    pruned configuration (key ``(method, ρ)``), all trained as one stacked ensemble."""
    data = digits(device=device)
    order = torch.randperm(len(data.y), generator=generator(seed, "data")).to(device)
    train_idx, test_idx = order[:TRAIN], order[TRAIN:]
    config = VGGConfig(layout=params.layout, bias=False)
    configs = ["dense"] + [(m, r) for m, rhos in _pruned(params).items() for r in rhos]
    with single_thread():
        nets = initial_networks(lambda: SmallVGG(config), params.seeds, seed, device=device)
        shape = nets.template.input_shape
        weights = [k for k in nets.params if k.endswith("weight")]
        masks = {k: [] for k in weights}
        for c, what in enumerate(configs):
            for i in range(params.seeds):
                kept = {} if what == "dense" else _masks(nets, i, what, shape, params, seed)
                for k in weights:
                    kept_k = kept.get(k, torch.ones_like(nets.params[k][i]))
                    masks[k].append(kept_k.to(torch.float32))
            progress(0.2 * (c + 1) / len(configs))
        stacked = {k: v.repeat(len(configs), *([1] * (v.dim() - 1)))
                   for k, v in nets.params.items()}
        forward = StackedForward(nets.template, {k: torch.stack(v).to(stacked[k])
                                                 for k, v in masks.items()},
                                 input_dims=len(shape))
        ensemble = Ensemble(nets.template, stacked,
                            member_ids=list(range(len(configs) * params.seeds)))
        train(ensemble, data.x[train_idx], data.y[train_idx],
              optimizer=Adam(lr=params.learning_rate), steps=params.steps, seed=seed,
              loss="cross_entropy", batch_size=params.batch, forward=forward,
              every=params.steps, progress=lambda f: progress(0.2 + 0.8 * f))
        with torch.no_grad():
            logits = forward(ensemble.params, (data.x[test_idx],))  # (M, B, 10)
            correct = (logits.argmax(-1) == data.y[test_idx]).double().mean(-1)
    per_config = correct.cpu().numpy().reshape(len(configs), params.seeds)
    progress(1.0)
    return dict(zip(configs, per_config, strict=True))


def _masks(nets: Ensemble, i: int, what: tuple[str, float], shape, params, seed: int):
    method, rho = what
    return prune_masks(nets.member(i), method, rho, input_shape=shape,
                       iterations=params.iterations if method == "synflow" else None,
                       seed=derive(seed, "prune", nets.member_ids[i]))
