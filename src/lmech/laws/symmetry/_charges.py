"""The Noether-charge identity laws' shared experiment (private).

Three optimiser regimes (`Regime`): full-batch gradient descent or minibatch SGD, with or
without weight decay, and heavy ball at learning rate η(1 − β) (so that its effective step
η/(1 − β)·(1 − β) matches the others). The seeds of one regime are stacked members of one
`lmech.ensemble.train` run; `lmech.measure.StepGeometry` records every update's float64
geometry of hand-written parameter groups; `quadratic_charge` turns it into the measured
charge, its exact prediction driven by the measured sources (docs/theory/symmetry.md,
§Exact discrete updates) and the source-free (gradient-flow) answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch

from lmech.ensemble import SGD, Ensemble, train
from lmech.laws import Progress
from lmech.measure import StepGeometry
from lmech.tasks import digits
from lmech.theory.noether import quadratic_charge_momentum, quadratic_charge_sgd

__all__ = ["REGIMES", "Regime", "digits_set", "quadratic_charge", "source_fraction",
           "train_geometry"]


@dataclass(frozen=True)
class Regime:
    """One optimiser regime of the identity laws."""

    name: str
    minibatch: bool
    decay: bool
    momentum: bool

    def hyper(self, lr: float, weight_decay: float, momentum: float) -> tuple[float, ...]:
        """(η, λ, β) of the regime: heavy ball runs at η(1 − β)."""
        beta = momentum if self.momentum else 0.0
        return lr * (1 - beta), weight_decay if self.decay else 0.0, beta

    def optimizer(self, lr: float, weight_decay: float, momentum: float) -> SGD:
        eta, lam, beta = self.hyper(lr, weight_decay, momentum)
        return SGD(lr=eta, weight_decay=lam, momentum=beta)



REGIMES = (Regime("GD", minibatch=False, decay=False, momentum=False),
           Regime("SGD + weight decay", minibatch=True, decay=True, momentum=False),
           Regime("SGD + momentum + weight decay", minibatch=True, decay=True, momentum=True))
"""The regimes of the rescale and scale-norm identities: full batch without decay, then
minibatches with weight decay, without and with heavy-ball momentum."""


@cache
def _digits(flatten: bool) -> tuple[torch.Tensor, torch.Tensor]:
    d = digits(flatten=flatten, dtype=torch.float64)  # parsed once per process
    return d.x, d.y


def digits_set(n_train: int, *, flatten: bool, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `n_train` digits (float64 inputs, class ids) on `device`."""
    x, y = _digits(flatten)
    return x[:n_train].to(device), y[:n_train].to(device)


def train_geometry(ensemble: Ensemble, regime: Regime, data: tuple[torch.Tensor, torch.Tensor],
                   groups: Mapping[str, Sequence[str]], *, lr: float, weight_decay: float,
                   momentum: float, steps: int, batch: int, seed: int,
                   progress: Progress) -> dict:
    """Train `ensemble` in place under `regime` (cross-entropy; minibatches of `batch` or the
    whole set) and return the `StepGeometry` records of `groups`, every update.

    Raises:
        RuntimeError: a member diverged (its charge would stop at the frozen step).
    """
    geometry = StepGeometry(groups, every=1)
    traj = train(ensemble, *data, optimizer=regime.optimizer(lr, weight_decay, momentum),
                 steps=steps, seed=seed, loss="cross_entropy",
                 batch_size=batch if regime.minibatch else None, every=[steps],
                 trackers={"geometry": geometry}, progress=progress)
    if bool((traj.diverged_at >= 0).any()):
        raise RuntimeError(f"{regime.name}: a network diverged at step "
                           f"{int(traj.diverged_at.max())}; lower the learning rate")
    return traj.tracked["geometry"]


def quadratic_charge(records: dict, signs: Mapping[str, float], hyper: tuple[float, ...]
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Measured, predicted and source-free charge Q = Σ_g sign_g ‖θ_g‖², ``(M, K + 1)`` each.

    The prediction is the exact recursion (`quadratic_charge_sgd`, or with momentum
    `quadratic_charge_momentum` from PyTorch's fresh buffer) started at the measured Q_0 and
    driven by the measured source: Σ sign ‖g_k‖² without momentum, Σ sign ‖v_{k+1}‖² with.
    """
    eta, lam, beta = hyper
    idx = {g: records["groups"].index(g) for g in signs}

    def signed(name: str) -> np.ndarray:
        return sum(s * records[name][:, :, idx[g]] for g, s in signs.items()).numpy()

    charge = np.concatenate([signed("theta_sq"), signed("next_sq")[:, -1:]], axis=1)
    source = signed("buffer_sq" if beta > 0 else "grad_sq")  # (M, K)
    pred, free = np.empty_like(charge), np.empty_like(charge)
    for m in range(charge.shape[0]):
        for out, drive in ((pred, source[m]), (free, np.zeros_like(source[m]))):
            out[m] = (quadratic_charge_momentum(charge[m, 0], drive, eta, lam, beta)
                      if beta > 0 else quadratic_charge_sgd(charge[m, 0], drive, eta, lam))
    return charge, pred, free


def source_fraction(charge: np.ndarray, prediction: np.ndarray, free: np.ndarray
                    ) -> np.ndarray:
    """(Q − Q_free)/(Q̂ − Q_free): the share of the predicted η² source that the measured
    charge shows (1 for the theory, 0 for the gradient-flow answer).

    Raises:
        RuntimeError: the predicted source is too small to measure (≤ 1e-6 of the charge).
    """
    source = prediction - free
    if np.any(np.abs(source) <= 1e-6 * np.abs(charge)):
        raise RuntimeError("the η² source is below 1e-6 of the charge: nothing to measure; "
                           "train longer or with a larger learning rate")
    return (charge - free) / source
