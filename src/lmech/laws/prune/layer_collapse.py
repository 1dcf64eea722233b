"""prune.layer_collapse — iterative SynFlow reaches the maximal critical compression; the
single-shot scores (magnitude and SNIP) disconnect the network below it, magnitude where its
threshold empties the first cut of layers.

Setting. Bias-free ReLU networks at PyTorch's default initialisation (weights
U(−1/√fan_in, 1/√fan_in)), on 8×8 inputs: a VGG-like CNN (`lmech.models.SmallVGG`) and a
residual one with identity and 1×1 projection shortcuts (`lmech.models.SmallResNet`).
For each of `inits` networks: iterative SynFlow (100 iterations) on a grid of compressions
ρ_max·10^(−k·step) (`lmech.measure.collapse.critical_compression`), its critical
compression the last grid point before the first collapse. For the single-shot scores the
critical compression is exact, N/k_min by bisection over the kept count k (one score
ranking, so the masks are nested in k): magnitude on `magnitude_inits` networks, SNIP
(|θ ⊙ ∂L/∂θ|, cross-entropy on its own batch of `snip_batch` digits from scikit-learn,
whose 8×8 images are the networks' input) on `snip_inits` networks.

Prediction (docs/theory/pruning.md, §Layer collapse): SynFlow's is the maximal critical
compression ρ_max = N/L_min (L_min weights on the shortest input–output path: one per
layer of the VGG; stem, projections and readout of the ResNet). Magnitude's is
N/K(t*), K(t) = Σ_l N_l max(0, 1 − t√fan_in_l), at the threshold t* = 1/√fan_in where the
layers emptied so far (in order of decreasing fan-in) first cut every path
(`lmech.theory.magnitude_collapse_compression`). SNIP, a single-shot score, collapses
below ρ_max: the theory gives no value for where, so its claim is the inequality,
measured as the fraction of networks whose SNIP masks disconnect before ρ_max
(k_min > L_min): predicted 1.

Foil: SynFlow collapses where magnitude does (ρ_mag); magnitude reaches ρ_max; SNIP
reaches ρ_max in every network (fraction 0), as iterative SynFlow does.

Tolerance: SynFlow's points, the grid step (its critical compression is known to within
one step); magnitude's and SNIP's, margins from a pilot (seeds 1 000 001–3).

How far below ρ_max SNIP collapses is not judged (no predicted value); the pilot found
1.1–1.9 decades on the VGG, where it disconnects without emptying a layer, but only
0.2–1.1 on the ResNet, where it keeps the smallest layers, stem, projections and readout,
which are the shortest path (docs/theory/pruning.md, §Layer collapse and the maximal
critical compression).

Source: Tanaka, Kunin, Yamins & Ganguli, NeurIPS 2020 (arXiv:2006.05467), §3, §5, §6;
SNIP: Lee, Ajanthan & Torr, ICLR 2019 (arXiv:1810.02340).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from pydantic import Field

from lmech.ensemble import generator
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
from lmech.measure.collapse import critical_compression, layer_collapse
from lmech.measure.pruning import prune_masks
from lmech.measure.saliency import layout_of
from lmech.measure.stats import mean_estimate
from lmech.models import ResNetConfig, SmallResNet, SmallVGG, VGGConfig
from lmech.tasks import digits
from lmech.theory.pruning import magnitude_collapse_compression, maximal_critical_compression

PILOT_SEEDS = (1_000_001, 1_000_002, 1_000_003)
MAGNITUDE_MARGIN = 0.05  # decades; the pilot's largest |mean − prediction| was 0.007
SNIP_MARGIN = 0.25  # of the fraction; every pilot network collapsed before ρ_max
SYNFLOW = "iterative SynFlow"
MAGNITUDE = "single-shot magnitude"
SNIP = "single-shot SNIP"


class LayerCollapseParams(LawParams):
    vgg_layout: tuple[int | str, ...] = Field(
        (16, 16, "M", 32, 32, "M", 64), min_length=1,
        description="the VGG's channels per 3×3 convolution, 'M' for a 2×2 max-pool")
    resnet_width: int = Field(8, ge=1, le=256, description="the ResNet stem's channels")
    resnet_stages: int = Field(3, ge=1, le=4, description="ResNet stages")
    resnet_blocks: int = Field(2, ge=1, le=8, description="basic blocks per stage")
    inits: int = Field(8, ge=2, le=1024, description="networks per architecture (SynFlow)")
    magnitude_inits: int = Field(32, ge=2, le=4096,
                                 description="networks per architecture (magnitude)")
    snip_inits: int = Field(8, ge=2, le=4096, description="networks per architecture (SNIP)")
    snip_batch: int = Field(100, ge=1, le=1797,
                            description="digits in each network's SNIP batch")
    iterations: int = Field(100, ge=1, le=1000, description="SynFlow's pruning iterations")
    grid_step: float = Field(0.5, gt=0, le=1, description="SynFlow's grid step (decades)")
    grid_floor: float = Field(3.0, gt=1, description="the smallest compression scanned")


def _architectures(params: LayerCollapseParams) -> dict[str, Callable[[], torch.nn.Module]]:
    vgg = VGGConfig(layout=params.vgg_layout, bias=False)
    resnet = ResNetConfig(width=params.resnet_width, stages=params.resnet_stages,
                          blocks_per_stage=params.resnet_blocks, bias=False)
    return {"VGG": lambda: SmallVGG(vgg), "ResNet": lambda: SmallResNet(resnet)}


class LayerCollapse(AbstractLaw):
    claim = ("Iterative SynFlow prunes to the maximal critical compression without layer "
             "collapse, while single-shot scores collapse below it: SNIP in every network, "
             "magnitude where its global threshold empties the first cut of layers.")
    source = ("Tanaka, Kunin, Yamins & Ganguli, NeurIPS 2020 (arXiv:2006.05467), §3, §5, "
              "Theorem 3; Lee, Ajanthan & Torr, ICLR 2019 (arXiv:1810.02340)")
    pillar = Pillar.SOLVABLE
    tolerance_basis = ToleranceBasis.pilot(
        seeds=PILOT_SEEDS,
        measured="mean log10 critical compression over 32 networks: magnitude within 0.007 "
                 "decades of N/K(t*) (VGG and ResNet); SynFlow at ρ_max in every network; "
                 "SNIP below ρ_max in all 16 networks per architecture and seed (mean log10 "
                 "critical compression 2.29–2.33 for the VGG, ρ_max 3.79; 3.23–3.33 for the "
                 "ResNet, ρ_max 4.04; the closest network 0.18 decades short)",
        why="SynFlow: the scan's grid step (its critical compression is known to within one "
            "step). Magnitude: 0.05 decades, 7× the pilot's largest deviation and 1/36 "
            "of the gap to ρ_max. SNIP: 0.25 of the fraction (a quarter of the networks may "
            "reach ρ_max), half the largest margin that keeps the detectable deviation "
            "within half the gap to the foil")
    Params = LayerCollapseParams
    budgets = {
        "smoke": dict(vgg_layout=(4, "M", 8), resnet_width=4, resnet_stages=2,
                      resnet_blocks=1, inits=2, magnitude_inits=4, snip_inits=4,
                      snip_batch=32, iterations=20, grid_step=1.0),
        "quick": {},
        "full": dict(inits=32, magnitude_inits=128, snip_inits=64, grid_step=0.25),
    }
    panels = (
        Panel(SYNFLOW, xlabel="log₁₀ maximal critical compression ρ_max",
              ylabel="log₁₀ critical compression"),
        Panel(MAGNITUDE, xlabel="log₁₀ maximal critical compression ρ_max",
              ylabel="log₁₀ critical compression"),
        Panel(SNIP, xlabel="log₁₀ maximal critical compression ρ_max",
              ylabel="fraction of networks collapsed below ρ_max"),
    )

    def predict(self, params: LayerCollapseParams) -> Series:
        arch = _structure(params)
        return _series({SYNFLOW: {a: s["max"] for a, s in arch.items()},
                        MAGNITUDE: {a: s["magnitude"] for a, s in arch.items()},
                        SNIP: {a: 1.0 for a in arch}}, arch)

    def foil(self, params: LayerCollapseParams) -> Series:
        arch = _structure(params)
        return _series({SYNFLOW: {a: s["magnitude"] for a, s in arch.items()},
                        MAGNITUDE: {a: s["max"] for a, s in arch.items()},
                        SNIP: {a: 0.0 for a in arch}}, arch)

    def tolerance(self, params: LayerCollapseParams, prediction: Series) -> np.ndarray:
        margins = {SYNFLOW: params.grid_step, MAGNITUDE: MAGNITUDE_MARGIN, SNIP: SNIP_MARGIN}
        return np.array([margins[p] for p in prediction.panel])

    def measure(self, params: LayerCollapseParams, seed: int, *, device: str = "cpu",
                progress: Progress = lambda f: None) -> Series:
        arch = _structure(params)
        synflow, magnitude, snip = {}, {}, {}
        total = len(arch) * (params.inits * params.iterations + params.magnitude_inits
                             + params.snip_inits)
        done = 0

        def step(n: int) -> None:
            nonlocal done
            done += n
            progress(done / total)

        data = digits(device=device)
        with single_thread():
            for name, build in _architectures(params).items():
                count = max(params.inits, params.magnitude_inits, params.snip_inits)
                nets = initial_networks(build, count, seed, device=device)
                shape = nets.template.input_shape
                grid = _grid(arch[name]["rho_max"], params)
                found = []
                for i in range(params.inits):
                    scan = critical_compression(nets.member(i), "synflow", grid,
                                                input_shape=shape,
                                                iterations=params.iterations)
                    held = scan.critical if not math.isnan(scan.critical) else 1.0
                    found.append(math.log10(held))
                    step(params.iterations)
                synflow[name] = mean_estimate(found)
                exact = []
                for i in range(params.magnitude_inits):
                    exact.append(math.log10(_exact_critical(nets.member(i), shape)))
                    step(1)
                magnitude[name] = mean_estimate(exact)
                below = []
                for i in range(params.snip_inits):
                    batch = snip_batch(data, params.snip_batch, seed, nets.member_ids[i])
                    rho = _exact_critical(nets.member(i), shape, "snip", data=batch)
                    below.append(float(rho < arch[name]["rho_max"]))
                    step(1)
                snip[name] = mean_estimate(below)
        return _series({SYNFLOW: synflow, MAGNITUDE: magnitude, SNIP: snip}, arch)


def snip_batch(data, size: int, seed: int, member: int) -> tuple[torch.Tensor, torch.Tensor]:
    """SNIP's one batch for network `member`: `size` digits drawn without replacement from
    the stream (seed, "batch", member)."""
    pick = torch.randperm(len(data.y), generator=generator(seed, "batch", member))[:size]
    pick = pick.to(data.y.device)
    return data.x[pick], data.y[pick]


def _structure(params: LayerCollapseParams) -> dict[str, dict[str, float]]:
    """Per architecture: ρ_max, log₁₀ ρ_max and log₁₀ of magnitude's predicted collapse."""
    out = {}
    for name, build in _architectures(params).items():
        net = template(build)
        sizes, fans = layer_shapes(net)
        rho_max = maximal_critical_compression(sum(sizes), net.shortest_path)
        rho_mag = magnitude_collapse_compression(sizes, fans, _cut_fan_in(net))
        out[name] = {"rho_max": rho_max, "max": math.log10(rho_max),
                     "magnitude": math.log10(rho_mag)}
    return out


def _cut_fan_in(net: torch.nn.Module) -> int:
    """The fan-in at which layers, emptied in order of decreasing fan-in (as a rising
    magnitude threshold at U(±1/√fan_in) empties them), first disconnect the network."""
    layout = layout_of(net)
    fans = [s[1:].numel() for s in layout.shapes]
    for fan in sorted(set(fans), reverse=True):
        masks = {n: torch.full(s, f < fan, dtype=torch.bool)
                 for n, s, f in zip(layout.names, layout.shapes, fans, strict=True)}
        if layer_collapse(net, masks, net.input_shape).collapsed:
            return fan
    raise AssertionError("emptying every layer must disconnect the network")


def _grid(rho_max: float, params: LayerCollapseParams) -> list[float]:
    """ρ_max·10^(−k·step), ascending, down to `grid_floor`."""
    k = int(math.floor(math.log10(rho_max / params.grid_floor) / params.grid_step))
    return [rho_max * 10 ** (-j * params.grid_step) for j in range(k, -1, -1)]


def _exact_critical(net: torch.nn.Module, shape: tuple[int, ...], method: str = "magnitude",
                    **scores: object) -> float:
    """N/k_min for a single-shot score (`method`, with `scores` passed to `prune_masks`):
    the fewest kept weights (the top k) that leave the input connected, by bisection (one
    ranking, so the top-k sets are nested in k)."""
    total = layout_of(net).numel

    def connected(k: int) -> bool:
        masks = prune_masks(net, method, total / k, **scores)
        return not layer_collapse(net, masks, shape).collapsed

    low, high = 1, total  # connected(high); the answer lies in (low, high]
    if connected(low):
        return float(total)
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if connected(mid) else (mid, high)
    return total / high


def _series(values: dict[str, dict], arch: dict[str, dict]) -> Series:
    curves = []
    for panel, per_arch in values.items():
        for name, v in per_arch.items():
            x = [arch[name]["max"]]
            if isinstance(v, float):
                curves.append(Curve(panel, name, x, [v]))
            else:
                curves.append(Curve(panel, name, x, [float(v.value)], [float(v.stderr)],
                                    v.units))
    return Series.from_curves(curves)
