"""The contract battery every registered law must pass (cf. scikit-learn's common checks).

A new law is tested here without a line of new test code: its smoke budget runs and
confirms, a fixed seed repeats, its prediction differs from its foil, and putting the foil
in the prediction's place comes out REFUTED.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import lmech.laws
from lmech.errors import LmechError
from lmech.laws import BUDGETS, AbstractLaw, Pillar, all_laws
from lmech.run import Outcome, judge

LAWS = all_laws()
SEED = 7


def test_registry_finds_laws() -> None:
    assert "dln.saxe_modes" in [law.name for law in LAWS]


@pytest.mark.parametrize("law", LAWS, ids=lambda law: law.name)
class TestLawContract:
    def test_identity(self, law: AbstractLaw) -> None:
        root = Path(lmech.laws.__file__).parent
        assert (root / (law.name.replace(".", "/") + ".py")).is_file()
        assert law.claim.strip() and law.source.strip()
        assert isinstance(law.pillar, Pillar)
        assert law.panels, "a law declares at least one panel"

    def test_every_budget_validates(self, law: AbstractLaw) -> None:
        for budget in BUDGETS:
            law.parameters(budget)
        with pytest.raises(LmechError, match="unknown parameter"):
            law.parameters("smoke", {"no_such_parameter": 1})

    def test_smoke_runs_and_confirms(self, law: AbstractLaw, law_run) -> None:
        run = law_run(law, SEED)
        assert run.measurement.same_points_as(run.prediction)
        assert run.foil.same_points_as(run.prediction)
        assert {p for p in run.prediction.panel} <= {p.name for p in law.panels}
        verdict = judge(run.prediction, run.measurement, run.foil, run.tolerance)
        if not law.finding:
            assert verdict.outcome is Outcome.CONFIRMED, verdict
        else:  # a recorded finding against the theory: the experiment must still be decisive
            assert verdict.outcome in (Outcome.CONFIRMED, Outcome.REFUTED), verdict
            assert verdict.foil_z > verdict.z_critical, verdict

    def test_fixed_seed_repeats(self, law: AbstractLaw, law_run) -> None:
        run = law_run(law, SEED)
        again = law.measure(run.params, SEED)
        np.testing.assert_array_equal(again.y, run.measurement.y)
        np.testing.assert_array_equal(again.stderr, run.measurement.stderr)
        np.testing.assert_array_equal(law.predict(run.params).y, run.prediction.y)

    def test_prediction_differs_from_foil(self, law: AbstractLaw, law_run) -> None:
        run = law_run(law, SEED)
        gap = np.abs(run.prediction.y - run.foil.y)
        assert np.any(gap > run.tolerance), "the foil lies inside the tolerance band"

    def test_foil_as_prediction_is_refuted(self, law: AbstractLaw, law_run) -> None:
        run = law_run(law, SEED)
        verdict = judge(run.foil, run.measurement, run.prediction, run.tolerance)
        assert verdict.outcome is Outcome.REFUTED, verdict
