"""emergence.compositional — is a composition of concepts learned as the product of its concepts?

Experiment. A concept space of `n_concepts` binary concepts (Okawa et al.'s shape, colour,
size): concept j is absent (prototype 0) or present (prototype e_j, the e_j orthonormal in
R^dim), and a class c renders as x = Σ_j c_j e_j. As in the paper, the model is trained on
the origin class and the `n_concepts` one-concept classes; every class with m ≥ 2 concepts
is held out, at concept distance m − 1. The conditional generator is a one-hidden-layer
tanh MLP from the class description (concatenated one-hot codes) to the object, with
inverted dropout (rate p) on its hidden units, trained by full-batch gradient descent on
the squared error from a small initialisation (a fresh mask per class copy and step,
`masks` copies per class), one independent seed per member (its initialisation, masks
and noise depend only on the law's seed and the member's id). It generates as it was
trained: x = f(c; ζ) + σξ, a fresh Bernoulli mask ζ per object plus a small isotropic
noise σξ; each member draws `n_samples` (ζ, ξ) per class, fixed over training. The per-
sample randomness thus passes through the shared hidden layer, which may couple the
concepts' errors. An object is right on concept j when ⟨x, e_j⟩ > 1/2 iff c_j = 1, and
right on a held-out class's composition when all m concepts it adds to the origin are.
Every `record_every` steps each network's accuracy a_{c,j}(t) on each concept and A_c(t)
on the composition are recorded. For the classes with m concepts, ū_m(t) is the m-th root
of the geometric mean over c of ⟨Π_j a_{c,j}(t)⟩ (each network's product of its own
single-concept accuracies, averaged over networks) and A_m(t) the geometric mean of
⟨A_c(t)⟩. At each level u of `levels`, the first step at which ū_m reaches u is found by
geometric interpolation between records, and A_m there is the measured point (panel
"composition"). On the time axis (panel "delay"), at each composition accuracy P of
`delay_levels` the first steps t_A, t_Π and t_ū at which A_m, ū_m^m and ū_m reach P give
the delay fraction (t_A − t_ū)/(t_Π − t_ū): how much of the delay the product rule puts
between a composition and its concepts the composition shows. Each point's standard
error is the delete-one-member jackknife (members are independent).

Prediction (docs/theory/emergence.md, §The product rule): concepts are independent, so a
composition of m concepts is
right with the product of the single-concept probabilities, P = Π_j a_j: where the
single-concept curve stands at u, the composition stands at u^m, and it reaches any
accuracy P when ū^m does: delay fraction 1 at every P. Here that is a claim
about the learned representation: it holds for every sample iff the dropout noise reaching
concept j's read-out is independent of that reaching concept k's, e.g. if disjoint hidden
units carry the concepts. (With output noise alone it would hold by construction.)

Foil (the issue's "all classes learned at the same time with the same shape"): every
class is learned like a single concept, as one skill: A_m = ū, delay fraction 0.

Tolerance: zero. The theory gives no size for the coupling of concept errors it neglects;
a tolerance chosen after measuring it would be fitted to pass.

Finding: the product rule fails. Dropout couples the concepts positively: at the quick
budget (seeds 0, 1, 2) compositions beat the product by up to 0.7 points (2 concepts),
1.1 (3 concepts) and 2.2 (4 concepts) at u = 0.7–0.9, and show 94–100 % of the predicted
delay (fractions 0.94–0.99 at P = 0.5–0.8); worst z 6.0, 7.7, 6.5 against z_crit 3.59.
At low u the product holds within errors. The verdict is REFUTED, yet far closer to the
product than to the foil (foil z ≈ 260): concepts are learned almost, not exactly,
independently. The coupling is dropout's, at any width tried: with the output noise off
(σ = 0, seed 0) compositions beat the product by up to 1.9, 3.6 and 6.0 points (2, 3, 4
concepts; z 15) at width 32 and 1.7, 1.1 and 2.4 (z 12) at width 128. With σ = 0.1, width
64 and 128 come out CONFIRMED (z 3.5 and 2.3), but only because dropout's share of the
noise falls like 1/width and output noise, under which the product holds by construction,
takes over: that is no evidence for the theory. Across networks the coupling is larger
(with output noise alone, the steps at which concepts pass 50 % correlate across seeds
with ρ ≈ 0.45 and Π_j ⟨a_j⟩ falls 10–15 % short of the composition), which is why the
product is taken per network. Conditioning-input noise, x = f(c + ε) with a clean-trained
f (ε ~ N(0, 0.2²–0.3²), seed 0), couples them the other way: the composition fell up to
6–9 points below the product (z to −60); so does the DDPM of
emergence.compositional_diffusion, by up to 1.8 points.

Source: Okawa, Lubana, Dick & Tanaka, "Compositional abilities emerge multiplicatively:
exploring diffusion models on a synthetic task", NeurIPS 2023 (arXiv:2310.09336), §3
(concept space, concept distance) and §4 (multiplicative emergence); docs/theory/emergence.md.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field, model_validator

from lmech.ensemble import init_ensemble, member_seed
from lmech.errors import LmechError
from lmech.laws import Progress, Series
from lmech.laws._threads import single_thread
from lmech.laws.emergence._product_rule import (
    AbstractProductRule,
    ProductRuleParams,
    binary_concept_space,
    class_codes,
    read_out,
)
from lmech.models import MLPConfig
from lmech.tasks import concept_distance


class CompositionalParams(ProductRuleParams):
    width: int = Field(32, ge=1, le=1024, description="hidden width of the MLP")
    dropout: float = Field(0.1, gt=0, lt=1, description="hidden-unit dropout rate p")
    noise: float = Field(0.1, ge=0, le=0.5, description="isotropic output noise σ")
    init_variance: float = Field(0.01, gt=0, le=1, description="C_W of every layer")
    learning_rate: float = Field(0.1, gt=0, le=1, description="gradient-descent step η")
    steps: int = Field(6000, ge=10, le=1_000_000, description="gradient-descent steps")
    record_every: int = Field(20, ge=1, description="steps between records")
    masks: int = Field(8, ge=1, le=256, description="dropout masks per class and step")

    @model_validator(mode="after")
    def _consistent(self) -> CompositionalParams:
        if self.record_every > self.steps // 10:
            raise ValueError(f"record_every must be <= steps // 10 = {self.steps // 10} to "
                             f"resolve the learning curves")
        return self


class Compositional(AbstractProductRule):
    claim = (
        "A dropout generator's accuracy on a held-out composition of m concepts is the "
        "product of its single-concept accuracies (u^m), and it lags its concepts by the "
        "delay that product predicts, not learned like a single concept."
    )
    source = "Okawa, Lubana, Dick & Tanaka, NeurIPS 2023 (arXiv:2310.09336), §4"
    finding = ("Dropout couples the concepts positively: compositions beat u^m by up to about "
               "2 points near u = 0.7–0.9, while the delay is 94–100 % of the product's and "
               "the foil is far off.")
    expected = "REFUTED"
    Params = CompositionalParams
    budgets = {
        "smoke": dict(n_concepts=3, dim=8, width=16, steps=2500, record_every=10,
                      n_members=32, n_samples=32, levels=(0.4, 0.6, 0.8)),
        "quick": {},
        "full": dict(n_concepts=5, dim=32, width=64, steps=12_000, n_members=512,
                     n_samples=128, levels=(0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)),
    }
    def measure(
        self,
        params: CompositionalParams,
        seed: int,
        *,
        device: str = "cpu",
        progress: Progress = lambda f: None,
    ) -> Series:
        with single_thread():  # a tiny MLP: a second thread only adds contention
            concept, whole, classes = concept_accuracies(params, seed, device, progress)
        steps = np.minimum(np.arange(concept.shape[1]) * params.record_every, params.steps)
        return read_out(params, concept, whole, classes, steps)


def concept_accuracies(params: CompositionalParams, seed: int, device: str = "cpu",
                       progress: Progress | None = None):
    """Train the ensemble with dropout; per-member accuracies of the held-out classes.

    Returns:
        concept: ``(M, T, C, n)`` fraction of member m's generated objects of held-out
            class c correct on concept j (meaningful where c_j = 1);
        whole: ``(M, T, C)`` fraction correct on every concept the class has;
        classes: ``(C, n)`` the held-out classes (those with >= 2 concepts).
    """
    gen = torch.Generator().manual_seed(seed)
    space = binary_concept_space(params.n_concepts, params.dim, generator=gen)
    every = space.classes()
    trained = every[every.sum(1) <= 1]
    held = every[every.sum(1) >= 2]
    assert bool((concept_distance(held, trained) == held.sum(1) - 1).all())
    e = space.prototypes[:, 1].T.to(device)  # (dim, n)
    m, s, w, keep = params.n_members, params.n_samples, params.width, 1 - params.dropout
    ensemble = init_ensemble(
        MLPConfig(2 * params.n_concepts, w, 1, params.dim, activation="tanh"),
        members=m, seed=seed, C_W=params.init_variance, dtype=torch.float64, device=device)
    p = {k: v.clone() for k, v in ensemble.params.items()}

    member_gens = [torch.Generator().manual_seed(member_seed(seed, int(i), "data"))
                   for i in ensemble.member_ids]

    def mask(rows: int) -> torch.Tensor:  # inverted dropout: E[mask] = 1
        draw = torch.stack([torch.rand(rows, w, generator=g, dtype=torch.float64)
                            for g in member_gens])
        return (draw < keep).double().to(device) / keep

    # the generator's randomness, fixed over training: one mask and noise per object
    gen_mask = mask(len(held) * s)  # (M, C·S, width)
    noise = params.noise * torch.stack([
        torch.randn(1, s, params.dim, generator=g, dtype=torch.float64)
        for g in member_gens]).to(device)
    gen_in = class_codes(held).to(device).repeat_interleave(s, 0)  # (C·S, 2n)
    present = held.bool().to(device)[None, :, None, :]  # (1, C, 1, n)
    train_in = class_codes(trained).to(device).repeat(params.masks, 1)  # (K·P, 2n)
    train_out = space.render(trained).to(device).repeat(params.masks, 1)

    def forward(x: torch.Tensor, dropped: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(x @ p["layers.0.weight"].transpose(1, 2) + p["layers.0.bias"][:, None])
        return (h * dropped) @ p["layers.1.weight"].transpose(1, 2) + p["layers.1.bias"][:, None]

    records = []
    for step in range(params.steps + 1):
        if step % params.record_every == 0 or step == params.steps:
            with torch.no_grad():
                f = forward(gen_in, gen_mask).view(m, len(held), s, -1) + noise
                right = ((f @ e) > 0.5) == present  # (M, C, S, n)
                whole = (right | ~present).all(-1)  # the concepts c adds to the origin
                records.append(torch.cat([right.double().mean(2),
                                          whole.double().mean(2)[..., None]], -1))
        if step == params.steps:
            break
        if progress is not None and step % max(1, params.steps // 100) == 0:
            progress(step / params.steps)
        p = {k: v.requires_grad_() for k, v in p.items()}
        loss = (forward(train_in, mask(len(train_in))) - train_out).square().mean((1, 2))
        grads = torch.autograd.grad(loss.sum(), list(p.values()))  # members are separate
        with torch.no_grad():
            p = {k: v - params.learning_rate * g for (k, v), g in zip(p.items(), grads,
                                                                       strict=True)}
    acc = torch.stack(records, 1).cpu().numpy()  # (M, T, C, n + 1)
    if not np.isfinite(acc).all() or not all(bool(torch.isfinite(v).all())
                                             for v in p.values()):
        raise LmechError("training diverged; lower learning_rate")
    return acc[..., :-1], acc[..., -1], held.numpy()


