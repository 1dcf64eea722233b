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

Prediction (THEORY.md §5): concepts are independent, so a composition of m concepts is
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
takes over: that is no evidence for the theory. Across networks the coupling is larger (with output noise alone, the steps
at which concepts pass 50 % correlate across seeds with ρ ≈ 0.45 and Π_j ⟨a_j⟩ falls 10–15 %
short of the composition), which is why the product is taken per network. Conditioning-
input noise, x = f(c + ε) with a clean-trained f (ε ~ N(0, 0.2²–0.3²), seed 0), couples
them the other way: the composition fell up to 6–9 points below the product (z to −60).

Source: Okawa, Lubana, Dick & Tanaka, "Compositional abilities emerge multiplicatively:
exploring diffusion models on a synthetic task", NeurIPS 2023 (arXiv:2310.09336), §3
(concept space, concept distance) and §4 (multiplicative emergence); THEORY.md §5.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field, model_validator

from lmech.ensemble import init_ensemble, member_seed
from lmech.errors import LmechError
from lmech.laws import AbstractLaw, Curve, LawParams, Panel, Pillar, Progress, Series
from lmech.laws._threads import single_thread
from lmech.models import MLPConfig
from lmech.tasks import ConceptSpace, concept_distance

COMPOSITION = "composition"
DELAY = "delay"


class CompositionalParams(LawParams):
    n_concepts: int = Field(4, ge=2, le=6, description="binary concepts n")
    dim: int = Field(16, ge=2, le=1024, description="object dimension (>= n_concepts)")
    width: int = Field(32, ge=1, le=1024, description="hidden width of the MLP")
    dropout: float = Field(0.1, gt=0, lt=1, description="hidden-unit dropout rate p")
    noise: float = Field(0.1, ge=0, le=0.5, description="isotropic output noise σ")
    init_variance: float = Field(0.01, gt=0, le=1, description="C_W of every layer")
    learning_rate: float = Field(0.1, gt=0, le=1, description="gradient-descent step η")
    steps: int = Field(6000, ge=10, le=1_000_000, description="gradient-descent steps")
    record_every: int = Field(20, ge=1, description="steps between records")
    n_members: int = Field(64, ge=4, le=4096, description="independent seeds")
    n_samples: int = Field(64, ge=1, le=4096, description="generated objects per class")
    masks: int = Field(8, ge=1, le=256, description="dropout masks per class and step")
    levels: tuple[float, ...] = Field(
        (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9), min_length=1,
        description="single-concept accuracies u at which compositions are read")
    delay_levels: tuple[float, ...] = Field(
        (0.2, 0.5, 0.8), min_length=1,
        description="composition accuracies P at which the delay fraction is read")

    @model_validator(mode="after")
    def _consistent(self) -> CompositionalParams:
        if self.dim < self.n_concepts:
            raise ValueError(f"dim must be >= n_concepts = {self.n_concepts} for orthonormal "
                             f"prototypes, got {self.dim}")
        for name in ("levels", "delay_levels"):
            value = getattr(self, name)
            if any(not 0 < u < 1 for u in value) or list(value) != sorted(set(value)):
                raise ValueError(f"{name} must increase strictly within (0, 1), got {value}")
        if self.record_every > self.steps // 10:
            raise ValueError(f"record_every must be <= steps // 10 = {self.steps // 10} to "
                             f"resolve the learning curves")
        return self


class Compositional(AbstractLaw):
    claim = (
        "A dropout generator's accuracy on a held-out composition of m concepts is the "
        "product of its single-concept accuracies (u^m), and it lags its concepts by the "
        "delay that product predicts, not learned like a single concept."
    )
    source = ("Okawa, Lubana, Dick & Tanaka, NeurIPS 2023 (arXiv:2310.09336), §4; "
              "THEORY.md §5")
    finding = ("REFUTED at quick (seeds 0–2, z 6.0–7.7 vs 3.59): dropout couples the concepts "
               "positively, so compositions beat u^m by up to 2.2 points near u = 0.7–0.9 "
               "and show 94–100 % of the predicted delay, while staying ≈ 260 s.e. from "
               "the foil.")
    pillar = Pillar.UNIVERSAL
    Params = CompositionalParams
    budgets = {
        "smoke": dict(n_concepts=3, dim=8, width=16, steps=2500, record_every=10,
                      n_members=32, n_samples=32, levels=(0.4, 0.6, 0.8)),
        "quick": {},
        "full": dict(n_concepts=5, dim=32, width=64, steps=12_000, n_members=512,
                     n_samples=128, levels=(0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)),
    }
    panels = (
        Panel(COMPOSITION, xlabel="single-concept accuracy ū (geometric mean)",
              ylabel="composition accuracy A"),
        Panel(DELAY, xlabel="composition accuracy P",
              ylabel="delay fraction (t_A − t_ū)/(t_ū^m − t_ū)"),
    )

    def predict(self, params: CompositionalParams) -> Series:
        u, big_p = np.array(params.levels), np.array(params.delay_levels)
        return Series.from_curves(
            [Curve(COMPOSITION, _curve_name(m), u, u**m) for m in _orders(params)]
            + [Curve(DELAY, _curve_name(m), big_p, np.ones(big_p.size))
               for m in _orders(params)])

    def foil(self, params: CompositionalParams) -> Series:
        u, big_p = np.array(params.levels), np.array(params.delay_levels)
        return Series.from_curves(
            [Curve(COMPOSITION, _curve_name(m), u, u) for m in _orders(params)]
            + [Curve(DELAY, _curve_name(m), big_p, np.zeros(big_p.size))
               for m in _orders(params)])

    def tolerance(self, params: CompositionalParams, prediction: Series) -> np.ndarray:
        return np.zeros(len(prediction))

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
        y, se = composition_at_levels(concept, whole, classes, params.levels)
        d, d_se = delay_fractions(concept, whole, classes, steps, params.delay_levels)
        u, big_p = np.array(params.levels), np.array(params.delay_levels)
        orders = list(enumerate(_orders(params)))
        return Series.from_curves(
            [Curve(COMPOSITION, _curve_name(m), u, y[i], se[i]) for i, m in orders]
            + [Curve(DELAY, _curve_name(m), big_p, d[i], d_se[i]) for i, m in orders])


def _orders(params: CompositionalParams) -> range:
    return range(2, params.n_concepts + 1)


def _curve_name(m: int) -> str:
    return f"d={m - 1} ({m} concepts)"


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


def composition_at_levels(concept: np.ndarray, whole: np.ndarray, classes: np.ndarray,
                          levels) -> tuple[np.ndarray, np.ndarray]:
    """A_m at the first step where ū_m reaches each level, with jackknife errors.

    ū_m(t) = (geometric mean over the m-concept classes c of ⟨Π_j a_{c,j}⟩)^{1/m}: each
    network's product of its single-concept accuracies, averaged over networks.

    Args: as returned by `concept_accuracies`; `levels` ``(L,)``.
    Returns:
        ``(orders, L)`` values and standard errors, orders m = 2 … n.
    """
    def statistic(log_u, log_a, m):
        return [_read_at(log_u, log_a, np.log(u), m) for u in levels]

    return _jackknife(statistic, concept, whole, classes)


def delay_fractions(concept: np.ndarray, whole: np.ndarray, classes: np.ndarray,
                    steps: np.ndarray, levels) -> tuple[np.ndarray, np.ndarray]:
    """(t_A − t_ū)/(t_Π − t_ū) at each composition accuracy P, with jackknife errors.

    t_A, t_Π, t_ū: the first steps (linear interpolation between records) at which the
    composition A_m, the product ū_m^m and the single-concept curve ū_m reach P. The
    product rule gives 1; a composition learned as one skill gives 0.

    Args: as returned by `concept_accuracies`; `steps` ``(T,)`` the record steps;
        `levels` ``(L,)`` accuracies P.
    Returns:
        ``(orders, L)`` values and standard errors, orders m = 2 … n.
    """
    def statistic(log_u, log_a, m):
        row = []
        for big_p in levels:
            log_p = np.log(big_p)
            t_a, t_prod, t_u = (_first_step(steps, curve, log_p, m)
                                for curve in (log_a, m * log_u, log_u))
            row.append((t_a - t_u) / (t_prod - t_u))
        return row

    return _jackknife(statistic, concept, whole, classes)


def _jackknife(statistic, concept: np.ndarray, whole: np.ndarray, classes: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """`statistic(log ū_m (T,), log A_m (T,), m)` per order, and its delete-one-member error."""
    present = classes.astype(bool)[None, None]  # (1, 1, C, n)
    product = np.where(present, concept, 1.0).prod(-1)  # (M, T, C) per network
    m_members = concept.shape[0]

    def per_order(product_mean, whole_mean):  # (T, C) means over networks
        size = classes.sum(1)
        with np.errstate(divide="ignore"):
            log_p, log_w = np.log(product_mean), np.log(whole_mean)
        return np.array([statistic(log_p[:, size == m].mean(1) / m,  # geometric means
                                   log_w[:, size == m].mean(1), m)
                         for m in range(2, classes.shape[1] + 1)])

    full = per_order(product.mean(0), whole.mean(0))
    sum_p, sum_w = product.sum(0), whole.sum(0)
    loo = np.stack([per_order((sum_p - product[i]) / (m_members - 1),
                              (sum_w - whole[i]) / (m_members - 1))
                    for i in range(m_members)])  # (M, orders, L)
    se = np.sqrt((m_members - 1) / m_members * ((loo - loo.mean(0)) ** 2).sum(0))
    return full, se


def _first_step(steps: np.ndarray, log_y: np.ndarray, level: float, m: int) -> float:
    """The step at which log_y first reaches `level`, interpolating linearly in y."""
    above = np.flatnonzero(log_y >= level)
    if above.size == 0 or above[0] == 0:
        raise LmechError(f"the accuracies of the {m}-concept compositions never rise "
                         f"through {np.exp(level):.3g}; increase steps or lower the "
                         "delay level")
    k = above[0]
    y0, y1 = np.exp(log_y[k - 1]), np.exp(log_y[k])
    lam = (np.exp(level) - y0) / (y1 - y0)
    return float((1 - lam) * steps[k - 1] + lam * steps[k])


def _read_at(log_u: np.ndarray, log_a: np.ndarray, level: float, m: int) -> float:
    """exp(log_a) where log_u first reaches `level`, interpolating both logs linearly."""
    above = np.flatnonzero(log_u >= level)
    if above.size == 0 or above[0] == 0:
        raise LmechError(f"the single-concept accuracy of the {m}-concept compositions "
                         f"never rises through {np.exp(level):.3g}; increase steps or "
                         "lower the level")
    k = above[0]
    if not np.isfinite(log_u[k - 1]) or not np.isfinite(log_a[k - 1]):
        return float(np.exp(log_a[k]))  # nothing right before: the first record above
    lam = (level - log_u[k - 1]) / (log_u[k] - log_u[k - 1])
    return float(np.exp((1 - lam) * log_a[k - 1] + lam * log_a[k]))
