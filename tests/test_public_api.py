"""Every name a package exports in `__all__` resolves, and the packages import one another
only along DESIGN.md's data flow (nothing imports the CLI; only the CLI imports the tools)."""

from __future__ import annotations

import ast
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
        if root / "cli" not in path.parents:
            assert "lmech.cli" not in path.read_text(), path


def _lmech_imports(path: Path) -> set[str]:
    """The lmech sub-packages a module imports (``lmech.tools.x`` → ``tools``), anywhere in
    it, including imports inside functions; type-checking-only imports do not count."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            node.body = []
    found = set()
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module] if isinstance(node, ast.ImportFrom) and node.module
                 else [])
        found.update(n.split(".")[1] for n in names if n.startswith("lmech."))
    return found


# What each package may import from lmech (DESIGN.md's data flow). `tools` reads runs from
# the store of `run`; `measure` observes networks and training.
_BELOW_LAWS = {"errors", "theory", "models", "tasks", "ensemble", "measure"}
ALLOWED_IMPORTS = {
    "models": {"errors", "theory", "models"},
    "tasks": {"errors", "tasks"},
    "ensemble": {"errors", "theory", "models", "tasks", "ensemble", "measure"},
    "measure": {"errors", "theory", "models", "tasks", "ensemble", "measure"},
    "laws": _BELOW_LAWS | {"laws", "budgets"},
    "run": {"errors", "laws", "run", "budgets"},
    "report": {"errors", "run", "report"},
    "tools": _BELOW_LAWS | {"run", "tools"},
}


@pytest.mark.parametrize("package", sorted(ALLOWED_IMPORTS))
def test_package_imports_only_what_it_may(package: str) -> None:
    root = Path(lmech.__file__).parent / package
    for path in root.rglob("*.py"):
        extra = _lmech_imports(path) - ALLOWED_IMPORTS[package]
        assert not extra, f"{path} imports lmech.{', lmech.'.join(sorted(extra))}"


def test_only_the_cli_imports_the_tools() -> None:
    """The practitioner tools stand apart: no law, runner or observable needs them."""
    root = Path(lmech.__file__).parent
    for path in root.rglob("*.py"):
        if root / "cli" not in path.parents and root / "tools" not in path.parents:
            assert "tools" not in _lmech_imports(path), path


def test_no_module_changes_plotting_state() -> None:
    """Figures are `matplotlib.figure.Figure` objects: no module picks a backend or drives
    pyplot's global figure state."""
    root = Path(lmech.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text()
        assert "matplotlib.use(" not in text and "pyplot" not in text, path
