"""NoetherTracker: Noether charges and their predicted trajectories in a PyTorch training loop.

Attach it to an ordinary model + ``torch.optim.SGD`` loop as a context manager; it hooks
the optimiser's step (and removes the hooks on exit), so the loop itself is unchanged:

    symmetries = lmech.tools.detect(model, x, loss="cross_entropy")
    with NoetherTracker(model, optimizer, symmetries) as tracker:
        for x, y in batches:
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
    table = tracker.records()

Every step it keeps only what the exact predictions need: one fused norm of the tracked
tensors' gradients (groups without momentum) or momentum buffers (with momentum), and the
step's η and λ. Every `cadence` steps it also records each charge and the gradient
identity's inner products. Angles and predictions are assembled when `records` is called,
from `lmech.theory.noether`'s exact discrete forms; the step θ_k → θ_{k+1} is −η v_{k+1},
so ‖θ_{k+1} − θ_k‖² = η²‖v_{k+1}‖² gives the angular update without copying θ.

Source: Kunin et al., "Neural Mechanics", ICLR 2021 (arXiv:2012.04728), §5.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from lmech.errors import LmechError
from lmech.measure._noether_records import assemble
from lmech.measure.noether import Symmetry, resolve

__all__ = ["SUPPORTED_OPTIMIZERS", "NoetherTracker"]

SUPPORTED_OPTIMIZERS = (
    "torch.optim.SGD with any lr, weight_decay, momentum and dampening (not nesterov, "
    "not maximize)"
)


class NoetherTracker:
    """Record each symmetry's charge, its prediction and the gradient identity in training.

    Args:
        model: the ``nn.Module`` being trained.
        optimizer: a ``torch.optim.SGD`` over (at least) the symmetries' parameters.
        symmetries: the groups to track, e.g. ``lmech.tools.detect(model, x)``.
        cadence: record every `cadence` optimiser steps (the exact predictions still use
            every step's gradient or momentum norms: one fused norm per step).

    Raises (on entering the context):
        LmechError: an optimiser other than SGD (or Nesterov / maximize), a parameter name
            not in the model or not optimised, a group split across parameter groups, or a
            cadence < 1.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer,
                 symmetries: Iterable[Symmetry], *, cadence: int = 1) -> None:
        self.model = model
        self.optimizer = optimizer
        self.symmetries = symmetries
        self.cadence = cadence

    # --- attach / detach --------------------------------------------------------------
    def __enter__(self) -> NoetherTracker:
        _check_optimizer(self.optimizer)
        if not isinstance(self.cadence, int) or self.cadence < 1:
            raise LmechError(f"cadence must be an integer >= 1, got {self.cadence!r}")
        self.symmetries_ = tuple(self.symmetries)
        if not self.symmetries_:
            raise LmechError("NoetherTracker needs at least one symmetry to track")
        self._index_tensors()
        self.step_ = 0
        self.log_: dict[str, Any] = {
            "hyper": [], "grad_norm": [], "buf_norm": [], "geometry": {},
            "theta_norm": {0: self._theta_norms()}, "theta_sum": {0: self._theta_sums()},
            "initial": self._initial_buffers(),
        }
        self._angle_next = False
        self._handles = [self.optimizer.register_step_pre_hook(self._pre_step),
                         self.optimizer.register_step_post_hook(self._post_step)]
        return self

    def __exit__(self, *exc: Any) -> None:
        for h in getattr(self, "_handles", []):
            h.remove()
        self._handles = []

    def _index_tensors(self) -> None:
        owner = {id(p): gi for gi, g in enumerate(self.optimizer.param_groups)
                 for p in g["params"]}
        names = {id(p): n for n, p in self.model.named_parameters()}
        tensors: dict[int, torch.Tensor] = {}
        group_of = []
        for sym in self.symmetries_:
            params = resolve(self.model, sym.params)
            groups = set()
            for p in params:
                if id(p) not in owner:
                    raise LmechError(f"parameter {names[id(p)]!r} is not optimised by the "
                                     f"optimiser; NoetherTracker needs all of {sym.label}")
                groups.add(owner[id(p)])
                tensors.setdefault(id(p), p)
            if len(groups) > 1:
                raise LmechError(f"{sym.label} is split across optimiser parameter groups "
                                 f"{sorted(groups)}; its parameters must share one group")
            group_of.append(groups.pop())
        self._tensors = list(tensors.values())
        pos = {id(p): i for i, p in enumerate(self._tensors)}
        signed = np.zeros((len(self.symmetries_), len(self._tensors)))
        for s, sym in enumerate(self.symmetries_):
            for sign, p in zip(sym.signs, resolve(self.model, sym.params), strict=True):
                signed[s, pos[id(p)]] += sign
        self._groups = sorted(set(group_of))
        self._moment = {gi: (self.optimizer.param_groups[gi]["momentum"],
                             self.optimizer.param_groups[gi]["dampening"])
                        for gi in self._groups}
        beta = np.array([float(self._moment[gi][0]) for gi in group_of])
        quad = np.array([s.kind != "translation" for s in self.symmetries_])[:, None]
        self.layout_ = {
            "signed": signed, "group_of": group_of, "groups": self._groups,
            "moment": {gi: (float(b), float(d)) for gi, (b, d) in self._moment.items()},
            "numel": np.array([p.numel() for p in self._tensors]),
            "grad_idx": np.flatnonzero(((signed != 0) & quad)[beta == 0].any(0)).tolist(),
            "buf_idx": np.flatnonzero(((signed != 0) & quad)[beta > 0].any(0)).tolist(),
            "sum_idx": np.flatnonzero((signed[~quad[:, 0]] != 0).any(0)).tolist(),
        }
        self._segments = torch.cat([torch.full((p.numel(),), i, dtype=torch.int64)
                                    for i, p in enumerate(self._tensors)])

    # --- per-step work ----------------------------------------------------------------
    def _pre_step(self, optimizer, args, kwargs) -> None:
        groups = optimizer.param_groups
        hyper = []
        for gi in self._groups:
            g = groups[gi]
            if g["momentum"] != self._moment[gi][0] or g["dampening"] != self._moment[gi][1]:
                raise LmechError("momentum or dampening changed during training; "
                                 "NoetherTracker's predictions assume they are constant")
            hyper += [float(g["lr"]), float(g["weight_decay"])]
        self.log_["hyper"].append(hyper)
        grads = [p.grad for p in self._tensors]
        if any(g is None for g in grads):
            raise LmechError("a tracked parameter has no gradient at this step (SGD skips it, "
                             "breaking the prediction); every tracked parameter must be used")
        idx = self.layout_["grad_idx"]
        if idx:
            self.log_["grad_norm"].append(torch._foreach_norm([grads[i] for i in idx]))
        if self.step_ % self.cadence == 0:
            with torch.no_grad():
                prods = torch.cat([x.reshape(-1) for x in
                                   torch._foreach_mul(grads, [p.detach() for p in
                                                              self._tensors])])
                dots = torch.zeros(len(grads), dtype=prods.dtype).index_add_(
                    0, self._segments, prods)
                self.log_["geometry"][self.step_] = (
                    dots, torch._foreach_norm(grads),
                    [grads[i].sum() for i in self.layout_["sum_idx"]])
            self._angle_next = True

    def _post_step(self, optimizer, args, kwargs) -> None:
        idx = self.layout_["buf_idx"]
        if idx:
            state = optimizer.state
            self.log_["buf_norm"].append(torch._foreach_norm(
                [state[self._tensors[i]]["momentum_buffer"] for i in idx]))
        self.step_ += 1
        record = self.step_ % self.cadence == 0
        if record or self._angle_next:
            self.log_["theta_norm"][self.step_] = self._theta_norms()
            self._angle_next = False
        if record:
            self.log_["theta_sum"][self.step_] = self._theta_sums()

    def _theta_norms(self) -> list[torch.Tensor]:
        with torch.no_grad():
            return torch._foreach_norm([p.detach() for p in self._tensors])

    def _theta_sums(self) -> list[torch.Tensor]:
        with torch.no_grad():
            return [self._tensors[i].detach().sum() for i in self.layout_["sum_idx"]]

    def _initial_buffers(self) -> dict[str, np.ndarray]:
        """⟨θ_0, v_0⟩, ⟨v_0, 1⟩ per tensor and whether each buffer is fresh."""
        dots, sums, fresh = [], [], []
        with torch.no_grad():
            for p in self._tensors:
                buf = self.optimizer.state.get(p, {}).get("momentum_buffer")
                fresh.append(buf is None)
                dots.append(0.0 if buf is None else float((buf.double() * p.double()).sum()))
                sums.append(0.0 if buf is None else float(buf.double().sum()))
        return {"dot": np.array(dots), "sum": np.array(sums), "fresh": np.array(fresh)}

    # --- the table --------------------------------------------------------------------
    def records(self) -> pd.DataFrame:
        """One row per symmetry per recorded step k (0, cadence, 2·cadence, … ≤ steps done).

        Columns: ``symmetry`` (label), ``kind``, ``step`` k, ``time`` t = Σ η (1 − d),
        ``charge`` (measured), ``prediction`` (exact discrete form driven by the measured
        gradient or momentum norms), ``source_free`` (the same without the η² source: the
        gradient-flow answer, decayed only by weight decay), ``gradient_residual`` (relative
        violation of the gradient identity at θ_k), ``angular_update`` (angle θ_k → θ_{k+1},
        scale groups) and ``equilibrium_angular_update`` (its predicted equilibrium at step
        k's η, λ, β, d; scale groups).
        """
        if not hasattr(self, "step_"):
            raise LmechError("the tracker has recorded nothing: use it as a context manager "
                             "around the training loop (`with NoetherTracker(...) as t:`)")
        return assemble(self.symmetries_, self.layout_, self.log_, self.step_, self.cadence)


def _check_optimizer(opt: torch.optim.Optimizer) -> None:
    if not isinstance(opt, torch.optim.SGD):
        raise LmechError(f"NoetherTracker's predictions cover {SUPPORTED_OPTIMIZERS}; "
                         f"got {type(opt).__name__}")
    for g in opt.param_groups:
        if g.get("nesterov") or g.get("maximize"):
            raise LmechError(f"NoetherTracker's predictions cover {SUPPORTED_OPTIMIZERS}; "
                             f"got SGD with nesterov={g.get('nesterov')}, "
                             f"maximize={g.get('maximize')}")
