"""`lmech.testing`: the public contract battery catches what it promises to catch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fake_laws import CorrectLaw, FoilIsPredictionLaw, WrongLaw
from lmech.laws import Kind, ToleranceBasis
from lmech.testing import LAW_CHECKS, check_law, run_check


def test_a_correct_law_passes_every_check() -> None:
    check_law(CorrectLaw())


@pytest.mark.parametrize(("law", "failing"), [
    (WrongLaw(), "smoke_outcome"),
    (FoilIsPredictionLaw(), "prediction_differs_from_foil"),
])
def test_a_broken_law_fails_the_right_check(law, failing) -> None:
    with pytest.raises(AssertionError, match=law.name):
        run_check(law, failing)


def test_declarations_are_named() -> None:
    class NoBasis(CorrectLaw):
        name = "fake.no_basis"
        tolerance_basis = None

    class PilotWithoutSeeds(CorrectLaw):
        name = "fake.pilot_without_seeds"
        tolerance_basis = ToleranceBasis("pilot", "a margin")

    class BadExpected(CorrectLaw):
        name = "fake.bad_expected"
        finding = "something"
        expected = "MAYBE"

    class ZeroTolerance(CorrectLaw):
        name = "fake.zero_tolerance"

        def tolerance(self, params, prediction):
            return np.zeros(len(prediction))

    for law, fragment in ((NoBasis(), "tolerance_basis"), (PilotWithoutSeeds(), "pilot seeds"),
                          (BadExpected(), "MAYBE")):
        with pytest.raises(AssertionError, match=fragment):
            run_check(law, "declarations")
    with pytest.raises(AssertionError, match="zero tolerance"):
        run_check(ZeroTolerance(), "tolerance_policy")


def test_an_identity_law_is_checked_as_one() -> None:
    class Identity(CorrectLaw):
        name = "fake.identity_law"
        kind = Kind.IDENTITY

    check_law(Identity())


def test_a_torch_law_that_drops_its_device_fails() -> None:
    class DropsDevice(CorrectLaw):
        name = "fake.drops_device"

        def measure(self, params, seed, *, device="cpu", progress=lambda f: None):
            torch.zeros(1)  # work placed on the default device, whatever the user asked
            return super().measure(params, seed, progress=progress)

    class PassesDevice(DropsDevice):
        name = "fake.passes_device"

        def measure(self, params, seed, *, device="cpu", progress=lambda f: None):
            torch.zeros(1, device=device)
            return CorrectLaw.measure(self, params, seed, progress=progress)

    with pytest.raises(AssertionError, match="fake.drops_device: measure ignores its device"):
        run_check(DropsDevice(), "progress_and_device")
    run_check(PassesDevice(), "progress_and_device")
    run_check(CorrectLaw(), "progress_and_device")  # numpy only: nothing to place


def test_every_check_has_a_name() -> None:
    assert "smoke_outcome" in LAW_CHECKS and len(set(LAW_CHECKS)) == len(LAW_CHECKS)
