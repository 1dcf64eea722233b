"""Every name a package exports in `__all__` resolves, and nothing imports the CLI."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

import lmech

PACKAGES = ["lmech"] + [
    m.name for m in pkgutil.walk_packages(lmech.__path__, prefix="lmech.") if m.ispkg
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_resolves(name: str) -> None:
    module = importlib.import_module(name)
    for public in getattr(module, "__all__", []):
        assert hasattr(module, public), f"{name}.__all__ lists {public!r} but it is missing"


def test_theory_imports_nothing_from_the_rest() -> None:
    """DESIGN.md: `theory` imports nothing from lmech but its error type."""
    root = Path(lmech.__file__).parent / "theory"
    for path in root.rglob("*.py"):
        for line in path.read_text().splitlines():
            if line.startswith(("from lmech", "import lmech")):
                assert line.startswith(("from lmech.theory", "from lmech.errors")), (path, line)


def test_nothing_imports_the_cli() -> None:
    root = Path(lmech.__file__).parent
    for path in root.rglob("*.py"):
        if path.name != "cli.py":
            assert "lmech.cli" not in path.read_text(), path
