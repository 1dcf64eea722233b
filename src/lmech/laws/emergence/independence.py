"""emergence.independence — are a sample's concept errors exactly independent? (recorded finding)

Experiment. The concept space and held-out compositions of emergence.compositional_diffusion,
with two generators (`lmech.laws.emergence._generators`): the conditional DDPM (Okawa et
al.'s model class) and, as a control of the read-out, a one-hidden-layer generator with
dropout on its hidden units, whose samples each draw one dropout mask that reaches every
concept's read-out. Per generator and m, A_m where ū_m first reaches each level u (read on
the rise, `lmech.laws.emergence._product_rule.composition_at_levels`), one panel per
generator; the two ensembles have distinct network ids.

Prediction: exact independence of a sample's concept errors in every network,
A_m = u^m (docs/theory/emergence.md, §What the product rule assumes).
Foil: one skill, A_m = u.

Tolerance: zero. The claim under test is exact, and its failure is the finding: shared
randomness in sampling couples the concepts, with a sign set by the generator (the dropout
mask positively; the DDPM's noise trajectory negatively), so the verdict is REFUTED. The
approximate rule, with declared margins, is emergence.compositional_diffusion's claim.

Source: Okawa, Lubana, Dick & Tanaka, NeurIPS 2023 (arXiv:2310.09336), §4;
docs/theory/emergence.md.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from lmech.laws import AbstractLaw, Curve, Panel, Pillar, Progress, Series, ToleranceBasis
from lmech.laws.emergence._generators import (
    DiffusionParams,
    diffusion_accuracies,
    dropout_accuracies,
)
from lmech.laws.emergence._product_rule import composition_at_levels, on_the_rise, orders

DDPM = "DDPM"
DROPOUT = "dropout generator"


class IndependenceParams(DiffusionParams):
    levels: tuple[float, ...] = Field(
        (0.6, 0.75, 0.9), min_length=1,
        description="single-concept accuracies u at which compositions are read")
    dropout_members: int = Field(48, ge=2, le=4096, description="dropout generators")
    dropout_width: int = Field(32, ge=1, le=1024, description="hidden width")
    dropout_rate: float = Field(0.1, gt=0, lt=1, description="hidden-unit dropout rate p")
    dropout_noise: float = Field(0.1, ge=0, le=0.5, description="isotropic output noise σ")
    dropout_init_variance: float = Field(0.01, gt=0, le=1, description="C_W of every layer")
    dropout_learning_rate: float = Field(0.3, gt=0, le=1, description="gradient-descent η")
    dropout_steps: int = Field(2000, ge=10, le=1_000_000, description="gradient steps")
    dropout_record_every: int = Field(20, ge=1, description="steps between records")
    dropout_masks: int = Field(8, ge=1, le=256, description="masks per class and step")

    @model_validator(mode="after")
    def _read_out(self) -> IndependenceParams:
        if any(not 0 < u < 1 for u in self.levels) or list(self.levels) != sorted(
                set(self.levels)):
            raise ValueError(f"levels must increase strictly within (0, 1), got {self.levels}")
        if self.dropout_record_every > self.dropout_steps // 10:
            raise ValueError(f"dropout_record_every must be <= dropout_steps // 10 = "
                             f"{self.dropout_steps // 10} to resolve the learning curves")
        return self


class Independence(AbstractLaw):
    claim = ("A generator's errors on the concepts of one sample are exactly independent, so "
             "a held-out composition of m concepts is right with probability exactly u^m.")
    finding = ("Exact independence fails, with a sign set by the generator: the dropout "
               "generator's compositions beat u^m at every level, by up to about 2 accuracy "
               "points (positive coupling through each sample's one mask); the DDPM's fall "
               "short of u^m at every level, by up to about 1.5 points (negative coupling "
               "through the shared noise trajectory; at the quick budget its panel alone "
               "does not always resolve it). Both lie far from the one-skill foil, A = u.")
    expected = "REFUTED"
    source = "Okawa, Lubana, Dick & Tanaka, NeurIPS 2023 (arXiv:2310.09336), §4"
    pillar = Pillar.UNIVERSAL
    tolerance_basis = ToleranceBasis.computed(
        "zero: the claim under test is exact independence of a sample's concept errors, "
        "whose failure is the recorded finding")
    Params = IndependenceParams
    budgets = {
        "smoke": dict(n_concepts=3, dim=8, width=32, steps=600, first_record=20, n_members=6,
                      n_samples=24, records=12, levels=(0.7, 0.9), dropout_members=6,
                      dropout_width=16, dropout_steps=800),
        "quick": dict(n_members=64, n_samples=64, records=16, first_record=40),
        "full": dict(n_concepts=5, n_members=256, n_samples=64, records=30,
                     dropout_members=256, dropout_width=64, dropout_steps=4000),
    }
    panels = (
        Panel(DDPM, xlabel="single-concept accuracy ū (geometric mean)",
              ylabel="composition accuracy A"),
        Panel(DROPOUT, xlabel="single-concept accuracy ū (geometric mean)",
              ylabel="composition accuracy A"),
    )

    def predict(self, params: IndependenceParams) -> Series:
        u = np.array(params.levels)
        return _series(params, [[u**m for m in orders(params.n_concepts)]] * 2)

    def foil(self, params: IndependenceParams) -> Series:
        u = np.array(params.levels)
        return _series(params, [[u for _ in orders(params.n_concepts)]] * 2)

    def tolerance(self, params: IndependenceParams, prediction: Series) -> np.ndarray:
        return np.zeros(len(prediction))

    def measure(self, params: IndependenceParams, seed: int, *, device: str = "cpu",
                progress: Progress = lambda f: None) -> Series:
        ddpm = diffusion_accuracies(params, seed, device, lambda f: progress(0.7 * f))
        dropout = dropout_accuracies(
            params.n_concepts, params.dim, params.n_samples, width=params.dropout_width,
            rate=params.dropout_rate, noise=params.dropout_noise,
            init_variance=params.dropout_init_variance,
            learning_rate=params.dropout_learning_rate, steps=params.dropout_steps,
            record_every=params.dropout_record_every, masks=params.dropout_masks,
            member_ids=range(params.n_members, params.n_members + params.dropout_members),
            seed=seed, device=device, progress=lambda f: progress(0.7 + 0.3 * f))
        progress(1.0)
        read = [composition_at_levels(on_the_rise(acc, levels=params.levels), params.levels)
                for acc in (ddpm, dropout)]
        return _series(params, [y for y, _ in read], [se for _, se in read],
                       [ddpm.concept.shape[0], dropout.concept.shape[0]])


def _series(params: IndependenceParams, y, se=(None, None), units=(None, None)) -> Series:
    """One panel per generator, one curve per m: ``y[g][order]`` at the levels."""
    u = np.array(params.levels)
    return Series.from_curves(
        Curve(panel, f"{m} concepts", u, y[g][k], None if se[g] is None else se[g][k],
              units[g])
        for g, panel in enumerate((DDPM, DROPOUT))
        for k, m in enumerate(orders(params.n_concepts)))
