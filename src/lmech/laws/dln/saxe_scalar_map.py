"""dln.saxe_scalar_map — from a decoupled, balanced start, training is one scalar map per mode.

Identity. A two-layer linear network y = W2 W1 x (hidden width `width`) is trained by
full-batch gradient descent (`lmech.ensemble.train`) on Saxe's loss ½ mean_p |y_p − W x_p|²
of a linear teacher T = U diag(s) Vᵀ, on Gaussian inputs whitened exactly
((1/P) Xᵀ X = I), from the decoupled balanced start W1 = R diag(√u0) Vᵀ,
W2 = U diag(√u0) Rᵀ with a Haar-random hidden basis R. Each seed draws new teacher modes,
inputs and basis. Then every mode stays decoupled and balanced, and one step maps its
strength u = u_αᵀ W2 W1 v_α exactly by

    u ← u (1 + η (s − u))²        (`saxe_discrete_mode_strength`),

whatever the random bases (docs/theory/deep_linear.md, §The discrete map). The measured
strengths are compared with this map at a few recorded steps.

Foil: Saxe's gradient-flow sigmoid at t = η·step (`saxe_mode_strength`), which the map
follows only to O(η): the identity is that of gradient descent, not of the flow.

Tolerance (computed): float64 rounding, 64 ε per step (a few dozen roundings in the matrix
products of one step), accumulated over the steps (the log-odds map neither amplifies nor
damps a relative error to first order), times s.

Source: Saxe, McClelland & Ganguli, ICLR 2014 (arXiv:1312.6120), eqs. 5–10, discretised.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field, model_validator

from lmech.ensemble import Ensemble, generator
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
from lmech.laws.dln._modes import check_shapes, member_teachers, train_mode_strengths
from lmech.measure.stats import mean_estimate, record_steps
from lmech.models import MLP, deep_linear
from lmech.tasks import whitened_inputs
from lmech.theory import saxe_discrete_mode_strength, saxe_mode_strength

ROUNDING_PER_STEP = 64 * np.finfo(np.float64).eps
MODES = "mode strength"


class SaxeScalarMapParams(LawParams):
    n_in: int = Field(8, ge=1, le=4096, description="input dimension")
    n_out: int = Field(8, ge=1, le=4096, description="output dimension")
    width: int = Field(16, ge=1, le=4096, description="hidden width")
    spectrum: tuple[float, ...] = Field((3.0, 2.0, 1.0, 0.5), min_length=1,
                                        description="teacher singular values s, > 0")
    u0: float = Field(1e-3, gt=0, description="initial strength of every mode")
    learning_rate: float = Field(0.02, gt=0, description="gradient-descent step η")
    steps: int = Field(600, ge=1, le=1_000_000, description="gradient-descent steps")
    n_samples: int = Field(64, ge=1, description="training inputs P (whitened)")
    n_seeds: int = Field(4, ge=2, description="independent networks")
    n_points: int = Field(13, ge=2, description="recorded steps compared with the map")

    @model_validator(mode="after")
    def _consistent(self) -> SaxeScalarMapParams:
        check_shapes(self.spectrum, self.n_in, self.n_out, self.width, self.n_samples)
        if self.u0 >= min(self.spectrum):
            raise ValueError(f"u0 must be < min(spectrum) = {min(self.spectrum)}")
        if self.learning_rate * max(self.spectrum) > 0.5:
            raise ValueError(f"learning_rate · max(spectrum) must be <= 0.5 for a stable map, "
                             f"got {self.learning_rate * max(self.spectrum):.3g}")
        if self.n_points > self.steps + 1:
            raise ValueError(f"n_points must be <= steps + 1 = {self.steps + 1}")
        return self


class SaxeScalarMap(AbstractLaw):
    claim = ("From a decoupled, balanced start on whitened inputs, gradient descent moves each "
             "mode of a two-layer linear network by the scalar map u ← u(1 + η(s − u))².")
    source = "Saxe, McClelland & Ganguli, ICLR 2014 (arXiv:1312.6120), eqs. 5–10"
    pillar = Pillar.SOLVABLE
    kind = Kind.IDENTITY
    tolerance_basis = ToleranceBasis.computed(
        "float64 rounding: 64 ε per step, accumulated over the steps, times s")
    Params = SaxeScalarMapParams
    budgets = {
        "smoke": dict(n_in=4, n_out=4, width=8, spectrum=(3.0, 1.5), learning_rate=0.05,
                      steps=150, n_samples=16, n_seeds=2, n_points=6),
        "quick": {},
        "full": dict(n_in=16, n_out=16, width=32, spectrum=(4.0, 2.0, 1.0, 0.5, 0.25),
                     learning_rate=0.01, steps=4000, n_samples=256, n_seeds=16, n_points=41),
    }
    panels = (Panel(MODES, xlabel="time t = η·step", ylabel="mode strength u"),)

    def _series(self, params, strengths) -> Series:
        t = record_steps(params.steps, params.n_points) * params.learning_rate
        return Series.from_curves([
            Curve(MODES, f"s={s:g}", t, strengths(t, a, s))
            for a, s in enumerate(params.spectrum)])

    def predict(self, params: SaxeScalarMapParams) -> Series:
        exact = saxe_discrete_mode_strength(params.steps, params.spectrum, params.u0,
                                            params.learning_rate)
        steps = record_steps(params.steps, params.n_points)
        return self._series(params, lambda t, a, s: exact[steps, a])

    def foil(self, params: SaxeScalarMapParams) -> Series:
        return self._series(params, lambda t, a, s: saxe_mode_strength(t, s, params.u0))

    def tolerance(self, params: SaxeScalarMapParams, prediction: Series) -> np.ndarray:
        steps = prediction.x / params.learning_rate
        s = np.array([float(c.removeprefix("s=")) for c in prediction.curve])
        return (steps + 1) * ROUNDING_PER_STEP * s

    def measure(self, params: SaxeScalarMapParams, seed: int, *, device: str = "cpu",
                progress: Progress = lambda f: None) -> Series:
        ids = list(range(params.n_seeds))
        teacher = member_teachers(seed, ids, params.n_in, params.n_out, params.spectrum,
                                  device)
        x = torch.cat([whitened_inputs(params.n_samples, params.n_in,
                                       generator=generator(seed, "data", i)) for i in ids])
        r = len(params.spectrum)
        hidden = torch.cat([_haar_columns(params.width, r, generator(seed, "init", i))
                            for i in ids])  # (M, width, r)
        a = params.u0**0.5
        net = MLP(deep_linear(params.n_in, params.width, 1, params.n_out)).double()
        ensemble = Ensemble(net.to(device), {
            "layers.0.weight": (a * hidden @ teacher.V.cpu().transpose(-1, -2)).to(device),
            "layers.1.weight": (a * teacher.U.cpu() @ hidden.transpose(-1, -2)).to(device),
        }, member_ids=ids)
        u = train_mode_strengths(ensemble, x.to(device), teacher,
                                 learning_rate=params.learning_rate, steps=params.steps,
                                 seed=seed, progress=progress)  # (steps + 1, M, r)
        steps = record_steps(params.steps, params.n_points)
        t = steps * params.learning_rate
        curves = []
        for k, s in enumerate(params.spectrum):
            e = mean_estimate(u[steps, :, k].T)  # units: the seeds
            curves.append(Curve(MODES, f"s={s:g}", t, e.value, e.stderr, e.units))
        return Series.from_curves(curves)


def _haar_columns(rows: int, cols: int, gen: torch.Generator) -> torch.Tensor:
    """``(1, rows, cols)`` orthonormal columns, Haar-distributed (QR with sign fix)."""
    q, r = torch.linalg.qr(torch.randn(rows, cols, generator=gen, dtype=torch.float64))
    return (q * torch.sign(torch.diagonal(r))).unsqueeze(0)
