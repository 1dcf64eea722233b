"""The contract battery every registered law must pass (cf. scikit-learn's common checks).

A new law is tested here without a line of new test code: `lmech.testing` holds the
checks (public, so that a user's laws are checked the same way) and this file runs each
of them on every law of the book.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import lmech.laws
from lmech.laws import all_laws
from lmech.testing import LAW_CHECKS, run_check

LAWS = all_laws()


def test_registry_finds_laws() -> None:
    assert "dln.saxe_modes" in [law.name for law in LAWS]


@pytest.mark.parametrize("law", LAWS, ids=lambda law: law.name)
def test_a_law_of_the_book_is_its_file(law) -> None:
    root = Path(lmech.laws.__file__).parent
    assert (root / (law.name.replace(".", "/") + ".py")).is_file()


@pytest.mark.parametrize("check", LAW_CHECKS)
@pytest.mark.parametrize("law", LAWS, ids=lambda law: law.name)
def test_contract(law, check) -> None:
    run_check(law, check)
