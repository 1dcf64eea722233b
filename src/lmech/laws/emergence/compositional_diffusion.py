"""emergence.compositional_diffusion — does a diffusion model compose concepts as their product?

Experiment. The concept space of emergence.compositional (`n_concepts` binary concepts,
concept j absent, prototype 0, or present, e_j orthonormal in R^dim; a class c renders as
x_0 = Σ_j c_j e_j), the same split (trained: the origin and the one-concept classes; held
out: every class with m ≥ 2 concepts, at concept distance m − 1) and the same read-out,
but the generator is Okawa et al.'s kind: a conditional denoising diffusion model (DDPM).
Forward process q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I), ᾱ_t = Π_{s≤t} (1 − β_s), over
T = `diffusion_steps` steps with Ho et al.'s linear schedule (β from 10⁻⁴ to 0.02 over
1000 steps) rescaled to T: β_t from 0.1/T to 20/T. The denoiser ε̂(x_t, c, t) is an MLP
on [x_t, the class code (concatenated one-hot codes), t/T, sin(πkt/T), cos(πkt/T) for
k = 1…4] with two hidden layers of `width` SiLU units (weights N(0, 1/fan_in), biases 0),
trained on the ε-prediction loss ⟨‖ε̂(√ᾱ_t x_0 + √(1 − ᾱ_t) ε, c, t) − ε‖²⟩ by Adam
(`learning_rate`, `steps`; float32), each step on `copies` copies of every trained class with a
fresh t ~ U{1…T} and ε ~ N(0, I) per copy. It generates by ancestral sampling from
x_T ~ N(0, I):

    x_{t−1} = (x_t − β_t/√(1 − ᾱ_t) ε̂(x_t, c, t))/√α_t + σ_t z_t,   z_t ~ N(0, I),
    σ_t² = β̃_t = β_t (1 − ᾱ_{t−1})/(1 − ᾱ_t)    (ᾱ_0 = 1, so σ_1 = 0);

each member draws `n_samples` (x_T, z_T … z_1) per held-out class, fixed over training.
`n_members` networks are trained at once, parameters stacked on a member axis; member i's
initialisation, generation noises and training draws come from its own generators, seeded
by (seed, i) (`member_seed`), so it is the same network in an ensemble of any size. (Adam
is elementwise and the loss is a sum of per-member means, so the members do not interact.)
Accuracies a_{c,j}(t), A_c(t) and the statistics ū_m, A_m, the composition panel and the
delay panel are those of emergence.compositional, recorded at step 0 and then at
`records` − 1 log-spaced steps from `first_record` to `steps`.

Chance floor: the untrained denoiser's samples are noise, right on each concept with
probability ≈ 1/2, so every ū_m starts near 1/2 and dips while the samples collapse onto
the trained classes before it rises. That early 1/2 is a coin flip, not a learned concept,
and a level crossed on the way down is no stage of learning: levels and delays are read on
the rise only, from the record where ū averaged over the orders m is lowest. The levels
are therefore u = 0.5 … 0.9 and P = 0.5, 0.8: the dropout law's lower ones (u = 0.3, 0.4,
P = 0.2) lie under ū_m at the dip (0.45, 0.42, 0.40 for m = 2, 3, 4 at quick seed 0), are
not crossed on the rise, and are refused.

Prediction, foil and tolerance: those of emergence.compositional — A_m = u^m where ū_m = u,
delay fraction 1 (concepts independent); foil A_m = u, delay fraction 0 (one skill);
tolerance zero.

Finding: the product rule fails, with the opposite sign to the dropout generator's:
compositions fall slightly below the product. At the quick budget the verdict is REFUTED
for seeds 0, 1, 2, worst z −6.0, −4.2, −4.8 against z_crit 3.49 (21 points; all three at
3 concepts, u = 0.7, 0.8, 0.9), with the foil rejected at z 325, 330, 242. The composition
lies below u^m at 44 of the 45 composition points, by up to 0.6 points (2 concepts), 1.2
(3 concepts) and 1.8 (4 concepts), at every u from 0.5 to 0.9; the one point above is
+0.1 (seed 1, 4 concepts, u = 0.9). The delay fractions are 1.00–1.06 at P = 0.5 and 0.8,
each consistent with 1 (|z| ≤ 3.3), though 17 of the 18 lie above it: compositions lag
their concepts by the product's delay or slightly more. Concepts are learned almost, not
exactly, independently, and here their errors are coupled the other way. The smoke
budget (16 members, 3 concepts) is too small to resolve the deficit and comes out
CONFIRMED.

Source: Okawa, Lubana, Dick & Tanaka, "Compositional abilities emerge multiplicatively:
exploring diffusion models on a synthetic task", NeurIPS 2023 (arXiv:2310.09336), §3–4;
Ho, Jain & Abbeel, "Denoising diffusion probabilistic models", NeurIPS 2020
(arXiv:2006.11239), eq. 4 (forward marginal), eq. 7 (β̃_t), eq. 14 (ε-loss), Algorithm 2
(sampling), §4 (linear schedule); docs/theory/emergence.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from pydantic import Field, model_validator

from lmech.ensemble import Adam, init_ensemble, member_seed
from lmech.errors import LmechError
from lmech.laws import Progress, Series
from lmech.laws._threads import single_thread
from lmech.laws.emergence._product_rule import (
    AbstractProductRule,
    ProductRuleParams,
    binary_concept_space,
    class_codes,
    read_out,
    single_concept_curves,
)
from lmech.models import MLPConfig
from lmech.tasks import ConceptSpace, concept_distance

HIDDEN_LAYERS = 2
FREQUENCIES = 4  # time features t/T, sin(πkt/T), cos(πkt/T), k = 1 … 4

Denoiser = Callable[[torch.Tensor, int], torch.Tensor]
"""ε̂(x_t, t): ``(M, R, dim)`` and the diffusion time t in 1 … T -> ``(M, R, dim)``."""


class CompositionalDiffusionParams(ProductRuleParams):
    width: int = Field(64, ge=1, le=1024, description="width of the denoiser's two hidden layers")
    diffusion_steps: int = Field(
        50, ge=25, le=1000,
        description="diffusion steps T (β_T = 20/T, so T >= 25 keeps β_T <= 0.8)")
    learning_rate: float = Field(1e-3, gt=0, le=0.1, description="Adam step η")
    steps: int = Field(1500, ge=10, le=1_000_000, description="Adam steps")
    copies: int = Field(32, ge=1, le=4096,
                        description="copies of each trained class per step (fresh t, ε)")
    records: int = Field(60, ge=4, le=10_000,
                         description="records: step 0, then log-spaced to steps")
    first_record: int = Field(50, ge=1, description="first step after 0 that is recorded")
    levels: tuple[float, ...] = Field(
        (0.5, 0.6, 0.7, 0.8, 0.9), min_length=1,
        description="single-concept accuracies u at which compositions are read (on the "
                    "rise, above the chance-floor dip)")
    delay_levels: tuple[float, ...] = Field(
        (0.5, 0.8), min_length=1,
        description="composition accuracies P at which the delay fraction is read")

    @model_validator(mode="after")
    def _consistent(self) -> CompositionalDiffusionParams:
        if self.first_record >= self.steps:
            raise ValueError(f"first_record must be < steps = {self.steps}, got "
                             f"{self.first_record}")
        return self


class CompositionalDiffusion(AbstractProductRule):
    claim = (
        "A conditional diffusion model's (DDPM's) accuracy on a held-out composition of m "
        "concepts is the product of its single-concept accuracies (u^m), and it lags its "
        "concepts by the delay that product predicts, not learned like a single concept."
    )
    source = ("Okawa, Lubana, Dick & Tanaka, NeurIPS 2023 (arXiv:2310.09336), §3–4; "
              "Ho, Jain & Abbeel, NeurIPS 2020 (arXiv:2006.11239)")
    finding = ("Compositions fall below u^m by up to about 2 points, the opposite sign to the "
               "dropout generator's coupling, while the delay fractions (1.00–1.06) agree "
               "with 1 and the foil is far off.")
    expected = "REFUTED"
    Params = CompositionalDiffusionParams
    budgets = {
        "smoke": dict(n_concepts=3, dim=8, width=32, steps=1000, n_members=16,
                      n_samples=32, records=30, levels=(0.6, 0.7, 0.8, 0.9)),
        "quick": {},
        "full": dict(n_concepts=5, n_members=256, steps=3000, records=80),
    }

    def measure(
        self,
        params: CompositionalDiffusionParams,
        seed: int,
        *,
        device: str = "cpu",
        progress: Progress = lambda f: None,
    ) -> Series:
        with single_thread():  # tiny MLPs: a second thread only adds contention
            concept, whole, classes, steps = concept_accuracies(params, seed, device, progress)
        ubar = single_concept_curves(concept, classes)
        start = rise_start(ubar)
        for name in ("levels", "delay_levels"):
            lowest = min(getattr(params, name))
            if lowest <= ubar[:, start].max():
                raise LmechError(
                    f"{name} must exceed the single-concept accuracy at the dip, "
                    f"max_m ū_m = {ubar[:, start].max():.3g} at step {steps[start]}, where "
                    f"the rise from the chance floor begins; got {lowest}")
        return read_out(params, concept[:, start:], whole[:, start:], classes, steps[start:])


def linear_betas(diffusion_steps: int) -> np.ndarray:
    """Ho et al.'s β_t, 10⁻⁴ … 0.02 over 1000 steps, rescaled to T steps: ``(T,)``, t = 1 … T.

    The rescaling keeps Σ_t β_t (≈ −ln ᾱ_T, the total noise) at Ho et al.'s 10.05.

    Example:
        >>> linear_betas(50)[[0, -1]]
        array([0.002, 0.4  ])
    """
    scale = 1000 / diffusion_steps
    return np.linspace(1e-4 * scale, 0.02 * scale, diffusion_steps)


def time_features(t: torch.Tensor, diffusion_steps: int) -> torch.Tensor:
    """t/T, sin(πkt/T), cos(πkt/T) for k = 1 … 4: ``(…,)`` integers -> ``(…, 9)``."""
    s = (t.double() / diffusion_steps)[..., None]
    k = torch.arange(1, FREQUENCIES + 1, dtype=torch.float64)
    return torch.cat([s, torch.sin(math.pi * k * s), torch.cos(math.pi * k * s)], -1)


def ancestral_sample(denoiser: Denoiser, x_T: torch.Tensor, z: torch.Tensor,
                     betas: np.ndarray) -> torch.Tensor:
    """DDPM ancestral sampling with reverse variance β̃_t, from x_T down to x_0.

    x_{t−1} = (x_t − β_t/√(1 − ᾱ_t) ε̂(x_t, t))/√α_t + σ_t z_t, σ_t² = β_t(1 − ᾱ_{t−1})/(1 − ᾱ_t).

    Args:
        denoiser: ε̂(x_t, t), t in 1 … T.
        x_T: ``(M, R, dim)`` the starting noise.
        z: ``(M, T, R, dim)`` the noise z_t of step t at index t − 1 (z_1 is not used).
        betas: ``(T,)`` β_1 … β_T.
    Returns:
        ``(M, R, dim)`` x_0.
    """
    alpha = 1 - betas
    alpha_bar = np.cumprod(alpha)
    alpha_bar_prev = np.concatenate([[1.0], alpha_bar[:-1]])
    sigma = np.sqrt(betas * (1 - alpha_bar_prev) / (1 - alpha_bar))
    x = x_T
    for t in range(len(betas), 0, -1):
        i = t - 1
        x = (x - betas[i] / math.sqrt(1 - alpha_bar[i]) * denoiser(x, t)) / math.sqrt(alpha[i])
        if t > 1:  # σ_1 = 0: the last step adds no noise
            x = x + sigma[i] * z[:, i]
    return x


def init_denoiser(params: CompositionalDiffusionParams, seed: int, member_ids: list[int],
                  device: str = "cpu") -> dict[str, torch.Tensor]:
    """Stacked denoiser weights ``w{k}`` ``(M, fan_in, fan_out)``, N(0, 1/fan_in), biases 0.

    Member i's weights are those of `init_ensemble` (drawn from member_seed(seed, i, "init")).
    """
    n_in = params.dim + 2 * params.n_concepts + 2 * FREQUENCIES + 1
    ensemble = init_ensemble(
        MLPConfig(n_in, params.width, HIDDEN_LAYERS, params.dim, activation="silu"),
        member_ids=member_ids, seed=seed, C_W=1.0, C_b=0.0, device=device)
    p = {}
    for k in range(HIDDEN_LAYERS + 1):
        w = ensemble.params[f"layers.{k}.weight"]  # (M, fan_out, fan_in)
        p[f"w{k}"] = w.transpose(1, 2).contiguous()
        p[f"b{k}"] = torch.zeros(w.shape[0], 1, w.shape[1], device=device)
    return p


def denoise(p: dict[str, torch.Tensor], inputs: torch.Tensor) -> torch.Tensor:
    """ε̂ of every member: ``(M, B, dim + 2n + 9)`` [x_t, class code, time] -> ``(M, B, dim)``."""
    h = inputs
    for k in range(HIDDEN_LAYERS + 1):
        h = torch.baddbmm(p[f"b{k}"], h, p[f"w{k}"])
        if k < HIDDEN_LAYERS:
            h = torch.nn.functional.silu(h)
    return h


def record_steps(params: CompositionalDiffusionParams) -> np.ndarray:
    """Step 0, then `records` − 1 log-spaced steps from `first_record` to `steps` (unique)."""
    later = np.geomspace(params.first_record, params.steps, params.records - 1)
    return np.unique(np.concatenate([[0], np.round(later).astype(int)]))


def concept_accuracies(params: CompositionalDiffusionParams, seed: int, device: str = "cpu",
                       progress: Progress | None = None):
    """Train the DDPM ensemble; per-member accuracies of the held-out classes.

    Returns:
        concept: ``(M, R, C, n)`` fraction of member m's generated objects of held-out
            class c correct on concept j at record r (meaningful where c_j = 1);
        whole: ``(M, R, C)`` fraction correct on every concept the class has;
        classes: ``(C, n)`` the held-out classes (those with >= 2 concepts);
        steps: ``(R,)`` the recorded steps.
    """
    space = binary_concept_space(params.n_concepts, params.dim,
                                 generator=torch.Generator().manual_seed(seed))
    every = space.classes()
    trained, held = every[every.sum(1) <= 1], every[every.sum(1) >= 2]
    assert bool((concept_distance(held, trained) == held.sum(1) - 1).all())
    m, s, dim, big_t = params.n_members, params.n_samples, params.dim, params.diffusion_steps
    p = init_denoiser(params, seed, list(range(m)), device)
    gens = [torch.Generator().manual_seed(member_seed(seed, i, "data")) for i in range(m)]
    rows = len(held) * s

    # the generation noises first, fixed over training: member i's do not depend on M
    x_T = torch.stack([torch.randn(rows, dim, generator=g) for g in gens]).to(device)
    z = torch.stack([torch.randn(big_t, rows, dim, generator=g) for g in gens]).to(device)
    betas = linear_betas(big_t)
    alpha_bar = np.cumprod(1 - betas)
    sqrt_ab, sqrt_1m_ab = (torch.tensor(np.sqrt(v), dtype=torch.float32, device=device)
                           for v in (alpha_bar, 1 - alpha_bar))  # (T,)
    times = time_features(torch.arange(1, big_t + 1), big_t).float().to(device)  # (T, 9)
    codes = class_codes(held).float().to(device).repeat_interleave(s, 0).expand(m, -1, -1)

    def eps_hat(x: torch.Tensor, t: int) -> torch.Tensor:
        return denoise(p, torch.cat([x, codes, times[t - 1].expand(m, rows, -1)], -1))

    train_x0 = space.render(trained).float().to(device).repeat(params.copies, 1)  # (B, dim)
    train_codes = class_codes(trained).float().to(device).repeat(params.copies, 1)
    optimiser = Adam(params.learning_rate)
    state = optimiser.init(p)
    at = set(record_steps(params).tolist())
    records = []
    for step in range(params.steps + 1):
        if step in at:
            with torch.no_grad():
                x = ancestral_sample(eps_hat, x_T, z, betas)
            records.append(_held_out_accuracies(x, space, held, s))
        if step == params.steps:
            break
        if progress is not None and step % max(1, params.steps // 100) == 0:
            progress(step / params.steps)
        t = torch.stack([torch.randint(0, big_t, (len(train_x0),), generator=g)
                         for g in gens]).to(device)  # (M, B) index t − 1
        eps = torch.stack([torch.randn(len(train_x0), dim, generator=g)
                           for g in gens]).to(device)  # (M, B, dim)
        x_t = sqrt_ab[t][..., None] * train_x0 + sqrt_1m_ab[t][..., None] * eps
        inputs = torch.cat([x_t, train_codes.expand(m, -1, -1), times[t]], -1)
        p = {k: v.requires_grad_() for k, v in p.items()}
        loss = (denoise(p, inputs) - eps).square().mean((1, 2))  # (M,) one mean per member
        grads = torch.autograd.grad(loss.sum(), list(p.values()))  # members are separate
        with torch.no_grad():
            p, state = optimiser.update(dict(zip(p, grads, strict=True)), state,
                                        {k: v.detach() for k, v in p.items()})
    acc = torch.stack(records, 1).cpu().numpy()  # (M, R, C, n + 1)
    return acc[..., :-1], acc[..., -1], held.numpy(), np.array(sorted(at))


def _held_out_accuracies(x: torch.Tensor, space: ConceptSpace, held: torch.Tensor, n_samples: int
                         ) -> torch.Tensor:
    """Samples ``(M, C·S, dim)`` -> ``(M, C, n + 1)``: accuracy per concept, then on all."""
    if not bool(torch.isfinite(x).all()):
        raise LmechError("sampling diverged; lower learning_rate")
    e = space.prototypes[:, 1].T.to(x)  # (dim, n)
    present = held.bool().to(x.device)[None, :, None, :]  # (1, C, 1, n)
    right = ((x @ e).view(len(x), len(held), n_samples, -1) > 0.5) == present  # (M, C, S, n)
    whole = (right | ~present).all(-1)  # the concepts c adds to the origin
    return torch.cat([right.double().mean(2), whole.double().mean(2)[..., None]], -1)


def rise_start(ubar: np.ndarray) -> int:
    """The record where ū averaged over the orders is lowest: the dip below the chance floor.

    Args: ``(orders, R)`` as returned by `single_concept_curves`.
    """
    return int(np.argmin(ubar.mean(0)))
