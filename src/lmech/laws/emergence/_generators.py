"""The generators of the emergence laws, trained through the engine on a binary concept space.

Concept j is absent (prototype 0) or present (e_j, the e_j orthonormal in R^dim); a class c
renders as Σ_j c_j e_j. Trained: the origin and the one-concept classes; held out: every
class with m >= 2 concepts, at concept distance m − 1 (Okawa et al. §3). A generated object
is right on concept j when ⟨x, e_j⟩ > 1/2 iff c_j = 1, and right on its class when it is
right on every concept the class adds to the origin. Each generator returns, per network,
its accuracies on the held-out classes at recorded steps (`Accuracies`).

- `diffusion_accuracies`: a conditional DDPM (`lmech.models.ddpm`), trained by Adam on the
  ε-loss, each step on `copies` copies of every trained class with a fresh diffusion time
  and noise per copy; it generates by ancestral sampling from `n_samples` noise
  trajectories per held-out class, fixed over training.
- `dropout_accuracies`: a one-hidden-layer tanh generator with dropout on its hidden units
  (`lmech.models.dropout_generator`), trained by gradient descent on the squared error, a
  fresh mask per class copy and step; it generates with one fresh mask and a small output
  noise per object, fixed over training.

Member i's initialisation, training draws and generation noises come from its own streams
(seed, purpose, i), so it is the same network in an ensemble of any size.

Source: Okawa, Lubana, Dick & Tanaka, NeurIPS 2023 (arXiv:2310.09336), §3–4;
docs/theory/emergence.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from pydantic import Field, model_validator

from lmech.ensemble import SGD, Adam, MemberStreams, generator, init_ensemble, train
from lmech.errors import LmechError
from lmech.laws import LawParams, Progress
from lmech.laws._threads import single_thread
from lmech.measure.stats import record_steps
from lmech.models import MLPConfig
from lmech.models.ddpm import (
    DenoiserConfig,
    ancestral_sample,
    denoise,
    linear_betas,
    noised,
    time_features,
)
from lmech.models.dropout_generator import dropout_generator, inverted_dropout
from lmech.tasks import ConceptSpace, concept_distance

Params = dict[str, torch.Tensor]


class DiffusionParams(LawParams):
    """The concept space and the DDPM generator of the emergence laws."""

    n_concepts: int = Field(4, ge=2, le=6, description="binary concepts n")
    dim: int = Field(16, ge=2, le=1024, description="object dimension (>= n_concepts)")
    n_members: int = Field(64, ge=2, le=4096, description="independent DDPM networks")
    n_samples: int = Field(48, ge=1, le=4096, description="generated objects per class")
    width: int = Field(64, ge=1, le=1024, description="width of the denoiser's two hidden layers")
    diffusion_steps: int = Field(
        50, ge=25, le=1000,
        description="diffusion steps T (β_T = 20/T, so T >= 25 keeps β_T <= 0.8)")
    learning_rate: float = Field(2e-3, gt=0, le=0.1, description="Adam step η")
    steps: int = Field(800, ge=10, le=1_000_000, description="Adam steps")
    copies: int = Field(32, ge=1, le=4096,
                        description="copies of each trained class per step (fresh t, ε)")
    records: int = Field(24, ge=4, le=10_000,
                         description="records: step 0, then log-spaced to steps")
    first_record: int = Field(25, ge=1, description="first step after 0 that is recorded")

    @model_validator(mode="after")
    def _concept_space(self) -> DiffusionParams:
        if self.dim < self.n_concepts:
            raise ValueError(f"dim must be >= n_concepts = {self.n_concepts} for orthonormal "
                             f"prototypes, got {self.dim}")
        if self.first_record >= self.steps:
            raise ValueError(f"first_record must be < steps = {self.steps}, got "
                             f"{self.first_record}")
        return self


@dataclass(frozen=True)
class Accuracies:
    """Per-network accuracies on the held-out classes at the recorded steps.

    Attributes:
        concept: ``(M, R, C, n)`` fraction of network m's objects of held-out class c right
            on concept j at record r (meaningful where c_j = 1).
        whole: ``(M, R, C)`` fraction right on every concept the class has.
        classes: ``(C, n)`` the held-out classes (those with >= 2 concepts).
        steps: ``(R,)`` the recorded steps.
    """

    concept: np.ndarray
    whole: np.ndarray
    classes: np.ndarray
    steps: np.ndarray


def binary_concept_space(n_concepts: int, dim: int, *, generator: torch.Generator
                         ) -> ConceptSpace:
    """Concept j absent (prototype 0) or present (e_j, orthonormal): ``(n, 2, dim)``."""
    q, _ = torch.linalg.qr(torch.randn(dim, n_concepts, generator=generator,
                                       dtype=torch.float64))
    prototypes = torch.zeros(n_concepts, 2, dim, dtype=torch.float64)
    prototypes[:, 1] = q.T
    return ConceptSpace(prototypes=prototypes)


def class_codes(classes: torch.Tensor) -> torch.Tensor:
    """Concatenated one-hot codes of the concept values: ``(B, n)`` -> ``(B, 2n)``."""
    return torch.nn.functional.one_hot(classes, 2).flatten(1).double()


def split(n_concepts: int, dim: int, seed: int
          ) -> tuple[ConceptSpace, torch.Tensor, torch.Tensor]:
    """The run's concept space (from its "teacher" stream), trained and held-out classes."""
    space = binary_concept_space(n_concepts, dim, generator=generator(seed, "teacher"))
    every = space.classes()
    trained, held = every[every.sum(1) <= 1], every[every.sum(1) >= 2]
    assert bool((concept_distance(held, trained) == held.sum(1) - 1).all())
    return space, trained, held


def held_out_accuracies(x: torch.Tensor, space: ConceptSpace, held: torch.Tensor,
                        n_samples: int) -> torch.Tensor:
    """Objects ``(M, C·S, dim)`` -> ``(M, C, n + 1)``: accuracy per concept, then on all."""
    if not bool(torch.isfinite(x).all()):
        raise LmechError("the generated objects are not finite (training or sampling "
                         "diverged); lower learning_rate")
    e = space.prototypes[:, 1].T.to(x)  # (dim, n)
    present = held.bool().to(x.device)[None, :, None, :]  # (1, C, 1, n)
    right = ((x @ e).view(len(x), len(held), n_samples, -1) > 0.5) == present  # (M, C, S, n)
    whole = (right | ~present).all(-1)  # the concepts c adds to the origin
    return torch.cat([right.double().mean(2), whole.double().mean(2)[..., None]], -1)


def diffusion_record_steps(params: DiffusionParams) -> np.ndarray:
    """Step 0, then `records` − 1 log-spaced steps from `first_record` to `steps` (unique)."""
    later = record_steps(params.steps, params.records - 1, log=True, first=params.first_record)
    return np.unique(np.concatenate([[0], later]))


def diffusion_accuracies(params: DiffusionParams, seed: int, device: str = "cpu",
                         progress: Progress | None = None,
                         member_ids: Sequence[int] | None = None) -> Accuracies:
    """Train the DDPM ensemble (ids `member_ids`, default 0 … M − 1) and record its
    accuracies on the held-out classes."""
    space, trained, held = split(params.n_concepts, params.dim, seed)
    s, dim, big_t = params.n_samples, params.dim, params.diffusion_steps
    ids = list(range(params.n_members)) if member_ids is None else list(member_ids)
    m, rows = len(ids), len(held) * s
    config = DenoiserConfig(dim, 2 * params.n_concepts, params.width)
    ensemble = init_ensemble(config.mlp(), member_ids=ids, seed=seed, C_W=1.0, C_b=0.0,
                             device=device)

    # the generation noises, fixed over training
    fixed = MemberStreams(seed, ids, device=device)
    x_T = fixed.randn("eval", rows, dim)  # (M, C·S, dim)
    z = fixed.randn("eval", big_t, rows, dim)  # (M, T, C·S, dim)
    betas = linear_betas(big_t)
    alpha_bar = torch.tensor(np.cumprod(1 - betas), dtype=torch.float32, device=device)
    times = time_features(torch.arange(1, big_t + 1), big_t).float().to(device)  # (T, 9)
    codes = class_codes(held).float().to(device).repeat_interleave(s, 0).expand(m, -1, -1)
    train_x0 = space.render(trained).float().to(device).repeat(params.copies, 1)  # (B, dim)
    train_codes = class_codes(trained).float().to(device).repeat(params.copies, 1)

    def draws(step: int, streams: MemberStreams) -> tuple[torch.Tensor, torch.Tensor]:
        """A fresh diffusion time index t − 1 ``(M, B)`` and noise ε ``(M, B, dim)``."""
        del step
        return (streams.randint("batch", big_t, len(train_x0)),
                streams.randn("noise", len(train_x0), dim))

    def eps_hat(p: Params, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        t, eps = batch
        x_t = noised(train_x0, eps, t, alpha_bar)
        return denoise(p, torch.cat([x_t, train_codes.expand(m, -1, -1), times[t]], -1))

    def accuracies(p: Params, batch) -> torch.Tensor:
        del batch

        def reverse(x: torch.Tensor, t: int) -> torch.Tensor:
            return denoise(p, torch.cat([x, codes, times[t - 1].expand(m, rows, -1)], -1))

        return held_out_accuracies(ancestral_sample(reverse, x_T, z, betas), space, held, s)

    with single_thread():  # tiny MLPs: a second thread only adds contention
        trajectory = train(
            ensemble, batch=draws, forward=eps_hat, optimizer=Adam(params.learning_rate),
            loss=lambda out, batch: (out - batch[1]).square().mean((1, 2)),
            steps=params.steps, seed=seed, every=diffusion_record_steps(params).tolist(),
            observables={"accuracy": accuracies}, progress=progress)
    return _accuracies(trajectory, held)


def dropout_accuracies(n_concepts: int, dim: int, n_samples: int, *, width: int, rate: float,
                       noise: float, init_variance: float, learning_rate: float, steps: int,
                       record_every: int, masks: int, member_ids: Sequence[int], seed: int,
                       device: str = "cpu", progress: Progress | None = None) -> Accuracies:
    """Train the dropout generators (ids `member_ids`) by gradient descent and record their
    accuracies on the held-out classes every `record_every` steps."""
    space, trained, held = split(n_concepts, dim, seed)
    ids, s = list(member_ids), n_samples
    ensemble = init_ensemble(MLPConfig(2 * n_concepts, width, 1, dim, activation="tanh"),
                             member_ids=ids, seed=seed, C_W=init_variance,
                             dtype=torch.float64, device=device)

    # the generator's randomness, fixed over training: one mask and noise per object
    fixed = MemberStreams(seed, ids, device=device)
    gen_mask = inverted_dropout(fixed.rand("eval", len(held) * s, width, dtype=torch.float64),
                                rate)  # (M, C·S, width)
    gen_noise = noise * fixed.randn("eval", len(held) * s, dim, dtype=torch.float64)
    gen_in = class_codes(held).to(device).repeat_interleave(s, 0)  # (C·S, 2n)
    train_in = class_codes(trained).to(device).repeat(masks, 1)  # (K·P, 2n)
    train_out = space.render(trained).to(device).repeat(masks, 1)

    def fresh_masks(step: int, streams: MemberStreams) -> torch.Tensor:
        del step
        return inverted_dropout(streams.rand("dropout", len(train_in), width,
                                             dtype=torch.float64), rate)

    def accuracies(p: Params, batch) -> torch.Tensor:
        del batch
        x = dropout_generator(p, gen_in, gen_mask) + gen_noise
        return held_out_accuracies(x, space, held, s)

    with single_thread():  # a tiny MLP: a second thread only adds contention
        trajectory = train(
            ensemble, batch=fresh_masks, optimizer=SGD(lr=learning_rate), steps=steps,
            seed=seed, forward=lambda p, mask: dropout_generator(p, train_in, mask),
            loss=lambda out, mask: (out - train_out).square().mean((1, 2)),
            every=record_every, observables={"accuracy": accuracies}, progress=progress)
    return _accuracies(trajectory, held)


def _accuracies(trajectory, held: torch.Tensor) -> Accuracies:
    if bool((trajectory.diverged_at >= 0).any()):
        raise LmechError("training diverged; lower learning_rate")
    acc = trajectory.observables["accuracy"].cpu().numpy()  # (M, R, C, n + 1)
    return Accuracies(acc[..., :-1], acc[..., -1], held.numpy(), trajectory.steps.numpy())
