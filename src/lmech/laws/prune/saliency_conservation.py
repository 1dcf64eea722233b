"""prune.saliency_conservation — synaptic saliency is conserved at every neuron and layer.

Setting. Bias-free ReLU networks at PyTorch's default initialisation: a VGG-like CNN
(3×3 convolutions, max-pools, a linear readout; `lmech.models.SmallVGG`) and an MLP, both
on scikit-learn's digits. Two synaptic saliencies S = θ ⊙ ∂R/∂θ: SynFlow's (R the summed
output of the |θ| network on 𝟙, `lmech.measure.saliency.synflow_scores`) and the loss's
(R the cross-entropy on a batch of digits, signed, `lmech.measure.conservation`).

Identity (Tanaka, Kunin, Yamins & Ganguli 2020, Theorems 1–2; docs/theory/pruning.md,
§Synaptic saliency and its conservation): every layer's total Σ S_l equals the output's
⟨f, ∂R/∂f⟩ (= R for SynFlow), and at every hidden neuron the saliency entering equals
the saliency leaving. Measured: each layer's total over the output's (prediction 1) and
each hidden layer's relative imbalance Σ_c |in_c − out_c| / Σ_c |out_c| (prediction 0),
the worst of `inits` networks.

Foil: saliency spread evenly over weights (what magnitude-style intuition assumes): each
layer's total L·N_l/N of the output's, and a neuron's in/out ratio that of its fans.

Tolerance (computed): float64 rounding. Each score is a product along backpropagation of
≤ 10⁴ rounded operations (relative error ≤ 10⁴·u, u = 1.1e-16); the totals are summed
exactly (fsum); the loss's signed scores may cancel, by at most a factor 10³ here: 1.1e-9.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch.func import functional_call

from lmech.ensemble import generator
from lmech.laws import (
    AbstractLaw,
    Curve,
    Kind,
    LawParams,
    Panel,
    Pillar,
    Progress,
    Series,
    ToleranceBasis,
)
from lmech.laws._threads import single_thread
from lmech.laws.prune._initial_networks import initial_networks, layer_shapes, template
from lmech.measure.conservation import layer_totals, neuron_balance, saliency
from lmech.measure.saliency import synaptic_flow, synflow_scores
from lmech.models import MLP, MLPConfig, SmallVGG, VGGConfig
from lmech.tasks import digits

ROUNDING = 1.1e-9  # 10⁴ operations per score × u × a cancellation of at most 10³
LAYERS = "layer totals"
NEURONS = "neuron balance"
SCORES = ("SynFlow", "loss")


class SaliencyConservationParams(LawParams):
    vgg_layout: tuple[int | str, ...] = Field(
        (16, 16, "M", 32, 32, "M", 64), min_length=1,
        description="the VGG's channels per 3×3 convolution, 'M' for a 2×2 max-pool")
    mlp_width: int = Field(100, ge=1, le=4096, description="the MLP's hidden width")
    mlp_depth: int = Field(2, ge=1, le=16, description="the MLP's hidden layers")
    batch: int = Field(256, ge=2, le=1797, description="digits in the loss's batch")
    inits: int = Field(4, ge=1, le=256, description="networks per architecture (the worst "
                                                    "is reported)")


def _architectures(params: SaliencyConservationParams) -> dict[str, tuple]:
    """name → (builder, input reshaping of the flat digits)."""
    vgg = VGGConfig(layout=params.vgg_layout, bias=False)
    mlp = MLPConfig(64, params.mlp_width, params.mlp_depth, 10, activation="relu",
                    bias=False)
    return {"VGG": (lambda: SmallVGG(vgg), (1, 8, 8)), "MLP": (lambda: MLP(mlp), (64,))}


class SaliencyConservation(AbstractLaw):
    claim = ("Synaptic saliency θ⊙∂R/∂θ is conserved in bias-free ReLU networks: each layer "
             "sums to the same total and every hidden neuron passes on what it receives.")
    source = ("Tanaka, Kunin, Yamins & Ganguli, NeurIPS 2020 (arXiv:2006.05467), "
              "Theorems 1–2")
    pillar = Pillar.SOLVABLE
    kind = Kind.IDENTITY
    tolerance_basis = ToleranceBasis.computed(
        "float64 rounding: ≤ 10⁴ operations per score at u = 1.1e-16, totals summed exactly, "
        "cancellation of signed scores ≤ 10³: 1.1e-9")
    Params = SaliencyConservationParams
    budgets = {
        "smoke": dict(vgg_layout=(4, "M", 8), mlp_width=16, batch=32, inits=2),
        "quick": {},
        "full": dict(inits=16),
    }
    panels = (
        Panel(LAYERS, xlabel="prunable layer l", ylabel="Σ S over layer / ⟨f, ∂R/∂f⟩",
              yscale="log"),
        Panel(NEURONS, xlabel="hidden layer l",
              ylabel="Σ|in − out| / Σ|out| over its neurons"),
    )

    def predict(self, params: SaliencyConservationParams) -> Series:
        return _series(params, lambda arch, sizes: np.ones(len(sizes)),
                       lambda arch, sizes: np.zeros(len(sizes) - 1))

    def foil(self, params: SaliencyConservationParams) -> Series:
        def even_layers(arch, sizes):
            n = np.array(sizes, dtype=np.float64)
            return len(n) * n / n.sum()

        def even_neurons(arch, sizes):
            n = np.array(sizes, dtype=np.float64)
            return np.abs(n[:-1] - n[1:]) / n[1:]  # in/out = N_l / N_(l+1) at every neuron

        return _series(params, even_layers, even_neurons)

    def tolerance(self, params: SaliencyConservationParams, prediction: Series) -> np.ndarray:
        return ROUNDING * np.maximum(np.abs(prediction.y), 1.0)

    def measure(self, params: SaliencyConservationParams, seed: int, *, device: str = "cpu",
                progress: Progress = lambda f: None) -> Series:
        data = digits(flatten=True, dtype=torch.float64, device=device)
        pick = torch.randperm(len(data.y), generator=generator(seed, "data"))[:params.batch]
        x, y = data.x[pick.to(device)], data.y[pick.to(device)]
        results: dict[str, dict[str, list]] = {}
        archs = _architectures(params)
        done, total = 0, len(archs) * params.inits
        with single_thread():
            for arch, (build, shape) in archs.items():
                nets = initial_networks(build, params.inits, seed, device=device)
                per_score: dict[str, list] = {s: [] for s in SCORES}
                for i in range(params.inits):
                    net = nets.member(i)
                    per_score["SynFlow"].append(_synflow_sums(net, shape))
                    per_score["loss"].append(_loss_sums(net, x.reshape(-1, *shape), y))
                    done += 1
                    progress(done / total)
                results[arch] = per_score
        return _measured(params, results)


def _series(params, layer_values, neuron_values) -> Series:
    curves = []
    for arch, (build, _) in _architectures(params).items():
        sizes, _ = layer_shapes(template(build))
        for score in SCORES:
            curves.append(Curve(LAYERS, f"{arch}, {score}", np.arange(1, len(sizes) + 1),
                                layer_values(arch, sizes)))
    for arch, (build, _) in _architectures(params).items():
        sizes, _ = layer_shapes(template(build))
        for score in SCORES:
            curves.append(Curve(NEURONS, f"{arch}, {score}", np.arange(1, len(sizes)),
                                neuron_values(arch, sizes)))
    return Series.from_curves(curves)


def _sums(scores: dict[str, torch.Tensor], output: float) -> tuple[np.ndarray, np.ndarray]:
    """(each layer's total / the output's, each hidden layer's relative imbalance)."""
    layers = np.array(list(layer_totals(scores).values())) / output
    imbalance = np.array([float((i - o).abs().sum() / o.abs().sum())
                          for i, o in neuron_balance(scores)])
    return layers, imbalance


def _synflow_sums(net: torch.nn.Module, shape: tuple[int, ...]):
    return _sums(synflow_scores(net, shape), synaptic_flow(net, shape))


def _loss_sums(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor):
    """Signed loss saliency, normalised by ⟨f, ∂L/∂f⟩ (each layer's total by Euler)."""
    scores = saliency(net, lambda m, w: F.cross_entropy(functional_call(m, w, (x,)), y))
    f = net.double()(x).detach().requires_grad_()
    (g,) = torch.autograd.grad(F.cross_entropy(f, y), f)
    return _sums(scores, float((f.detach() * g).sum()))


def _measured(params, results) -> Series:
    """The worst network of each architecture and score: the value farthest from the
    identity's (1 for layer totals, 0 for imbalances)."""
    curves = []
    for panel, index, target in ((LAYERS, 0, 1.0), (NEURONS, 1, 0.0)):
        for arch, per_score in results.items():
            for score in SCORES:
                values = np.stack([r[index] for r in per_score[score]])  # (inits, points)
                worst = values[np.abs(values - target).argmax(0), np.arange(values.shape[1])]
                x = np.arange(1, values.shape[1] + 1)
                curves.append(Curve(panel, f"{arch}, {score}", x, worst,
                                    np.zeros_like(worst), params.inits))
    return Series.from_curves(curves)
