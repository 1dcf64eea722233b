"""Choosing laws by name: a whole name is one law, anything else a prefix."""

from __future__ import annotations

import pytest

from lmech.errors import LmechError
from lmech.laws import _registry, select_laws


def _names(patterns) -> list[str]:
    return [law.name for law in select_laws(patterns)]


class _Published:
    """A stand-in for a law an installed package publishes (selection reads its name)."""

    name = "emergence.independence_by_width"


def test_a_whole_name_selects_that_law_alone(monkeypatch) -> None:
    # with the published law, emergence.independence is also a prefix of another name
    book = _registry._known()
    monkeypatch.setattr(_registry, "_known", lambda: [*book, _Published()])
    assert _names(["emergence.independence"]) == ["emergence.independence"]
    assert _names(["emergence.independence_"]) == ["emergence.independence_by_width"]
    assert _names(["emergence.indep"]) == ["emergence.independence",
                                           "emergence.independence_by_width"]


def test_a_prefix_selects_every_law_it_begins() -> None:
    assert _names(["dln.saxe"]) == ["dln.saxe_modes", "dln.saxe_scalar_map"]
    assert _names(["emergence."]) == ["emergence.compositional_diffusion",
                                      "emergence.independence"]
    assert all(name.startswith("init.") for name in _names(["init."]))


def test_an_unknown_name_lists_the_closest() -> None:
    with pytest.raises(LmechError, match="closest: emergence.compositional_diffusion"):
        select_laws(["emergence.compositionl"])
