"""scaling.quanta — subtasks are learned at steps ∝ 1/frequency, so the error falls as S^(−α/(α+1)).

Experiment. Multitask sparse parity (`lmech.tasks.multitask_sparse_parity`): `n_tasks`
subtasks, each a k-bit parity of `n_bits` random bits selected by a one-hot control, drawn
with Zipf frequencies p_i ∝ i^(−s) (s = `zipf_exponent`, the paper's α + 1). An ensemble
of `members` one-hidden-layer ReLU MLPs with a two-logit readout (He initialisation)
trains with Adam on fresh batches of `batch_size` samples every step (online: steps ∝
samples seen). At ~120 log-spaced steps the test accuracy of every subtask is measured on a
fixed test set of `test_per_task` samples per subtask. Per member:

- subtask i's learning step t_i is where its accuracy first crosses `threshold`
  (interpolated in log step), and n(S) is the number of subtasks learned by step S;
- time exponent: the least-squares slope of log t_i against log(1/p_i), i = 1..n_hi;
- error exponent: minus the least-squares slope of log E(S) against log S over the
  recorded steps from the first with n(S) ≥ n_lo to the first with n(S) ≥ n_hi, where
  E(S) = Σ_i p_i (1 − acc_i(S)) is the error on the Zipf test distribution.

Each exponent's mean over members with its standard error is one point per Zipf exponent.

Prediction (the quantization model). A quantum is learned once it has been seen about τ
times, so t_i = τ/(B p_i): time exponent 1. The error is carried by the unlearned quanta,
E(S) = b Σ_{i: t_i > S} p_i (b = 1/2 for the error of an unlearned parity), so
n(S) ∝ S^(1/s) and E ∝ S^(−(s−1)/s) = S^(−α/(α+1)): the data exponent. The finite window
and the truncation at `n_tasks` bend a log-log fit away from that asymptote (docs/theory/scaling.md,
§Finite windows), so the prediction is the same least-squares
slope computed on the model's exact staircase E(S) over the same window n_lo..n_hi; τ and b
cancel.

Foil: the exponent of the other axis — the answer if steps acted like parameters, one
quantum learned per fixed number of steps (n ∝ S, t_i ∝ i): time exponent 1/s and error
exponent α_N, computed on the same staircase with t_i = i.

Tolerance. The model idealises each quantum's learning as a step; measured per-subtask
accuracy rises over a stretch of steps comparable to t_i itself (quick, seed 0: the step
at which a subtask passes 90 % is a median 2.5 times the step at which it passes 60 %,
interquartile range 2.1–3.1 over members and the 10 most frequent subtasks, where a step
would give at most the record grid's ratio q = 1.06). The smooth extreme, each
quantum relaxing exponentially at rate ∝ p_i (E = b Σ p_i e^(−S p_i/τ), "learned" at the
same threshold), has the same asymptotic exponent but bends the finite-window fit; the
declared tolerance on the error exponent is the gap between the staircase and that
exponential model over the window. For the time exponent the learning shape moves every
t_i by the same factor and cancels; what is neglected is the measurement's resolution:
each t_i is interpolated between the two recorded steps that bracket it, so log t_i is
known to within one recording interval ln q (q the ratio of successive recorded steps),
and the slope to within Σ_i |c_i| ln q, with c_i the least-squares weights on log t_i.

Source: Michaud, Liu, Girit & Tegmark, "The quantization model of neural scaling",
NeurIPS 2023 (arXiv:2303.13506), §3 eqs. 1–4 (exponents) and §4 (multitask sparse parity);
docs/theory/scaling.md.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, model_validator

from lmech.ensemble import Adam, init_ensemble, member_seed
from lmech.errors import LmechError
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
from lmech.models import MLPConfig
from lmech.tasks import multitask_sparse_parity
from lmech.theory import quanta_frequencies

TIME = "time exponent"
ERROR = "error exponent"
_RECORDS = 120
_GRID = 400  # points of the theory's window grid (log-spaced)


class QuantaParams(LawParams):
    zipf_exponents: tuple[float, ...] = Field(
        (1.5,), min_length=1, description="s values: subtask i drawn with p_i ∝ i^(−s)")
    n_tasks: int = Field(40, ge=4, le=1000, description="number of subtasks (quanta)")
    n_bits: int = Field(16, ge=4, le=256, description="random data bits per input")
    k: int = Field(3, ge=1, le=8, description="bits per parity")
    width: int = Field(128, ge=4, le=4096, description="hidden width of the MLP")
    members: int = Field(8, ge=2, le=1024, description="networks in the ensemble")
    batch_size: int = Field(256, ge=8, le=65_536, description="fresh samples per step")
    lr: float = Field(0.01, gt=0, le=1, description="Adam learning rate")
    steps: int = Field(8000, ge=100, le=1_000_000, description="training steps")
    window: tuple[int, int] = Field(
        (2, 10), description="(n_lo, n_hi): the learned-count window of the fits")
    threshold: float = Field(0.9, gt=0.5, lt=1, description="accuracy at which a subtask "
                             "counts as learned")
    test_per_task: int = Field(256, ge=16, le=100_000, description="test samples per subtask")

    @model_validator(mode="after")
    def _consistent(self) -> QuantaParams:
        lo, hi = self.window
        if not 1 <= lo < hi < self.n_tasks:
            raise ValueError(f"window must satisfy 1 <= n_lo < n_hi < n_tasks = "
                             f"{self.n_tasks}, got {self.window}")
        if hi < 3:
            raise ValueError("window's n_hi must be >= 3 (a slope needs three subtasks)")
        if min(self.zipf_exponents) <= 1:
            raise ValueError(f"zipf_exponents must be > 1 (α = s − 1 > 0), got "
                             f"{self.zipf_exponents}")
        if self.k > self.n_bits or self.n_tasks > math.comb(self.n_bits, self.k):
            raise ValueError(f"need k <= n_bits and n_tasks <= C(n_bits, k) = "
                             f"{math.comb(self.n_bits, min(self.k, self.n_bits))}")
        return self


class Quanta(AbstractLaw):
    claim = ("On multitask sparse parity, subtask i is learned at a step ∝ 1/p_i, so the error "
             "falls as steps^(−α/(α+1)) (the quantization model's data exponent), not "
             "steps^(−α) (its parameter exponent).")
    source = ("Michaud, Liu, Girit & Tegmark, NeurIPS 2023 (arXiv:2303.13506), §3 eqs. 1–4, "
              "§4")
    pillar = Pillar.SIMPLE_LAWS
    tolerance_basis = ToleranceBasis.computed(
        "the record grid's resolution on the time exponent; the gap between a staircase and "
        "exponential relaxation on the error exponent")
    Params = QuantaParams
    budgets = {
        "smoke": dict(n_tasks=16, n_bits=12, width=64, members=16, steps=1500, lr=0.02,
                      window=(1, 4), test_per_task=128),
        "quick": {},
        "full": dict(zipf_exponents=(1.4, 1.5, 1.7), n_tasks=60, members=32, steps=20_000,
                     window=(2, 14), test_per_task=1024),
    }
    panels = (
        Panel(TIME, "Zipf exponent s", "slope of log t_i vs log 1/p_i"),
        Panel(ERROR, "Zipf exponent s", "error-vs-steps exponent"),
    )

    def predict(self, params: QuantaParams) -> Series:
        return _series(params, [1.0] * len(params.zipf_exponents),
                       [_staircase_exponent(params, s, s) for s in params.zipf_exponents])

    def foil(self, params: QuantaParams) -> Series:
        return _series(params, [1 / s for s in params.zipf_exponents],
                       [_staircase_exponent(params, s, 1.0) for s in params.zipf_exponents])

    def tolerance(self, params: QuantaParams, prediction: Series) -> np.ndarray:
        n_hi = params.window[1]
        resolution = math.log(params.steps / 10) / (_RECORDS - 1)  # ln q of the record grid
        times = [np.abs(_slope_weights(np.log(1 / quanta_frequencies(params.n_tasks, s)
                                              [:n_hi]))).sum() * resolution
                 for s in params.zipf_exponents]
        staircase = prediction.y[prediction.panel == ERROR]
        gaps = [abs(st - _exponential_exponent(params, s))
                for st, s in zip(staircase, params.zipf_exponents, strict=True)]
        return np.concatenate([times, gaps])

    def measure(self, params: QuantaParams, seed: int, *, device: str = "cpu",
                progress: Progress = lambda f: None) -> Series:
        times, errors = [], []
        for j, s in enumerate(params.zipf_exponents):
            def part(f, j=j):
                progress((j + f) / len(params.zipf_exponents))
            with single_thread():  # tiny matmuls: a second thread only adds contention
                acc, steps, p = _train(params, s, seed, j, device, part)
            t = _learning_steps(acc, steps, params.threshold)  # (M, T)
            times.append(_time_exponents(t, p, params.window[1], steps[-1]))
            errors.append(_error_exponents(acc, steps, p, params))
        return _series(params, [x.mean() for x in times], [x.mean() for x in errors],
                       [_se(x) for x in times], [_se(x) for x in errors],
                       ([x.size for x in times], [x.size for x in errors]))


def _series(params, time_y, error_y, time_se=None, error_se=None, units=(None, None)
            ) -> Series:
    x = params.zipf_exponents
    return Series.from_curves([Curve(TIME, "subtasks", x, time_y, time_se, units[0]),
                               Curve(ERROR, "test error", x, error_y, error_se, units[1])])


def _se(x: np.ndarray) -> float:
    return float(x.std(ddof=1) / math.sqrt(x.size))


def _slope_weights(x: np.ndarray) -> np.ndarray:
    """c with Σ c_i y_i the least-squares slope of y against x."""
    d = x - x.mean()
    return d / (d @ d)


def _staircase_exponent(params: QuantaParams, s: float, time_power: float) -> float:
    """−slope of log E(S) vs log S for E(S) = Σ_{t_i > S} p_i, t_i = i^time_power.

    t_i ∝ 1/p_i is ``time_power = s`` (the prediction); t_i ∝ i is 1 (the foil). The window
    runs from t_{n_lo} to t_{n_hi}: n_lo to n_hi quanta learned, whatever τ is.
    """
    p = quanta_frequencies(params.n_tasks, s)
    lo, hi = params.window
    t = np.arange(1, params.n_tasks + 1, dtype=np.float64) ** time_power
    grid = np.geomspace(t[lo - 1], t[hi - 1], _GRID)
    unlearned = grid[:, None] < t[None, :]  # (grid, T)
    return -float(np.polyfit(np.log(grid), np.log(unlearned @ p), 1)[0])


def _exponential_exponent(params: QuantaParams, s: float) -> float:
    """The same fit for E(S) = Σ p_i e^(−S p_i), each quantum relaxing at rate ∝ p_i.

    Subtask i counts as learned when its unlearned fraction e^(−S p_i) falls to
    2(1 − threshold) (accuracy 1/2 + 1/2 · learned fraction), so the window is
    S ∈ [c/p_{n_lo}, c/p_{n_hi}] with c = −ln(2(1 − threshold)).
    """
    p = quanta_frequencies(params.n_tasks, s)
    lo, hi = params.window
    c = -math.log(2 * (1 - params.threshold))
    grid = np.geomspace(c / p[lo - 1], c / p[hi - 1], _GRID)
    e = np.exp(-grid[:, None] * p[None, :]) @ p
    return -float(np.polyfit(np.log(grid), np.log(e), 1)[0])


def _record_steps(steps: int) -> np.ndarray:
    return np.unique(np.concatenate([[0], np.geomspace(10, steps, _RECORDS).astype(int)]))


def _train(params: QuantaParams, s: float, seed: int, j: int, device: str, progress):
    """Train the ensemble; per-subtask test accuracy ``(M, T, R)`` at the recorded steps."""
    t_count, m = params.n_tasks, params.members
    tasks = multitask_sparse_parity(
        t_count, params.n_bits, params.k, s,
        generator=torch.Generator().manual_seed(member_seed(seed, 10_000 + j, "data")))
    cfg = MLPConfig(n_in=t_count + params.n_bits, width=params.width, depth=1, n_out=2,
                    activation="relu")
    ens = init_ensemble(cfg, members=m, seed=member_seed(seed, j, "init"), C_W=[2.0, 1.0],
                        device=device)
    test_gen = torch.Generator().manual_seed(member_seed(seed, 20_000 + j, "data"))
    which = torch.arange(t_count).repeat_interleave(params.test_per_task)
    x_test, y_test, _ = tasks.sample(which.numel(), generator=test_gen, tasks=which,
                                     device=device)
    # one data stream per member: member i's batches depend only on (seed, i)
    gens = [torch.Generator().manual_seed(member_seed(seed, i, "data")) for i in range(m)]
    opt = Adam(lr=params.lr)
    theta = {k: v.detach().clone() for k, v in ens.params.items()}
    state = opt.init(theta)
    record = set(_record_steps(params.steps).tolist())
    accs = []
    for step in range(params.steps + 1):
        if step in record:
            with torch.no_grad():
                hit = ens.forward(x_test, theta).argmax(-1) == y_test  # (M, T·n)
                accs.append(hit.view(m, t_count, -1).double().mean(-1).cpu())
        if step == params.steps:
            progress(1.0)
            break
        if step % 200 == 0:
            progress(step / params.steps)
        batch = [tasks.sample(params.batch_size, generator=g, device=device) for g in gens]
        x = torch.stack([b[0] for b in batch])  # (M, B, T + n_bits)
        y = torch.stack([b[1] for b in batch])  # (M, B)
        theta = {k: v.requires_grad_() for k, v in theta.items()}
        logits = ens.forward(x, theta)  # (M, B, 2)
        loss = F.cross_entropy(logits.reshape(-1, 2), y.reshape(-1), reduction="sum")
        grads = torch.autograd.grad(loss / params.batch_size, list(theta.values()))
        with torch.no_grad():
            theta, state = opt.update(dict(zip(theta, grads, strict=True)), state,
                                      {k: v.detach() for k, v in theta.items()})
    p = tasks.frequencies.numpy()
    return torch.stack(accs, dim=-1).numpy(), np.array(sorted(record), dtype=np.float64), p


def _learning_steps(acc: np.ndarray, steps: np.ndarray, threshold: float) -> np.ndarray:
    """``(M, T)`` first step where accuracy reaches `threshold`, log-interpolated; nan if never.

    Example:
        >>> a = np.array([[[0.5, 0.5, 0.8, 1.0]]])
        >>> float(_learning_steps(a, np.array([1.0, 10, 100, 1000]), 0.9)[0, 0])
        316.22776601683796
    """
    above = acc >= threshold
    first = above.argmax(-1)  # (M, T)
    out = np.full(first.shape, np.nan)
    for (mi, ti), r in np.ndenumerate(first):
        if not above[mi, ti, r]:
            continue
        if r == 0:
            out[mi, ti] = steps[0]
            continue
        a0, a1 = acc[mi, ti, r - 1], acc[mi, ti, r]
        lo, hi = np.log(max(steps[r - 1], 1.0)), np.log(steps[r])
        out[mi, ti] = np.exp(lo + (threshold - a0) / (a1 - a0) * (hi - lo))
    return out


def _time_exponents(t: np.ndarray, p: np.ndarray, n_hi: int, last: float) -> np.ndarray:
    """``(M,)`` slope of log t_i against log 1/p_i over the n_hi most frequent subtasks."""
    first = t[:, :n_hi]
    if np.isnan(first).any():
        members = sorted({int(i) for i in np.argwhere(np.isnan(first))[:, 0]})
        raise LmechError(f"scaling.quanta: members {members} had not learned all of the "
                         f"{n_hi} most frequent subtasks by step {int(last)}; raise steps "
                         f"or lower window's n_hi")
    x = np.log(1 / p[:n_hi])
    return np.array([np.polyfit(x, np.log(row), 1)[0] for row in first])


def _error_exponents(acc: np.ndarray, steps: np.ndarray, p: np.ndarray,
                     params: QuantaParams) -> np.ndarray:
    """``(M,)`` −slope of log E(S) vs log S between n(S) = n_lo and n(S) = n_hi."""
    lo, hi = params.window
    error = np.einsum("mtr,t->mr", 1 - acc, p)  # (M, R)
    learned = (acc >= params.threshold).sum(1)  # (M, R)
    out = []
    for m in range(acc.shape[0]):
        a, b = int(np.argmax(learned[m] >= lo)), int(np.argmax(learned[m] >= hi))
        if b - a < 2 or np.any(error[m, a:b + 1] <= 0):
            raise LmechError(f"scaling.quanta: member {m}'s window n = {lo}..{hi} spans "
                             f"fewer than three recorded steps; raise steps or widen window")
        out.append(-np.polyfit(np.log(steps[a:b + 1]), np.log(error[m, a:b + 1]), 1)[0])
    return np.array(out)
