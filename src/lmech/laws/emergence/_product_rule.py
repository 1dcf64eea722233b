"""The product rule of multiplicative emergence: what the emergence laws share.

A concept space of binary concepts (concept j absent, prototype 0, or present, e_j
orthonormal in R^dim; a class c renders as Σ_j c_j e_j), trained on the origin and the
one-concept classes, every class with m ≥ 2 concepts held out. For the m-concept classes,
ū_m(t) is the m-th root of the geometric mean over classes c of ⟨Π_j a_{c,j}(t)⟩ (each
network's product of its own single-concept accuracies, averaged over networks) and A_m(t)
the geometric mean of the composition accuracies ⟨A_c(t)⟩. Two read-outs, each with a
delete-one-member jackknife error (members are independent):

- composition: A_m at the first step where ū_m reaches each level u; theory u^m;
- delay: at each composition accuracy P, (t_A − t_ū)/(t_Π − t_ū), with t_A, t_Π, t_ū the
  first steps at which A_m, ū_m^m and ū_m reach P; theory 1.

Foil: every class learned like a single concept, as one skill: A_m = ū, delay 0.
Tolerance: zero (the theory gives no size for the coupling of concept errors it neglects).

Source: Okawa, Lubana, Dick & Tanaka, NeurIPS 2023 (arXiv:2310.09336), §3–4;
docs/theory/emergence.md, §The product rule.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field, model_validator

from lmech.errors import LmechError
from lmech.laws import AbstractLaw, Curve, LawParams, Panel, Pillar, Series, ToleranceBasis
from lmech.tasks import ConceptSpace

COMPOSITION = "composition"
DELAY = "delay"


class ProductRuleParams(LawParams):
    """What every product-rule experiment declares: the concept space and the read-out."""

    n_concepts: int = Field(4, ge=2, le=6, description="binary concepts n")
    dim: int = Field(16, ge=2, le=1024, description="object dimension (>= n_concepts)")
    n_members: int = Field(64, ge=4, le=4096, description="independent seeds")
    n_samples: int = Field(64, ge=1, le=4096, description="generated objects per class")
    levels: tuple[float, ...] = Field(
        (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9), min_length=1,
        description="single-concept accuracies u at which compositions are read")
    delay_levels: tuple[float, ...] = Field(
        (0.2, 0.5, 0.8), min_length=1,
        description="composition accuracies P at which the delay fraction is read")

    @model_validator(mode="after")
    def _read_out(self) -> ProductRuleParams:
        if self.dim < self.n_concepts:
            raise ValueError(f"dim must be >= n_concepts = {self.n_concepts} for orthonormal "
                             f"prototypes, got {self.dim}")
        for name in ("levels", "delay_levels"):
            value = getattr(self, name)
            if any(not 0 < u < 1 for u in value) or list(value) != sorted(set(value)):
                raise ValueError(f"{name} must increase strictly within (0, 1), got {value}")
        return self


class AbstractProductRule(AbstractLaw):
    """A composition of m concepts is right as often as the product of its concepts are.

    Prediction, foil, tolerance and panels of every product-rule law; a concrete law
    supplies the generator (`measure`), its parameters and budgets.
    """

    pillar = Pillar.UNIVERSAL
    tolerance_basis = ToleranceBasis.computed(
        "zero: the claim under test is exact independence of a sample's concept errors, "
        "whose failure is the recorded finding")

    panels = (
        Panel(COMPOSITION, xlabel="single-concept accuracy ū (geometric mean)",
              ylabel="composition accuracy A"),
        Panel(DELAY, xlabel="composition accuracy P",
              ylabel="delay fraction (t_A − t_ū)/(t_ū^m − t_ū)"),
    )

    def predict(self, params: ProductRuleParams) -> Series:
        u, big_p = np.array(params.levels), np.array(params.delay_levels)
        return Series.from_curves(
            [Curve(COMPOSITION, _curve_name(m), u, u**m) for m in _orders(params)]
            + [Curve(DELAY, _curve_name(m), big_p, np.ones(big_p.size))
               for m in _orders(params)])

    def foil(self, params: ProductRuleParams) -> Series:
        u, big_p = np.array(params.levels), np.array(params.delay_levels)
        return Series.from_curves(
            [Curve(COMPOSITION, _curve_name(m), u, u) for m in _orders(params)]
            + [Curve(DELAY, _curve_name(m), big_p, np.zeros(big_p.size))
               for m in _orders(params)])

    def tolerance(self, params: ProductRuleParams, prediction: Series) -> np.ndarray:
        return np.zeros(len(prediction))


def read_out(params: ProductRuleParams, concept: np.ndarray, whole: np.ndarray,
             classes: np.ndarray, steps: np.ndarray) -> Series:
    """Both panels, in the prediction's layout, from a generator's recorded accuracies.

    Args: ``concept (M, T, C, n)``, ``whole (M, T, C)``, ``classes (C, n)`` as the laws'
        `concept_accuracies` return them, and ``steps (T,)`` the recorded steps.
    """
    y, se = composition_at_levels(concept, whole, classes, params.levels)
    d, d_se = delay_fractions(concept, whole, classes, steps, params.delay_levels)
    u, big_p = np.array(params.levels), np.array(params.delay_levels)
    orders = list(enumerate(_orders(params)))
    units = concept.shape[0]  # independent networks (delete-one jackknife over them)
    return Series.from_curves(
        [Curve(COMPOSITION, _curve_name(m), u, y[i], se[i], units) for i, m in orders]
        + [Curve(DELAY, _curve_name(m), big_p, d[i], d_se[i], units) for i, m in orders])


def single_concept_curves(concept: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """ū_m(t) for m = 2 … n, ``(orders, T)``: the m-th root of the geometric mean over the
    m-concept classes of ⟨Π_j a_{c,j}⟩, as `composition_at_levels` reads it."""
    product = _network_products(concept, classes).mean(0)  # (T, C)
    return np.exp(np.array([log_p / m for m, log_p in _log_by_order(product, classes)]))


def _network_products(concept: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """``(M, T, C)`` each network's product of its accuracies on the concepts c has."""
    return np.where(classes.astype(bool)[None, None], concept, 1.0).prod(-1)


def _log_by_order(mean: np.ndarray, classes: np.ndarray):
    """(m, log of the geometric mean over the m-concept classes ``(T,)``) for m = 2 … n."""
    size = classes.sum(1)
    with np.errstate(divide="ignore"):
        log = np.log(mean)  # (T, C)
    return [(m, log[:, size == m].mean(1)) for m in range(2, classes.shape[1] + 1)]


def _orders(params: ProductRuleParams) -> range:
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
    product = _network_products(concept, classes)  # (M, T, C)
    m_members = concept.shape[0]

    def per_order(product_mean, whole_mean):  # (T, C) means over networks
        return np.array([statistic(log_p / m, log_a, m) for (m, log_p), (_, log_a)
                         in zip(_log_by_order(product_mean, classes),
                                _log_by_order(whole_mean, classes), strict=True)])

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
