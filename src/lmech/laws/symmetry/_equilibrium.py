"""Scale-invariant networks trained to their equilibrium norm: what the equilibrium laws
share (private).

Member m is a `lmech.models.BatchNormMLP`, 64 → BN(W₁x) → ReLU → BN(W₂h) → 10 logits
(float64, ε = 0: both weight matrices exactly scale-invariant), trained on scikit-learn's
digits with the true labels or with a random permutation of them (its own, drawn from
(seed, "noise", m)), in minibatches drawn with replacement from its own stream, by the
engine's SGD (PyTorch's heavy ball, coupled weight decay) or AdamW, with its own η, λ and
momentum (β, or AdamW's β₁). Each setting runs `burn_in`/r steps to forget its initial
norm and `window`/r more, r its slowest relaxation rate of ‖θ‖²; members run the same
number of steps and member m's window is its last `window`/r of them. `StepGeometry` sums
each layer's geometry over the window, over its first and last fifth (the drift check) and
at step 0. Every curve is one (data, momentum, layer) over η, its points the mean over
`n_seeds` networks (the units).

The window tolerance (docs/theory/symmetry.md, §Angular equilibrium): summing an exact
recursion over a window of W steps leaves boundary terms in ΔQ = Q_end − Q_start. Two
things make Q drift over the window: the rest of the initial transient, at most
MISMATCH·e^{−burn_in} (the distance from equilibrium shrinks at least as e^{−rk}), and the
equilibrium itself moving as the network keeps learning, allowed DRIFT per relaxation time
1/r. `check_equilibrium` raises when a run breaks either assumption.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from pydantic import Field

from lmech.ensemble import SGD, Adam, MemberStreams, generator, init_ensemble, train
from lmech.laws import Curve, LawParams, Progress
from lmech.laws._threads import single_thread
from lmech.laws.symmetry._charges import digits_set
from lmech.measure import StepGeometry
from lmech.measure.stats import mean_estimate
from lmech.models import BatchNormMLP, BatchNormMLPConfig, batchnorm_mlp_forward
from lmech.theory.noether import oscillator_coefficients

__all__ = ["DATASETS", "EquilibriumParams", "Setting", "allowed_drift", "check_grid",
           "measure_windows", "relaxation_rate", "settings", "theory_curves", "window_curves"]

DATASETS = ("digits", "random labels")
LAYERS = {"layer 1": ["layers.0.weight"], "layer 2": ["layers.1.weight"]}
MISMATCH = 10.0  # allowed initial ‖θ‖² / equilibrium ratio (checked at run time)
DRIFT = 0.05  # allowed drift of the equilibrium ‖θ‖² per relaxation time 1/r (checked)


class EquilibriumParams(LawParams):
    """The grid and the run lengths every equilibrium law shares (defaults: its quick)."""

    lrs: tuple[float, ...] = Field((0.05, 0.1), min_length=1, description="learning rates η")
    weight_decay: float = Field(0.05, gt=0, description="weight decay λ")
    momenta: tuple[float, ...] = Field((0.5, 0.9), min_length=1,
                                       description="momenta β (AdamW: β₁), each in [0, 1)")
    width: int = Field(32, ge=2, le=512, description="hidden units")
    batch: int = Field(32, ge=4, le=1797, description="minibatch size")
    burn_in: float = Field(6.0, gt=0, description="burn-in length, in units of 1/r")
    window: float = Field(30.0, gt=0, description="measured window, in units of 1/r")
    n_seeds: int = Field(8, ge=2, le=64, description="independent networks per setting")


@dataclass(frozen=True)
class Setting:
    """One trained configuration: data set index, η, λ, momentum, and the steps of its
    burn-in and of its whole run."""

    data: int
    lr: float
    weight_decay: float
    momentum: float
    burn: int
    total: int


def relaxation_rate(lr: float, weight_decay: float, momentum: float, optimizer: str) -> float:
    """Slowest relaxation rate r of ‖θ‖² per step towards its equilibrium.

    SGD: η·(γ − Re √(γ² − ω²)) of the charge oscillator (`oscillator_coefficients`),
    ≈ 2ηλ/(1 − β) when strongly over-damped, (1 − β)/(1 + β) when under-damped. AdamW:
    2ηλ, the decoupled decay of Q_{k+1} ≈ (1 − ηλ)²Q_k + η²‖u‖² (its update does not
    scale with ‖θ‖, so momentum does not speed the relaxation).
    """
    if optimizer == "adamw":
        return 2 * lr * weight_decay
    _, gamma, omega2 = oscillator_coefficients(lr, weight_decay, momentum)
    return lr * (gamma - np.sqrt(max(gamma**2 - omega2, 0.0)))


def settings(params: EquilibriumParams, optimizer: str) -> list[Setting]:
    """Every (data, momentum, η) of the grid, in that order, with its run lengths."""
    out = []
    for data, beta, eta in itertools.product(range(len(DATASETS)), params.momenta,
                                             params.lrs):
        r = relaxation_rate(eta, params.weight_decay, beta, optimizer)
        burn = int(np.ceil(params.burn_in / r))
        out.append(Setting(data, eta, params.weight_decay, beta, burn,
                           burn + int(np.ceil(params.window / r))))
    return out


def check_grid(params: EquilibriumParams, optimizer: str, *, max_lr: float,
               momentum_required: bool, symbol: str = "β") -> None:
    """Raise ValueError (pydantic reports it) unless every η is in (0, max_lr], ηλ < 0.1,
    every momentum in (0, 1) (or [0, 1) when not `momentum_required`), and the slowest
    setting needs at most 50,000 steps."""
    low = "0 <" if momentum_required else "0 ≤"
    for eta in params.lrs:
        for beta in params.momenta:
            ok_beta = (beta > 0 if momentum_required else beta >= 0) and beta < 1
            if not (0 < eta <= max_lr and ok_beta and eta * params.weight_decay < 0.1):
                why = " (without momentum the foil is the prediction)" if momentum_required \
                    else ""
                raise ValueError(f"need 0 < η ≤ {max_lr:g}, {low} {symbol} < 1{why} and "
                                 f"ηλ < 0.1; got η={eta}, λ={params.weight_decay}, "
                                 f"{symbol}={beta}")
    if max(s.total for s in settings(params, optimizer)) > 50_000:
        raise ValueError("the slowest setting needs more than 50,000 steps; raise ηλ")


def allowed_drift(params: EquilibriumParams) -> float:
    """Largest |Q_end − Q_start|/Q̄ over the window the tolerances cover: the residue of
    the burn-in, MISMATCH·e^{−burn_in}, plus the equilibrium's own drift, DRIFT per 1/r."""
    return MISMATCH * np.exp(-params.burn_in) + DRIFT * params.window


def _name(setting: Setting, layer: int, symbol: str) -> str:
    return f"{DATASETS[setting.data]}, {symbol}={setting.momentum:g}, layer {layer}"


Panels = str | Callable[[float], str]
"""The panel of every curve, or momentum → panel."""


def _panel_of(panel: Panels) -> Callable[[float], str]:
    return (lambda beta: panel) if isinstance(panel, str) else panel


def theory_curves(params: EquilibriumParams, optimizer: str, panel: Panels,
                  value: Callable[[Setting], float], symbol: str = "β") -> list[Curve]:
    """One curve per (data, momentum, layer) over η, in `panel` (or `panel(momentum)`), of
    `value(setting)` (the same for both layers)."""
    grid = settings(params, optimizer)
    panel = _panel_of(panel)
    curves = []
    for data, beta in itertools.product(range(len(DATASETS)), params.momenta):
        row = [s for s in grid if (s.data, s.momentum) == (data, beta)]
        for layer in (1, 2):
            curves.append(Curve(panel(beta), _name(row[0], layer, symbol), params.lrs,
                                [value(s) for s in row]))
    return curves


def window_curves(params: EquilibriumParams, grid: Sequence[Setting], values: np.ndarray,
                  panel: Panels, symbol: str = "β") -> list[Curve]:
    """The measured curves: `values` ``(members, 2)`` (setting-major, seed last) averaged
    over each setting's seeds, one curve per (data, momentum, layer) over η."""
    panel = _panel_of(panel)
    per_setting = values.reshape(len(grid), params.n_seeds, 2)
    curves = []
    for data, beta in itertools.product(range(len(DATASETS)), params.momenta):
        rows = [i for i, s in enumerate(grid) if (s.data, s.momentum) == (data, beta)]
        for layer in (1, 2):
            est = mean_estimate(per_setting[rows, :, layer - 1].T)  # (seeds, η)
            curves.append(Curve(panel(beta), _name(grid[rows[0]], layer, symbol), params.lrs,
                                est.value, est.stderr, est.units))
    return curves


def measure_windows(params: EquilibriumParams, optimizer: str, *, seed: int, device: str,
                    progress: Progress, beta2: float = 0.999
                    ) -> tuple[list[Setting], dict[str, np.ndarray]]:
    """Train every setting's networks to equilibrium and check that they got there.

    Returns the grid and ``(M, 2)`` window sums per member (setting-major, seed last) and
    layer: ``dot`` Σ⟨θ_k, θ_{k+1}⟩, ``theta_sq`` Σ‖θ_k‖², ``next_sq`` Σ‖θ_{k+1}‖²,
    ``grad_sq`` Σ‖g_k‖², ``buffer_sq`` Σ‖v_{k+1}‖².

    Raises:
        RuntimeError: a network diverged, or a run broke the window tolerance's
            assumptions (`check_equilibrium`).
    """
    grid = settings(params, optimizer)
    with single_thread():  # small batched matmuls: a second thread only adds contention
        sums = _train(grid, params, optimizer, seed, device, progress, beta2)
    check_equilibrium(sums, params.n_seeds, allowed_drift(params))
    progress(1.0)
    return grid, sums


def _train(grid: Sequence[Setting], params: EquilibriumParams, optimizer: str, seed: int,
           device: str, progress: Progress, beta2: float) -> dict[str, np.ndarray]:
    """The window sums of every member, one `train` run per momentum (settings of one
    momentum relax at similar rates, so few members idle through another's burn-in)."""
    n = params.n_seeds
    groups = [[i for i, s in enumerate(grid) if s.momentum == beta]
              for beta in dict.fromkeys(s.momentum for s in grid)]
    work = [len(g) * max(grid[i].total for i in g) for g in groups]
    parts, done = {}, 0
    for g, cost in zip(groups, work, strict=True):
        def told(f: float, done: int = done, cost: int = cost) -> None:
            progress((done + f * cost) / sum(work))

        sums = _train_group([grid[i] for i in g], [i * n + s for i in g for s in range(n)],
                            params, optimizer, seed, device, told, beta2)
        for j, i in enumerate(g):
            parts[i] = {k: v[j * n:(j + 1) * n] for k, v in sums.items()}
        done += cost
    return {k: np.concatenate([parts[i][k] for i in range(len(grid))]) for k in parts[0]}


def _train_group(grid: Sequence[Setting], ids: Sequence[int], params: EquilibriumParams,
                 optimizer: str, seed: int, device: str, progress: Progress,
                 beta2: float) -> dict[str, np.ndarray]:
    """Members `ids` (member i of setting i // n_seeds ↦ grid[j] in order), trained at once."""
    members = [j for j in range(len(grid)) for _ in range(params.n_seeds)]
    ens = init_ensemble(BatchNormMLP(BatchNormMLPConfig(64, (params.width,), 10)),
                        member_ids=ids, seed=seed, init="torch", dtype=torch.float64,
                        device=device)
    x, y = digits_set(1797, flatten=True, device=device)
    labels = torch.stack([
        y if grid[j].data == 0 else
        y[torch.randperm(len(y), generator=generator(seed, "noise", m)).to(device)]
        for m, j in zip(ids, members, strict=True)])  # (M, P)

    def per_member(field: str) -> torch.Tensor:
        return torch.tensor([float(getattr(grid[j], field)) for j in members],
                            dtype=torch.float64)

    lr, wd, mom = per_member("lr"), per_member("weight_decay"), per_member("momentum")
    opt = (SGD(lr=lr, momentum=mom, weight_decay=wd) if optimizer == "sgd" else
           Adam(lr=lr, betas=(mom, beta2), weight_decay=wd, decoupled=True))
    total, burn = per_member("total").long(), per_member("burn").long()
    steps = int(total.max())
    start = steps - (total - burn)  # every window ends with the run
    fifth = (total - burn) // 5
    geometry = StepGeometry(LAYERS, every=None, windows={
        "window": (start, steps), "first": (start, start + fifth),
        "last": (steps - fifth, steps), "init": (0, 1)})

    def minibatch(step: int, streams: MemberStreams) -> tuple[torch.Tensor, torch.Tensor]:
        idx = streams.randint("batch", len(y), params.batch)  # (M, B), with replacement
        return x[idx], torch.take_along_dim(labels, idx, 1)

    traj = train(ens, optimizer=opt, steps=steps, seed=seed, loss="cross_entropy",
                 batch=minibatch, forward=lambda p, b: batchnorm_mlp_forward(p, b[0]),
                 every=[steps], trackers={"geometry": geometry}, progress=progress)
    if bool((traj.diverged_at >= 0).any()):
        raise RuntimeError(f"a network diverged at step {int(traj.diverged_at.max())}; "
                           f"lower the learning rate")
    windows = traj.tracked["geometry"]["windows"]
    out = {q: windows["window"][q].numpy() for q in
           ("dot", "theta_sq", "next_sq", "grad_sq", "buffer_sq")}
    out.update(first=windows["first"]["theta_sq"].numpy(),
               last=windows["last"]["theta_sq"].numpy(),
               init=windows["init"]["theta_sq"].numpy(),
               count=windows["window"]["count"].numpy())
    return out


def check_equilibrium(sums: dict[str, np.ndarray], n_seeds: int, allowed: float) -> None:
    """Raise if a run broke the assumptions behind the window tolerance.

    The initial ‖θ‖² must lie within a factor MISMATCH of the window's mean, and the
    relative drift of ‖θ‖² across the window, (Q_end − Q_start)/Q̄ estimated from the means
    over its first and last fifth (0.8 of a window apart), must not exceed `allowed` by
    more than 3 standard errors of its mean over a setting's seeds (its seed-to-seed noise
    is in the measurement's standard error).

    Raises:
        RuntimeError: naming the broken assumption and what to change.
    """
    window = sums["count"][:, None]
    mean_q = sums["theta_sq"] / window
    ratio = sums["init"] / mean_q
    if np.any(np.maximum(ratio, 1 / ratio) > MISMATCH):
        raise RuntimeError(f"the initial ‖θ‖² was more than {MISMATCH:g}× off its "
                           f"equilibrium; the tolerance assumes it is not")
    part = np.maximum(window // 5, 1)
    drift = ((sums["last"] - sums["first"]) / part / mean_q / 0.8).reshape(-1, n_seeds, 2)
    est = mean_estimate(drift.swapaxes(0, 1))  # over the seeds of each setting
    if np.any(np.abs(est.value) - 3 * est.stderr > allowed):
        raise RuntimeError(f"‖θ‖² drifted by {np.abs(est.value).max():.3g} of itself "
                           f"over the window, beyond the {allowed:.3g} the tolerance allows: "
                           f"not at equilibrium (raise burn_in, or ηλ)")
