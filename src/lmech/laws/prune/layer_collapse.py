"""prune.layer_collapse — iterative SynFlow reaches the maximal critical compression; magnitude
pruning collapses where its threshold empties the first cut of layers.

Setting. Bias-free ReLU networks at PyTorch's default initialisation (weights
U(−1/√fan_in, 1/√fan_in)), on 8×8 inputs: a VGG-like CNN (`lmech.models.SmallVGG`) and a
residual one with identity and 1×1 projection shortcuts (`lmech.models.SmallResNet`).
For each of `inits` networks: iterative SynFlow (100 iterations) on a grid of compressions
ρ_max·10^(−k·step) (`lmech.measure.collapse.critical_compression`), its critical
compression the last grid point before the first collapse; single-shot magnitude pruning's
exact critical compression N/k_min by bisection over the kept count k (its masks are
nested in k). Reported: log₁₀ of each, mean ± se over networks.

Prediction (docs/theory/pruning.md, §Layer collapse): SynFlow's is the maximal critical
compression ρ_max = N/L_min (L_min weights on the shortest input–output path: one per
layer of the VGG; stem, projections and readout of the ResNet). Magnitude's is
N/K(t*), K(t) = Σ_l N_l max(0, 1 − t√fan_in_l), at the threshold t* = 1/√fan_in where the
layers emptied so far (in order of decreasing fan-in) first cut every path
(`lmech.theory.magnitude_collapse_compression`).

Foil: SynFlow collapses where magnitude does (ρ_mag); magnitude reaches ρ_max.

Tolerance: SynFlow's points, the grid step (its critical compression is known to within
one step); magnitude's, a margin from a pilot (seeds 1 000 001–3). SNIP, the other
single-shot score, collapses early too (docs/theory/pruning.md) but has no predicted
value, so it is not a point here.

Source: Tanaka, Kunin, Yamins & Ganguli, NeurIPS 2020 (arXiv:2006.05467), §3, §5, §6.
"""

from __future__ import annotations

import math
from collections.abc import Callable

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
from lmech.laws._threads import single_thread
from lmech.laws.prune._initial_networks import initial_networks, layer_shapes, template
from lmech.measure.collapse import critical_compression, layer_collapse
from lmech.measure.pruning import prune_masks
from lmech.measure.saliency import layout_of
from lmech.measure.stats import mean_estimate
from lmech.models import ResNetConfig, SmallResNet, SmallVGG, VGGConfig
from lmech.theory.pruning import magnitude_collapse_compression, maximal_critical_compression

PILOT_SEEDS = (1_000_001, 1_000_002, 1_000_003)
MAGNITUDE_MARGIN = 0.05  # decades; the pilot's largest |mean − prediction| was 0.007
SYNFLOW = "iterative SynFlow"
MAGNITUDE = "single-shot magnitude"


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
             "collapse, while single-shot magnitude pruning collapses where its global "
             "threshold empties the first cut of layers.")
    source = ("Tanaka, Kunin, Yamins & Ganguli, NeurIPS 2020 (arXiv:2006.05467), §3, §5, "
              "Theorem 3")
    pillar = Pillar.SOLVABLE
    tolerance_basis = ToleranceBasis.pilot(
        seeds=PILOT_SEEDS,
        measured="mean log10 critical compression over 32 networks: magnitude within 0.007 "
                 "decades of N/K(t*) (VGG and ResNet); SynFlow at ρ_max in every network",
        why="SynFlow: the scan's grid step (its critical compression is known to within one "
            "step). Magnitude: 0.05 decades, 7× the pilot's largest deviation and 1/36 "
            "of the gap to ρ_max")
    Params = LayerCollapseParams
    budgets = {
        "smoke": dict(vgg_layout=(4, "M", 8), resnet_width=4, resnet_stages=2,
                      resnet_blocks=1, inits=2, magnitude_inits=4, iterations=20,
                      grid_step=1.0),
        "quick": {},
        "full": dict(inits=32, magnitude_inits=128, grid_step=0.25),
    }
    panels = (
        Panel(SYNFLOW, xlabel="log₁₀ maximal critical compression ρ_max",
              ylabel="log₁₀ critical compression"),
        Panel(MAGNITUDE, xlabel="log₁₀ maximal critical compression ρ_max",
              ylabel="log₁₀ critical compression"),
    )

    def predict(self, params: LayerCollapseParams) -> Series:
        arch = _structure(params)
        return _series({SYNFLOW: {a: s["max"] for a, s in arch.items()},
                        MAGNITUDE: {a: s["magnitude"] for a, s in arch.items()}}, arch)

    def foil(self, params: LayerCollapseParams) -> Series:
        arch = _structure(params)
        return _series({SYNFLOW: {a: s["magnitude"] for a, s in arch.items()},
                        MAGNITUDE: {a: s["max"] for a, s in arch.items()}}, arch)

    def tolerance(self, params: LayerCollapseParams, prediction: Series) -> np.ndarray:
        return np.where(prediction.panel == SYNFLOW, params.grid_step, MAGNITUDE_MARGIN)

    def measure(self, params: LayerCollapseParams, seed: int, *, device: str = "cpu",
                progress: Progress = lambda f: None) -> Series:
        arch = _structure(params)
        synflow, magnitude = {}, {}
        total = len(arch) * (params.inits * params.iterations + params.magnitude_inits)
        done = 0
        with single_thread():
            for name, build in _architectures(params).items():
                count = max(params.inits, params.magnitude_inits)
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
                    done += params.iterations
                    progress(done / total)
                synflow[name] = mean_estimate(found)
                exact = []
                for i in range(params.magnitude_inits):
                    exact.append(math.log10(_exact_critical(nets.member(i), shape)))
                    done += 1
                    progress(done / total)
                magnitude[name] = mean_estimate(exact)
        return _series({SYNFLOW: synflow, MAGNITUDE: magnitude}, arch)


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


def _exact_critical(net: torch.nn.Module, shape: tuple[int, ...]) -> float:
    """N/k_min for single-shot magnitude: the fewest kept weights (top-k by |θ|) that
    leave the input connected, by bisection (the top-k sets are nested in k)."""
    total = layout_of(net).numel

    def connected(k: int) -> bool:
        masks = prune_masks(net, "magnitude", total / k)
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
