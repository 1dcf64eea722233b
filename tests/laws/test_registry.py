"""Choosing laws by name: a whole name is one law, anything else a prefix."""

from __future__ import annotations

import pytest

from lmech.errors import LmechError
from lmech.laws import select_laws


def _names(patterns) -> list[str]:
    return [law.name for law in select_laws(patterns)]


def test_a_whole_name_selects_that_law_alone() -> None:
    # emergence.compositional is also a prefix of emergence.compositional_diffusion
    assert _names(["emergence.compositional"]) == ["emergence.compositional"]


def test_a_prefix_selects_every_law_it_begins() -> None:
    assert _names(["emergence.comp"]) == ["emergence.compositional",
                                          "emergence.compositional_diffusion"]
    assert all(name.startswith("init.") for name in _names(["init."]))


def test_an_unknown_name_lists_the_closest() -> None:
    with pytest.raises(LmechError, match="closest: emergence.compositional"):
        select_laws(["emergence.compositionl"])
