"""What both deep-linear laws share: per-member teachers, and training that records every
mode's strength after every step (docs/theory/deep_linear.md, §Setting and conventions)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from lmech.ensemble import SGD, Ensemble, generator, train
from lmech.laws import Progress
from lmech.measure import end_to_end_map, mode_strengths
from lmech.tasks import LinearTeacher, linear_teacher


def check_shapes(spectrum: Sequence[float], n_in: int, n_out: int, width: int,
                 n_samples: int) -> None:
    """ValueError (for a pydantic validator) unless the spectrum is positive, its modes fit
    every layer, and there are at least n_in samples."""
    if min(spectrum) <= 0:
        raise ValueError(f"spectrum values must be > 0, got {tuple(spectrum)}")
    if len(spectrum) > min(n_in, n_out, width):
        raise ValueError(f"spectrum has {len(spectrum)} values; at most min(n_in, n_out, "
                         f"width) = {min(n_in, n_out, width)} modes fit")
    if n_samples < n_in:
        raise ValueError(f"n_samples must be >= n_in = {n_in}")


def member_teachers(seed: int, ids: Sequence[int], n_in: int, n_out: int,
                    spectrum: Sequence[float], device: str) -> LinearTeacher:
    """One Haar-random teacher per member id i, drawn from the stream (seed, "teacher", i)."""
    parts = [linear_teacher(n_in, n_out, spectrum, generator=generator(seed, "teacher", i))
             for i in ids]
    return LinearTeacher(torch.cat([p.U for p in parts]).to(device), parts[0].s.to(device),
                         torch.cat([p.V for p in parts]).to(device))


def train_mode_strengths(ensemble: Ensemble, x: torch.Tensor, teacher: LinearTeacher, *,
                         learning_rate: float, steps: int, seed: int,
                         progress: Progress) -> np.ndarray:
    """Full-batch gradient descent with step η on Saxe's loss L = ½ mean_p |T x_p − W x_p|²;
    the strength of every mode after every step, shape ``(steps + 1, M, r)``.

    The engine's "mse" is the mean over samples and outputs, (2/n_out)·L, so a step of
    η n_out/2 on it is a step of η on L.
    """
    y = x @ teacher.map.transpose(-1, -2)  # (M, rows, n_out)
    names = sorted((k for k in ensemble.params if k.endswith("weight")),
                   key=lambda k: int(k.split(".")[1]))

    def strengths(params, data) -> torch.Tensor:
        return mode_strengths(end_to_end_map(params, names), teacher.U, teacher.V)

    trajectory = train(ensemble, x, y, optimizer=SGD(lr=learning_rate * y.shape[-1] / 2),
                       steps=steps, seed=seed, loss="mse", every=1,
                       observables={"u": strengths}, progress=progress)
    return trajectory.observables["u"].transpose(0, 1).cpu().numpy()
