"""superposition.phase_change — a less important feature enters superposition above S_c(r).

Experiment. The toy model x' = ReLU(WᵀW x + b) (`lmech.models.ToyModel`), features zero
with probability S else U[0, 1], loss Σ_i I_i (x_i − x'_i)², Adam on fresh batches. Panel
"phase boundary": n = 2, m = 1, importances (1, r); for each r a grid of S (step `spacing`)
reaching `window` beyond both S_c(r) and the foil's boundary. A unit is one pair of
networks at every S of the grid, one started near W = (1, −1), one near W = (1, 0), scored
on the pair's own test set; superposition wins at S if the lower-loss network is a pair
(w₁w₂ < 0, |w₂| ≥ 0.2|w₁|). The unit's boundary is the lower end of its top run of wins,
where the two losses cross (linear interpolation); the point is its mean over units. Panel
"dimensions per feature": n = 20, m = 5, I_i = 0.7^i; per unit the lowest-test-loss of
`restarts` networks; D* = m/‖W‖_F².

Two more panels only illustrate (never judged; docs/verdicts.md): "phase diagram", the
fraction of units whose winner at S is the antipodal pair, per r, against S, with the
theory's step at S_c(r) and the foil's at its flat boundary (the boundaries' raw material);
"geometry", Elhage et al.'s picture for n = 20, m = 5 over more sparsities (`sweep`, with
`sweep_units` units of the same best-of-`restarts` networks, trained with the rest): D*
against 1/(1 − S) with the best allocation, and every feature's dimensionality

    D_i = ‖W_i‖⁴ / Σ_j (W_i·W_j)²    (= ‖W_i‖² / Σ_j (Ŵ_i·W_j)², Elhage et al. §"Feature
                                      dimensionality"; 0 for a feature with W_i = 0)

of each unit's best network, which clusters at 1 (a dimension of its own), 1/2 (an
antipodal pair), 2/5 (a pentagon) and 0 (not represented).

Prediction (docs/theory/superposition.md; `lmech.theory.critical_sparsity`,
`pair_allocation`): S_c(r) where the exact expected losses of the antipodal minimum and of
ignoring feature 2 (r Var x₂) are equal; D* of the best allocation of the five dimensions
to single features or antipodal pairs.

Foil: a boundary independent of importance (the mean of S_c(r) over the r measured); and
no superposition, D* = 1.

Tolerance: declared from a pilot (`tolerance_basis`): training's distance from the exact
minima and finite test sets move the measured boundary (margin 0.02 in S); trained
networks sit off the best allocation of pairs, some forming pentagon-like groups at
S = 0.95 (margin 0.06 in D*).

Source: Elhage et al., "Toy models of superposition" (2022), §§"The phase change", "The
geometry of superposition".
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from pydantic import Field, model_validator

from lmech.ensemble import Adam, Ensemble, generator, train
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
from lmech.measure.stats import Estimate, mean_estimate
from lmech.models import ToyModel, ToyModelConfig, toy_model_forward
from lmech.tasks import sparse_feature_batch, sparse_features
from lmech.theory import critical_sparsity, pair_allocation
from lmech.theory.superposition import COLLAPSED

PHASE = "phase boundary"
DSTAR = "dimensions per feature"
DIAGRAM = "phase diagram"
GEOMETRY = "geometry of superposition"
WIDE = "n=20, m=5, I=0.7^i"
PILOT_SEEDS = (1_000_001, 1_000_002, 1_000_003)
BOUNDARY_MARGIN = 0.02
DSTAR_MARGIN = 0.06


class PhaseChangeParams(LawParams):
    importances: tuple[float, ...] = Field((0.1, 0.3, 0.5), min_length=2,
                                           description="r: feature 2's importance, in (0, 0.5]")
    window: float = Field(0.04, gt=0, le=0.3, description="how far each r's S grid extends "
                          "beyond S_c(r) and the foil's boundary")
    spacing: float = Field(0.02, gt=0, le=0.1, description="step of the S grid")
    units: int = Field(16, ge=2, le=256, description="pairs (or best-of units) per point")
    steps: int = Field(2000, ge=10, le=100_000, description="Adam steps (n = 2)")
    lr: float = Field(0.01, gt=0, le=1, description="Adam learning rate")
    batch_size: int = Field(256, ge=8, le=65_536, description="fresh samples per step")
    test_size: int = Field(16_384, ge=256, le=1_000_000, description="test set per unit")
    sparsities: tuple[float, ...] = Field((0.3, 0.95), min_length=1,
                                          description="S of the n = 20, m = 5 panel")
    restarts: int = Field(3, ge=1, le=16, description="networks per unit (n = 20)")
    wide_steps: int = Field(3000, ge=10, le=100_000, description="Adam steps (n = 20)")
    wide_batch: int = Field(128, ge=8, le=65_536, description="batch (n = 20)")
    sweep: tuple[float, ...] = Field((0.6, 0.8, 0.9, 0.99), description="more S of the "
                                     "n = 20 illustration (not judged; those among "
                                     "sparsities reuse its networks)")
    sweep_units: int = Field(3, ge=2, le=256, description="units per S of the illustration's "
                             "sweep, and its feature-dimensionality cloud")

    @model_validator(mode="after")
    def _consistent(self) -> PhaseChangeParams:
        if not all(0 < r <= 0.5 for r in self.importances) or \
                list(self.importances) != sorted(set(self.importances)):
            raise ValueError(f"importances must increase within (0, 0.5] (where the transition "
                             f"is between two phases only), got {self.importances}")
        if not all(0 <= s < 1 for s in self.sparsities):
            raise ValueError(f"sparsities must lie in [0, 1), got {self.sparsities}")
        if not all(0 <= s < 1 for s in self.sweep):
            raise ValueError(f"sweep must lie in [0, 1), got {self.sweep}")
        if self.window < 2 * self.spacing:
            raise ValueError("window must hold at least two grid steps either side")
        return self


class PhaseChange(AbstractLaw):
    claim = ("In the toy model of superposition a less important feature enters antipodal "
             "superposition above a critical sparsity S_c(r) that falls as its importance r "
             "grows, where the exact losses of the two solutions cross; sparse features pack "
             "as antipodal pairs.")
    source = ("Elhage et al., 'Toy models of superposition', Transformer Circuits Thread 2022, "
              "§§ The phase change, The geometry of superposition")
    pillar = Pillar.SOLVABLE
    tolerance_basis = ToleranceBasis.pilot(
        seeds=PILOT_SEEDS,
        measured="quick budget (8, 8 and 16 pairs): boundaries within 0.0054 of S_c(r) "
                 "(standard errors 0.0014-0.0038); D* at S = 0.95 below the pair allocation "
                 "by 0.0075-0.029 (some networks form pentagon-like groups), at S = 0.3 by "
                 "0.0024",
        why="training's distance from the exact minima and finite test sets (boundary: "
            "margin 0.02, 3.7x the largest pilot deviation); trained networks off the best "
            "allocation of pairs (D*: margin 0.06, 2x)")
    Params = PhaseChangeParams
    budgets = {
        "smoke": dict(importances=(0.1, 0.5), window=0.06, spacing=0.03, units=4, steps=400,
                      batch_size=64, test_size=2048, sparsities=(0.95,), restarts=1,
                      wide_steps=1500, wide_batch=64, sweep=(0.0,), sweep_units=2),
        "quick": {},
        "full": dict(importances=(0.1, 0.2, 0.3, 0.4, 0.5), window=0.03, spacing=0.01, units=32,
                     steps=4000, sparsities=(0.0, 0.3, 0.95), restarts=4,
                     wide_steps=6000, sweep=(0.5, 0.7, 0.8, 0.9, 0.97, 0.99),
                     sweep_units=8),
    }
    panels = (
        Panel(PHASE, xlabel="importance r of feature 2", ylabel="critical sparsity S_c"),
        Panel(DSTAR, xlabel="sparsity S", ylabel="dimensions per feature D*"),
        Panel(DIAGRAM, xlabel="sparsity S",
              ylabel="fraction of units won by superposition",
              illustrates="each r's phase across S (n = 2, m = 1): the raw material of the "
                          "boundaries, with the theory's step at S_c(r)"),
        Panel(GEOMETRY, xlabel="1/(1−S)", ylabel="D* (line) and each feature's D_i (dots)",
              xscale="log",
              illustrates="n = 20, m = 5 over many S: D* and the feature dimensionalities "
                          "D_i, clustering at 1, 1/2, 2/5 and 0"),
    )

    def predict(self, params: PhaseChangeParams) -> Series:
        sc = [critical_sparsity(r) for r in params.importances]
        judged = _series(params, sc, [_allocation(s).dimensions_per_feature
                                      for s in params.sparsities])
        return _with_illustrations(params, judged, _steps(params, sc), [
            _allocation(s).dimensions_per_feature for s in _wide_sparsities(params)])

    def foil(self, params: PhaseChangeParams) -> Series:
        flat = [_flat_boundary(params)] * len(params.importances)
        judged = _series(params, flat, [1.0] * len(params.sparsities))
        return _with_illustrations(params, judged, _steps(params, flat),
                                   [1.0] * len(_wide_sparsities(params)))

    def tolerance(self, params: PhaseChangeParams, prediction: Series) -> np.ndarray:
        # the illustrations are never judged: no band there
        return np.select([prediction.panel == PHASE, prediction.panel == DSTAR],
                         [BOUNDARY_MARGIN, DSTAR_MARGIN], 0.0)

    def measure(self, params: PhaseChangeParams, seed: int, *, device: str = "cpu",
                progress: Progress = lambda f: None) -> Series:
        with single_thread():  # networks of 4 and 120 parameters
            boundary, wins = _boundaries(params, seed, device, lambda f: progress(0.7 * f))
            dstar, sweep, dims = _dimensions_per_feature(params, seed, device,
                                                         lambda f: progress(0.7 + 0.3 * f))
        judged = _series(params, boundary.value, dstar.value, boundary.stderr, dstar.stderr,
                         (boundary.units, dstar.units))
        return Series.from_curves([*judged.curves(), *_measured_illustrations(params, wins,
                                                                             sweep, dims)])


def _measured_illustrations(params: PhaseChangeParams, wins: np.ndarray, sweep, dims
                            ) -> list[Curve]:
    """The illustrations' measured curves: per r, the fraction of units won by
    superposition at each S of its grid (`wins` ``(grid, units)``); D* at every S of the
    n = 20 networks (`sweep`, Estimates); the cloud of feature dimensionalities (`dims`,
    per S ``(units, n)``), one point per feature and network (units 1: single networks)."""
    grid, out = _grid(params), []
    for i, r in enumerate(params.importances):
        rows = [g for g, (j, _) in enumerate(grid) if j == i]
        won = mean_estimate(wins[rows].T.astype(np.float64))  # units are the pairs
        out.append(Curve(DIAGRAM, f"r = {r:g}", [grid[g][1] for g in rows], won.value,
                         won.stderr, won.units))
    x = [1 / (1 - s) for s in _wide_sparsities(params)]
    out.append(Curve(GEOMETRY, "D*", x, [e.value for e in sweep], [e.stderr for e in sweep],
                     [e.units for e in sweep]))
    cloud_x = np.concatenate([np.full(d.size, xs) for xs, d in zip(x, dims, strict=True)])
    out.append(Curve(GEOMETRY, "D_i of each feature", cloud_x,
                     np.concatenate([d.ravel() for d in dims]), None, 1))
    return out


@functools.lru_cache(maxsize=64)
def _allocation(sparsity: float):
    return pair_allocation(sparsity, 0.7 ** np.arange(20), hidden=5)


def _series(params, boundary, dstar, boundary_se=None, dstar_se=None, units=(None, None)
            ) -> Series:
    """The judged panels' points."""
    return Series.from_curves([
        Curve(PHASE, "n=2, m=1", params.importances, boundary, boundary_se, units[0]),
        Curve(DSTAR, WIDE, params.sparsities, dstar, dstar_se, units[1]),
    ])


def _wide_sparsities(params: PhaseChangeParams) -> list[float]:
    """Every S of the n = 20 networks, judged and swept, increasing."""
    return sorted({*params.sparsities, *params.sweep})


def _steps(params: PhaseChangeParams, boundaries) -> list[Curve]:
    """Theory (or foil) of the phase diagram: per r, no unit won by superposition below
    its boundary, every unit above (a step across each r's S grid)."""
    grid, out = _grid(params), []
    for i, (r, sc) in enumerate(zip(params.importances, boundaries, strict=True)):
        s = [x for j, x in grid if j == i]
        lo, hi = min(s[0], sc - 1e-3), max(s[-1], sc + 1e-3)
        out.append(Curve(DIAGRAM, f"r = {r:g}", [lo, sc - 1e-4, sc + 1e-4, hi], [0, 0, 1, 1]))
    return out


def _with_illustrations(params: PhaseChangeParams, judged: Series, diagram: list[Curve],
                        dstar: list[float]) -> Series:
    """`judged` and the illustrations' theory (or foil) curves: the phase diagram's steps,
    and D* at every S of the n = 20 networks."""
    x = [1 / (1 - s) for s in _wide_sparsities(params)]
    return Series.from_curves([*judged.curves(), *diagram, Curve(GEOMETRY, "D*", x, dstar)])


def _flat_boundary(params: PhaseChangeParams) -> float:
    """The foil's boundary: the constant nearest the prediction, the mean of S_c(r)."""
    return float(np.mean([critical_sparsity(r) for r in params.importances]))


def _grid(params: PhaseChangeParams) -> list[tuple[int, float]]:
    """(importance index, S) of every trained point: for each r, the multiples of `spacing`
    from `window` below the lower of S_c(r) and the foil's boundary to `window` above the
    higher (at most 0.99), so that the measured boundary can land on either."""
    flat, step = _flat_boundary(params), params.spacing
    out = []
    for i, r in enumerate(params.importances):
        sc = critical_sparsity(r)
        lo = max(math.floor((min(sc, flat) - params.window) / step + 1e-9), 0)
        hi = math.ceil((max(sc, flat) + params.window) / step - 1e-9)
        out += [(i, round(k * step, 6)) for k in range(lo, hi + 1) if k * step <= 0.99]
    return out


def _superposed(w: torch.Tensor) -> torch.Tensor:
    """``(M,)`` whether each n = 2, m = 1 network ``W (M, 1, 2)`` holds an antipodal pair:
    w₁w₂ < 0 and |w₂| ≥ `COLLAPSED`·|w₁| (the convention of `antipodal_solution`)."""
    w1, w2 = w[:, 0, 0], w[:, 0, 1]
    return (w1 * w2 < 0) & (w2.abs() >= COLLAPSED * w1.abs())


def _boundaries(params: PhaseChangeParams, seed: int, device: str, progress
                ) -> tuple[Estimate, np.ndarray]:
    """The crossing sparsity per importance: per unit (one pair of networks at every S of
    the grid, scored on the unit's own test sets), then its mean over units; and whether
    superposition won each unit at each grid point, ``(grid, units)``."""
    grid = _grid(params)
    u, m = params.units, 2 * params.units * len(grid)
    sparsity = torch.tensor([s for _, s in grid], dtype=torch.float32).repeat_interleave(2 * u)
    importance = torch.tensor([[1.0, params.importances[i]] for i, _ in grid]
                              ).repeat_interleave(2 * u, 0)  # (M, 2)
    ids = list(range(m))  # member (g·units + unit)·2 + start, start 0 antipodal, 1 ignored
    start = torch.tensor([[1.0, -1.0], [1.0, 0.0]]).repeat(m // 2, 1)  # (M, 2)
    noise = torch.stack([0.1 * torch.randn(2, generator=generator(seed, "init", i))
                         for i in ids])
    params0 = {"W": (start + noise).unsqueeze(1).to(device), "b": torch.zeros(m, 2, device=device)}
    w, b = _train(params0, ids, sparsity, importance, params.steps, params.batch_size,
                  params.lr, seed, device, progress)
    # each pair's own test set (member id of its antipodal start), shared by its two networks
    test = torch.stack([sparse_features(generator(seed, "eval", ids[2 * k]), params.test_size,
                                        torch.full((2,), 1 - float(sparsity[2 * k])))
                        for k in range(m // 2)]).repeat_interleave(2, 0)
    loss = _test_loss(w, b, test.to(device), importance.to(device))
    loss = loss.view(len(grid), u, 2).double().cpu().numpy()
    pair = _superposed(w).view(len(grid), u, 2).cpu().numpy()
    per_unit = np.empty((u, len(params.importances)))
    for i in range(len(params.importances)):
        rows = [g for g, (j, _) in enumerate(grid) if j == i]
        s = np.array([grid[g][1] for g in rows])
        for k in range(u):
            per_unit[k, i] = _crossing(s, loss[rows, k], pair[rows, k])
    wins = np.take_along_axis(pair, loss.argmin(-1)[..., None], -1)[..., 0]  # (grid, units)
    return mean_estimate(per_unit), wins


def _crossing(sparsity: np.ndarray, loss: np.ndarray, pair: np.ndarray) -> float:
    """One unit's boundary from its pairs of networks along increasing `sparsity`.

    `loss` and `pair` ``(S, 2)``: each network's test loss and whether it is an antipodal
    pair (start 0 antipodal, 1 ignored). Superposition wins at S when the lower-loss
    network is a pair; the boundary is the lower end of the top run of wins, placed
    between its two grid points where the loss difference of the two starts crosses zero
    (linearly interpolated when both starts kept their phase at both points, else the
    midpoint); the grid's ends if superposition wins everywhere or nowhere at the top.
    """
    wins = pair[np.arange(len(sparsity)), loss.argmin(-1)]
    if wins.all():
        return float(sparsity[0])
    lo = int(np.flatnonzero(~wins)[-1])
    if lo == len(sparsity) - 1:
        return float(sparsity[-1])
    hi = lo + 1
    if pair[lo, 0] and pair[hi, 0] and not pair[lo, 1] and not pair[hi, 1]:
        d_lo, d_hi = loss[lo, 0] - loss[lo, 1], loss[hi, 0] - loss[hi, 1]  # ≥ 0 > d_hi
        return float(sparsity[lo] + d_lo / (d_lo - d_hi) * (sparsity[hi] - sparsity[lo]))
    return float((sparsity[lo] + sparsity[hi]) / 2)


def _dimensions_per_feature(params: PhaseChangeParams, seed: int, device: str, progress):
    """D* of the best of `restarts` networks per unit, at each sparsity of the panel; D* at
    every S of the n = 20 networks (judged and swept, increasing); and there the feature
    dimensionalities ``(units, n)`` of the first `sweep_units` units' best networks.

    The swept networks (`sweep_units` units per S) follow the judged ones, ids and all."""
    n, hidden, k, u = 20, 5, params.restarts, params.units
    groups = [(s, u) for s in params.sparsities] + [
        (s, params.sweep_units) for s in dict.fromkeys(params.sweep)
        if s not in params.sparsities]
    count = sum(g for _, g in groups) * k
    first = 2 * params.units * len(_grid(params))  # member ids after the n = 2 networks
    ids = list(range(first, first + count))
    sparsity = torch.tensor([s for s, g in groups for _ in range(g * k)], dtype=torch.float32)
    importance = (0.7 ** torch.arange(n, dtype=torch.float32)).expand(count, n)
    w0 = torch.stack([torch.randn(hidden, n, generator=generator(seed, "init", i))
                      for i in ids]) / hidden**0.5
    params0 = {"W": w0.to(device), "b": torch.zeros(count, n, device=device)}
    w, b = _train(params0, ids, sparsity, importance, params.wide_steps, params.wide_batch,
                  params.lr, seed, device, progress, decay=True)
    # each unit's own test set (member id of its first restart), shared by its restarts
    test = torch.stack([sparse_features(generator(seed, "eval", ids[j * k]), params.test_size,
                                        torch.full((n,), 1 - float(sparsity[j * k])))
                        for j in range(count // k)])
    loss = _test_loss(w, b, test.repeat_interleave(k, 0).to(device), importance.to(device))
    best = loss.view(-1, k).argmin(-1)  # (units over all S,)
    w_best = w.view(-1, k, hidden, n)[torch.arange(best.numel(), device=w.device), best]
    dstar = (hidden / w_best.pow(2).sum((1, 2))).double().cpu().numpy()  # (units over all S,)
    dims = feature_dimensionality(w_best.double()).cpu().numpy()  # (units over all S, n)
    judged = len(params.sparsities) * u
    per_unit = dstar[:judged].reshape(len(params.sparsities), u).T  # (units, S)
    start = np.cumsum([0] + [g for _, g in groups])
    by_s = {s: slice(start[i], start[i + 1]) for i, (s, _) in enumerate(groups)}
    wide = _wide_sparsities(params)
    sweep = [mean_estimate(dstar[by_s[s]]) for s in wide]
    cloud = [dims[by_s[s]][:params.sweep_units] for s in wide]
    return mean_estimate(per_unit), sweep, cloud


def feature_dimensionality(w: torch.Tensor) -> torch.Tensor:
    """``(..., n)`` each feature's dimensionality D_i = ‖W_i‖⁴ / Σ_j (W_i·W_j)² from
    ``W (..., m, n)`` (feature i's embedding W_i is column i); 0 where W_i = 0.

    D_i = ‖W_i‖² / Σ_j (Ŵ_i·W_j)²: 1 for a feature with a dimension of its own, 1/2 for one
    of an antipodal pair, 2/5 in a pentagon. Source: Elhage et al. (2022), §"Feature
    dimensionality".

    Example:
        >>> w = torch.tensor([[1.0, -1.0, 0.0], [0.0, 0.0, 2.0]])  # a pair, a lone feature
        >>> feature_dimensionality(w).tolist()
        [0.5, 0.5, 1.0]
    """
    gram = w.transpose(-1, -2) @ w  # (..., n, n): W_i·W_j
    norm2 = gram.diagonal(dim1=-2, dim2=-1)
    overlap = gram.square().sum(-1)
    return torch.where(overlap > 0, norm2.square() / overlap.clamp_min(1e-300), 0.0)


def _train(params0, ids, sparsity, importance, steps, batch_size, lr, seed, device, progress,
           decay: bool = False):
    """Train toy models on fresh sparse batches; returns the trained (W, b)."""
    n = importance.shape[-1]
    ens = Ensemble(ToyModel(ToyModelConfig(n, params0["W"].shape[1])), params0, ids)
    active = (1 - sparsity).unsqueeze(-1).expand(-1, n).to(device)
    weights = importance.to(device)

    def batch(step: int, streams):
        return (sparse_feature_batch(streams, batch_size, active),)

    def loss(out: torch.Tensor, b) -> torch.Tensor:
        return ((b[0] - out).square() * weights.unsqueeze(1)).sum(-1).mean(-1)

    schedule = (lambda t: 1.0 if t < steps // 2 else 0.1) if decay else None
    train(ens, optimizer=Adam(lr=lr, schedule=schedule), steps=steps, seed=seed, loss=loss,
          batch=batch, forward=lambda p, b: toy_model_forward(p, b[0]), every=steps,
          progress=progress)
    return ens.params["W"].detach(), ens.params["b"].detach()


def _test_loss(w, b, x, importance) -> torch.Tensor:
    """``(M,)`` Σ_i I_i (x_i − x'_i)² averaged over each member's test set ``x (M, T, n)``."""
    with torch.no_grad():
        out = toy_model_forward({"W": w, "b": b}, x)
        return ((x - out).square() * importance.unsqueeze(1)).sum(-1).mean(-1)
