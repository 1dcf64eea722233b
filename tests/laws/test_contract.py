"""The contract battery every registered law must pass (cf. scikit-learn's common checks).

A new law is tested here without a line of new test code: it declares its kind, its
tolerance's basis and its expected outcome; its smoke budget runs and does not contradict
the expected outcome; its measurement carries unit counts; a fixed seed repeats; its
prediction differs from its foil; and putting the foil in the prediction's place comes out
REFUTED (BROKEN for an identity).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import lmech.laws
from lmech.errors import LmechError
from lmech.laws import BUDGETS, AbstractLaw, Kind, Pillar, all_laws
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

    def test_declarations(self, law: AbstractLaw) -> None:
        name = law.name
        assert isinstance(law.kind, Kind), f"{name}: kind must be a Kind, got {law.kind!r}"
        basis = getattr(law, "tolerance_basis", None)
        assert basis is not None, f"{name}: declares no tolerance_basis"
        assert basis.kind in ("computed", "pilot"), \
            f"{name}: tolerance_basis.kind must be 'computed' or 'pilot', got {basis.kind!r}"
        assert basis.why.strip(), f"{name}: tolerance_basis.why is empty"
        if basis.kind == "pilot":
            assert basis.pilot_seeds, f"{name}: a pilot tolerance names its pilot seeds"
            assert basis.pilot_measured.strip(), f"{name}: say what the pilot measured"
            assert SEED not in basis.pilot_seeds and 0 not in basis.pilot_seeds, \
                f"{name}: pilot seeds must not be ones a verdict uses"
        outcomes = {o.value for o in Outcome} - {"ERROR"}
        assert law.expected_outcome in outcomes, \
            f"{name}: expected outcome {law.expected_outcome!r} is not one of {outcomes}"
        if law.finding:
            assert law.expected is not None, f"{name}: a finding declares its expected outcome"
        if law.expected is not None:
            assert law.finding.strip(), f"{name}: an expected outcome other than the default " \
                "is a recorded finding: say what was found in `finding`"
        for panel in law.panels:
            assert isinstance(panel.no_foil, str), f"{name}: panel {panel.name}: no_foil"

    def test_every_budget_validates(self, law: AbstractLaw) -> None:
        for budget in BUDGETS:
            law.parameters(budget)
        with pytest.raises(LmechError, match="unknown parameter"):
            law.parameters("smoke", {"no_such_parameter": 1})

    def test_smoke_gives_the_expected_outcome(self, law: AbstractLaw, law_run) -> None:
        run = law_run(law, SEED)
        assert run.measurement.same_points_as(run.prediction)
        assert run.foil.same_points_as(run.prediction)
        assert {p for p in run.prediction.panel} <= {p.name for p in law.panels}
        verdict = _judge(law, run.prediction, run)
        if law.kind is Kind.EMPIRICAL:
            assert np.all(run.measurement.units >= 2), \
                f"{law.name}: every measured point needs >= 2 independent units"
        # Smoke budgets test the machinery, not the theory: a correct law may lack the power
        # to show equivalence there (INCONCLUSIVE), but must never come out against the law
        # book. The quick book, where the evidence is, must give exactly what is recorded
        # (tests/laws/test_quick_book.py).
        allowed = {law.expected_outcome, Outcome.INCONCLUSIVE.value}
        if law.finding:  # a recorded finding: either direction is a decisive experiment
            allowed |= {Outcome.CONFIRMED.value, Outcome.REFUTED.value}
        assert verdict.outcome.value in allowed, verdict

    def test_tolerance_policy(self, law: AbstractLaw, law_run) -> None:
        run = law_run(law, SEED)
        exact_claim = bool(law.finding) and law.expected_outcome == "REFUTED"
        if not exact_claim:
            assert np.all(run.tolerance > 0), \
                f"{law.name}: no approximate theory gets a zero tolerance"

    def test_fixed_seed_repeats(self, law: AbstractLaw, law_run) -> None:
        run = law_run(law, SEED)
        again = law.measure(run.params, SEED)
        np.testing.assert_array_equal(again.y, run.measurement.y)
        np.testing.assert_array_equal(again.stderr, run.measurement.stderr)
        np.testing.assert_array_equal(again.units, run.measurement.units)
        np.testing.assert_array_equal(law.predict(run.params).y, run.prediction.y)

    def test_prediction_differs_from_foil(self, law: AbstractLaw, law_run) -> None:
        run = law_run(law, SEED)
        judged = ~np.isin(run.prediction.panel, law.foilless_panels())
        gap = np.abs(run.prediction.y - run.foil.y)[judged]
        assert np.any(gap > run.tolerance[judged]), "the foil lies inside the tolerance band"

    def test_foil_as_prediction_is_rejected(self, law: AbstractLaw, law_run) -> None:
        run = law_run(law, SEED)
        if law.foilless_panels():
            pytest.skip("a panel without a foil cannot stand in for the prediction")
        verdict = _judge(law, run.foil, run, foil=run.prediction)
        wrong = Outcome.BROKEN if law.kind is Kind.IDENTITY else Outcome.REFUTED
        assert verdict.outcome is wrong, verdict


def _judge(law: AbstractLaw, hypothesis, run, foil=None):
    return judge(hypothesis, run.measurement, run.foil if foil is None else foil,
                 run.tolerance, kind=law.kind, foilless_panels=law.foilless_panels())
