"""Find laws by walking the `lmech.laws` package: no central list to edit."""

from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
from functools import cache

from lmech.errors import LmechError
from lmech.laws._base import BUDGETS, AbstractLaw

__all__ = ["all_laws", "get_law", "select_laws"]


@cache
def all_laws() -> tuple[AbstractLaw, ...]:
    """Every law defined in a module under ``lmech.laws``, sorted by name."""
    import lmech.laws as package

    found: list[AbstractLaw] = []
    for info in pkgutil.walk_packages(package.__path__, prefix="lmech.laws."):
        leaf = info.name.rsplit(".", 1)[-1]
        if leaf.startswith("_") or info.ispkg:
            continue
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, AbstractLaw)
                and cls.__module__ == module.__name__
                and not inspect.isabstract(cls)
            ):
                found.append(_checked(cls()))
    return tuple(sorted(found, key=lambda law: law.name))


def _checked(law: AbstractLaw) -> AbstractLaw:
    missing = [b for b in BUDGETS if b not in law.budgets]
    if missing:
        raise TypeError(f"law {law.name} declares no budget {', '.join(missing)}")
    return law


def select_laws(patterns: list[str] | str | None = None) -> list[AbstractLaw]:
    """Laws named by `patterns` (all laws when empty): a pattern that is a law's whole name
    selects that law alone, any other pattern every law whose name starts with it.

    Raises:
        LmechError: a pattern matches no law; the message lists the closest names.
    """
    laws = all_laws()
    if isinstance(patterns, str):
        patterns = [patterns]
    if patterns is None or (not isinstance(patterns, str) and len(patterns) == 0):
        return list(laws)
    names = [law.name for law in laws]
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern.strip():
            raise LmechError(f"a law name must be a non-empty string, got {pattern!r}; "
                             "leave the names out to select every law")
    chosen: dict[str, AbstractLaw] = {}
    for pattern in patterns:
        hits = ([law for law in laws if law.name == pattern]
                or [law for law in laws if law.name.startswith(pattern)])
        if not hits:
            close = difflib.get_close_matches(pattern, names, n=3, cutoff=0.3)
            hint = f"closest: {', '.join(close)}" if close else f"known: {', '.join(names)}"
            raise LmechError(f"unknown law {pattern!r}; {hint}")
        for law in hits:
            chosen.setdefault(law.name, law)
    return list(chosen.values())


def get_law(name: str) -> AbstractLaw:
    """The one law named exactly `name` (or the only one it is a prefix of)."""
    if not isinstance(name, str):
        raise LmechError(f"a law name must be a string, got {name!r}")
    hits = select_laws([name])
    exact = [law for law in hits if law.name == name]
    if exact:
        return exact[0]
    if len(hits) > 1:
        raise LmechError(
            f"{name!r} matches several laws: {', '.join(h.name for h in hits)}; give one name"
        )
    return hits[0]
