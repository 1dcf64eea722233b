"""Turn a NoetherTracker's raw per-step numbers into its table of charges and predictions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from lmech.measure.noether import Symmetry
from lmech.theory.noether import (
    equilibrium_angular_update,
    quadratic_charge_momentum,
    quadratic_charge_sgd,
    translation_charge_sgd,
)

__all__ = ["assemble"]


def _squares(norms: list[list[torch.Tensor]], index: list[int], n: int, k: int) -> np.ndarray:
    """Per-step norms kept as lists of 0-d tensors → squared, ``(k, n)`` (zeros elsewhere)."""
    out = np.zeros((k, n))
    if norms and index:
        out[: len(norms), index] = torch.stack(
            [torch.stack(row) for row in norms]).double().numpy() ** 2
    return out


def _spread(values: list[torch.Tensor], index: list[int], n: int) -> np.ndarray:
    out = np.zeros(n)
    if index:
        out[index] = torch.stack(values).double().numpy()
    return out


def assemble(symmetries: Sequence[Symmetry], layout: dict, log: dict, steps_done: int,
             cadence: int) -> pd.DataFrame:
    """The table of `NoetherTracker.records` (its docstring lists the columns)."""
    n = len(layout["numel"])
    data = {
        "hyper": np.array(log["hyper"], dtype=np.float64).reshape(
            steps_done, 2 * len(layout["groups"])),
        "grad_sq": _squares(log["grad_norm"], layout["grad_idx"], n, steps_done),
        "buf_sq": _squares(log["buf_norm"], layout["buf_idx"], n, steps_done),
        "theta_sq": {k: torch.stack(v).double().numpy() ** 2
                     for k, v in log["theta_norm"].items()},
        "theta_sum": {k: _spread(v, layout["sum_idx"], n) for k, v in log["theta_sum"].items()},
        "geometry": {k: (d.double().numpy(), torch.stack(g).double().numpy() ** 2,
                         _spread(s, layout["sum_idx"], n))
                     for k, (d, g, s) in log["geometry"].items()},
    }
    steps = np.array(sorted(data["theta_sum"]))
    frames = [_frame(s, sym, steps, layout, log["initial"], data, steps_done)
              for s, sym in enumerate(symmetries)]
    return pd.concat(frames, ignore_index=True)


def _frame(s: int, sym: Symmetry, steps: np.ndarray, layout: dict, initial: dict,
           data: dict[str, Any], steps_done: int) -> pd.DataFrame:
    group = layout["group_of"][s]
    gi = layout["groups"].index(group)
    lr, wd = data["hyper"][:, 2 * gi], data["hyper"][:, 2 * gi + 1]
    beta, damp = layout["moment"][group]
    damp = damp if beta > 0 else 0.0
    w = layout["signed"][s]
    if sym.kind == "translation":
        charge = np.array([data["theta_sum"][k] @ w for k in steps])
    else:
        charge = np.array([data["theta_sq"][k] @ w for k in steps])
    pred, free = _predicted(sym, w, charge[0], lr, wd, beta, damp, initial, data)
    time = np.concatenate([[0.0], np.cumsum(lr * (1 - damp))])
    frame = pd.DataFrame({
        "symmetry": sym.label, "kind": sym.kind, "step": steps, "time": time[steps],
        "charge": charge, "prediction": pred[steps], "source_free": free[steps],
        "gradient_residual": [_residual(sym, w, layout, data, k) for k in steps],
        "angular_update": [_angle(sym, w, data, k, lr, wd, beta) for k in steps],
    })
    eq = np.full(steps.size, np.nan)
    if sym.kind == "scale" and steps_done:
        k = np.minimum(steps, steps_done - 1)
        eq = equilibrium_angular_update(lr[k], wd[k], beta, damp)
    frame["equilibrium_angular_update"] = eq
    return frame


def _predicted(sym, w, q0, lr, wd, beta, damp, initial, data):
    fresh = bool(np.any(initial["fresh"][w != 0]))
    if sym.kind == "translation":
        x = translation_charge_sgd(q0, lr, wd, beta, damp, steps=lr.size,
                                   s0=float(initial["sum"] @ w), fresh_buffer=fresh)
        return x, x
    if beta == 0:
        source = data["grad_sq"] @ w
        return (quadratic_charge_sgd(q0, source, lr, wd),
                quadratic_charge_sgd(q0, np.zeros_like(source), lr, wd))
    kinetic = data["buf_sq"] @ w
    kw = dict(p0=float(initial["dot"] @ w), fresh_buffer=fresh)
    return (quadratic_charge_momentum(q0, kinetic, lr, wd, beta, damp, **kw),
            quadratic_charge_momentum(q0, np.zeros_like(kinetic), lr, wd, beta, damp, **kw))


def _residual(sym: Symmetry, w: np.ndarray, layout: dict, data: dict, k: int) -> float:
    if k not in data["geometry"]:
        return float("nan")
    dots, gsq, gsum = data["geometry"][k]
    tsq = data["theta_sq"][k]
    mask = w != 0
    if sym.kind == "translation":
        den = np.sqrt(gsq[mask].sum() * layout["numel"][mask].sum())
        return float(gsum[mask].sum() / den) if den > 0 else 0.0
    sides = [w > 0, w < 0]
    num = dots[sides[0]].sum() - dots[sides[1]].sum()
    den = sum(np.sqrt(gsq[m].sum() * tsq[m].sum()) for m in sides)
    return float(num / den) if den > 0 else 0.0


def _angle(sym: Symmetry, w, data: dict, k: int, lr, wd, beta: float) -> float:
    """arccos ⟨θ_k, θ_{k+1}⟩/(‖θ_k‖‖θ_{k+1}‖), with ⟨θ_k, θ_{k+1}⟩ = (Q_k + Q_{k+1} − ‖Δθ‖²)/2."""
    if sym.kind != "scale" or k not in data["geometry"] or k + 1 not in data["theta_sq"]:
        return float("nan")
    mask = w != 0
    q0, q1 = data["theta_sq"][k][mask].sum(), data["theta_sq"][k + 1][mask].sum()
    if beta > 0:
        step_sq = lr[k] ** 2 * data["buf_sq"][k][mask].sum()
    else:  # θ_{k+1} − θ_k = −η (g + λθ)
        dots, gsq, _ = data["geometry"][k]
        step_sq = lr[k] ** 2 * (gsq[mask].sum() + 2 * wd[k] * dots[mask].sum()
                                + wd[k] ** 2 * q0)
    cos = (q0 + q1 - step_sq) / (2 * np.sqrt(q0 * q1))
    return float(np.arccos(np.clip(cos, -1.0, 1.0)))
