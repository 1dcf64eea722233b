"""emergence.independence: the exact rule against an oracle, wrong exponents refuted."""

from __future__ import annotations

import numpy as np
import pytest

from lmech.errors import LmechError
from lmech.laws import Curve, Series, get_law
from lmech.laws.emergence._generators import dropout_accuracies
from lmech.laws.emergence._product_rule import composition_at_levels, on_the_rise
from lmech.run import Outcome, judge
from lmech.testing import SEED

LAW = get_law("emergence.independence")
DROPOUT = dict(width=16, init_variance=0.01, learning_rate=0.3, steps=800, record_every=10,
               masks=8)


@pytest.fixture(scope="module")
def smoke(law_run):
    return law_run(LAW, SEED)


def test_smoke_is_near_the_product_and_far_from_the_foil(smoke) -> None:
    """Not a verdict (the exact rule's failure is the recorded finding): the sizes only.
    Both generators sit within a few points of u^m, and each panel rejects the one-skill
    foil by many standard errors."""
    _, prediction, measurement, foil, _ = smoke
    assert np.abs(measurement.y - prediction.y).max() < 0.05
    z_foil = np.abs(measurement.y - foil.y) / measurement.stderr
    for panel in ("DDPM", "dropout generator"):
        assert z_foil[measurement.panel == panel].max() > 20, panel


@pytest.mark.parametrize("shift", [-1, 1])
def test_wrong_number_of_concepts_is_refuted(smoke, shift) -> None:
    """u^(m ± 1) in place of u^m: the product over the wrong number of concepts."""
    _, prediction, measurement, foil, tol = smoke
    curves = [Curve(c.panel, c.name, c.x,
                    np.asarray(c.x) ** (int(c.name.split()[0]) + shift))
              for c in prediction.curves()]
    verdict = judge(Series.from_curves(curves), measurement, foil, tol)
    assert verdict.outcome is Outcome.REFUTED, verdict


def test_independent_output_noise_gives_the_product() -> None:
    """Oracle: without dropout, a sample's concepts see independent noise (isotropic noise
    projected on orthonormal prototypes), so each network's composition accuracy is the
    product of its concepts' in expectation: the read-out must return u^m."""
    acc = dropout_accuracies(3, 8, 64, rate=1e-9, noise=0.2, member_ids=range(24), seed=11,
                             **DROPOUT)
    levels = (0.6, 0.75, 0.9)
    y, se = composition_at_levels(on_the_rise(acc, levels=levels), levels)
    for k, m in enumerate((2, 3)):
        z = (y[k] - np.array(levels) ** m) / se[k]
        assert np.abs(z).max() < 4.0, (m, y[k], se[k])


def test_dropout_members_do_not_depend_on_the_ensemble_size() -> None:
    kw = dict(DROPOUT, steps=40, record_every=4)
    a = dropout_accuracies(3, 8, 8, rate=0.1, noise=0.1, member_ids=[5, 6], seed=2, **kw)
    b = dropout_accuracies(3, 8, 8, rate=0.1, noise=0.1, member_ids=[5, 6, 7], seed=2, **kw)
    np.testing.assert_array_equal(a.concept, b.concept[:2])
    np.testing.assert_array_equal(a.whole, b.whole[:2])


def test_the_two_generators_are_distinct_networks(smoke) -> None:
    """Each panel rests on its own ensemble (distinct network ids): units per panel."""
    params, _, measurement, _, _ = smoke
    units = {p: set(measurement.units[measurement.panel == p]) for p in ("DDPM",
                                                                           "dropout generator")}
    assert units == {"DDPM": {params.n_members}, "dropout generator": {params.dropout_members}}


def test_parameters_are_checked() -> None:
    with pytest.raises(LmechError, match="dim must be"):
        LAW.parameters("smoke", {"n_concepts": 5, "dim": 4})
    with pytest.raises(LmechError, match="levels"):
        LAW.parameters("smoke", {"levels": (0.9, 0.7)})
    with pytest.raises(LmechError, match="levels"):
        LAW.parameters("smoke", {"levels": (0.7, 1.0)})
    with pytest.raises(LmechError, match="dropout_record_every"):
        LAW.parameters("smoke", {"dropout_record_every": 1000})
    with pytest.raises(LmechError, match="dropout_rate"):
        LAW.parameters("smoke", {"dropout_rate": 0.0})


def test_too_short_training_says_so() -> None:
    """A dropout generator stopped before its compositions rise: the read-out names it."""
    acc = dropout_accuracies(3, 8, 16, rate=0.1, noise=0.1, member_ids=range(4), seed=0,
                             **dict(DROPOUT, steps=60, record_every=6))
    with pytest.raises(LmechError, match="increase steps|levels must exceed"):
        composition_at_levels(on_the_rise(acc, levels=(0.7, 0.9)), (0.7, 0.9))
