"""A user's law about their own model: at PyTorch's default init, the readout bias
dominates a narrow network's output variance."""

import numpy as np
import torch
from pydantic import Field
from torch import nn

from lmech.laws import AbstractLaw, Curve, LawParams, Panel, Pillar, Series, ToleranceBasis


def my_model(width: int) -> nn.Module:  # the model under study, built as the user builds it
    return nn.Sequential(nn.Linear(16, width), nn.ReLU(), nn.Linear(width, 1))


class Params(LawParams):
    widths: tuple[int, ...] = Field((4, 16), min_length=1, description="hidden widths n")
    networks: int = Field(8000, ge=8, description="freshly initialised models per width")


class ReadoutBiasVariance(AbstractLaw):
    claim = ("At PyTorch's default init (weights and biases U(±1/√fan_in)), the output "
             "variance at x = 1 is 17/288 + 1/(3n): the readout bias's 1/(3n) dominates "
             "narrow networks.")
    source = "PyTorch nn.Linear.reset_parameters; E relu(z)² = E z²/2 for symmetric z"
    pillar = Pillar.LIMITS
    tolerance_basis = ToleranceBasis.pilot(
        seeds=(1_000_001, 1_000_002),
        measured="within −2.3 % … +0.3 % of 17/288 + 1/(3n), 8000 models per width",
        why="10 % of the variance: agreement we would call the same number")
    Params = Params
    budgets = {"smoke": {"networks": 2000}, "quick": {}, "full": {"networks": 40_000}}
    panels = (Panel("output variance", "hidden width n", "Var f(x)", xscale="log"),)

    def _curve(self, params, y, se=None, units=None):
        return Series.from_curves([Curve("output variance", "x = 1", params.widths, y,
                                         se, units)])

    def predict(self, params):  # E f² = n · 1/(3n) · E z²/2 + 1/(3n), E z² = 1/3 + 1/48
        return self._curve(params, [17 / 288 + 1 / (3 * n) for n in params.widths])

    def foil(self, params):  # the rival reading: "biases don't matter at init"
        return self._curve(params, [1 / 18] * len(params.widths))

    def tolerance(self, params, prediction):
        return 0.10 * np.abs(prediction.y)

    def measure(self, params, seed, *, device="cpu", progress=lambda f: None):
        x = torch.ones(1, 16, device=device)
        means, errors = [], []
        for k, n in enumerate(params.widths):
            with torch.random.fork_rng(devices=[]), torch.no_grad():
                # nn.Linear draws from torch's global RNG: seed it, and restore it after
                torch.manual_seed(int(np.random.SeedSequence([seed, k]).generate_state(1)[0]))
                f = torch.cat([my_model(n).to(device)(x) for _ in range(params.networks)])
            squares = (f - f.mean()).double().square().flatten().cpu().numpy()
            means.append(squares.mean())  # the variance, a mean of squared deviations
            errors.append(squares.std(ddof=1) / np.sqrt(squares.size))
            progress((k + 1) / len(params.widths))
        return self._curve(params, means, errors, params.networks)
