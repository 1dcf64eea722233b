"""emergence.compositional_diffusion: wrong theories refuted, members independent, inputs
checked."""

from __future__ import annotations

import numpy as np
import pytest

from lmech.errors import LmechError
from lmech.laws import Curve, Series, get_law
from lmech.laws.emergence._generators import diffusion_accuracies
from lmech.laws.emergence.compositional_diffusion import DELAY, EXPONENT, RISE
from lmech.run import Outcome, judge
from lmech.testing import SEED

LAW = get_law("emergence.compositional_diffusion")
LO, HI = LAW.parameters("smoke").rise  # the rise's read-out levels at smoke


@pytest.fixture(scope="module")
def smoke(law_run):
    return law_run(LAW, SEED)


def _replace(prediction: Series, panel: str, y) -> Series:
    """The prediction with `panel`'s values replaced by y(m) (one curve per panel here)."""
    return Series.from_curves(
        Curve(c.panel, c.name, c.x, y(np.asarray(c.x)) if c.panel == panel else c.y)
        for c in prediction.curves())


@pytest.mark.parametrize("panel,wrong", [
    (EXPONENT, lambda m: m + 1),  # the product over one concept too many
    (EXPONENT, lambda m: m - 1),  # … or too few
    (EXPONENT, lambda m: (m + 1) / 2),  # half-way to one skill
    (DELAY, lambda m: 0.5 + 0 * m),  # compositions lag half as much as the product says
    (RISE, lambda m: HI ** (1 / (m + 1)) - LO ** (1 / (m + 1))),  # one concept too many
])
def test_plausible_wrong_theories_are_refuted(smoke, panel, wrong) -> None:
    _, prediction, measurement, foil, tol = smoke
    verdict = judge(_replace(prediction, panel, wrong), measurement, foil, tol)
    assert verdict.outcome is Outcome.REFUTED, verdict


def test_margins_are_under_half_the_foil_gap(smoke) -> None:
    """The declared margins never hide the one-skill foil (docs/verdicts.md)."""
    params, prediction, _, foil, tol = smoke
    assert np.all(tol < np.abs(prediction.y - foil.y) / 2)
    quick = LAW.parameters("quick")
    p, f = LAW.predict(quick), LAW.foil(quick)
    assert np.all(LAW.tolerance(quick, p) < np.abs(p.y - f.y) / 2)


def test_members_do_not_depend_on_the_ensemble_size() -> None:
    small = LAW.parameters("smoke", {"n_members": 3, "steps": 60, "records": 4,
                                     "first_record": 10})
    large = small.model_copy(update={"n_members": 5})
    a, b = diffusion_accuracies(small, 3), diffusion_accuracies(large, 3)
    np.testing.assert_array_equal(a.concept, b.concept[:3])
    np.testing.assert_array_equal(a.whole, b.whole[:3])
    np.testing.assert_array_equal(a.steps, b.steps)


def test_parameters_are_checked() -> None:
    with pytest.raises(LmechError, match="dim must be"):
        LAW.parameters("smoke", {"n_concepts": 5, "dim": 4})
    with pytest.raises(LmechError, match="levels"):
        LAW.parameters("smoke", {"levels": (0.8, 0.6)})
    with pytest.raises(LmechError, match="delay_levels"):
        LAW.parameters("smoke", {"delay_levels": (0.5, 1.0)})
    with pytest.raises(LmechError, match="rise"):
        LAW.parameters("smoke", {"rise": (0.8, 0.3)})
    with pytest.raises(LmechError, match="first_record"):
        LAW.parameters("smoke", {"first_record": 5000})
    with pytest.raises(LmechError, match="diffusion_steps"):
        LAW.parameters("smoke", {"diffusion_steps": 20})


def test_levels_under_the_chance_floor_are_refused() -> None:
    params = LAW.parameters("smoke", {"levels": (0.3, 0.9)})
    with pytest.raises(LmechError, match="levels must exceed"):
        LAW.measure(params, 0)


def test_too_short_training_says_so() -> None:
    params = LAW.parameters("smoke", {"steps": 60, "records": 6, "first_record": 10})
    with pytest.raises(LmechError, match="increase steps|levels must exceed"):
        LAW.measure(params, 0)
