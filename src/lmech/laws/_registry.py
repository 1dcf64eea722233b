"""Find laws by walking the `lmech.laws` package (no central list to edit), and the laws
of users' files, modules and installed packages (`lmech.laws._user_laws`)."""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import pkgutil
from functools import cache

from lmech.errors import LmechError
from lmech.laws._base import BUDGETS, AbstractLaw

__all__ = ["all_laws", "find_law", "get_law", "law_source", "select_laws"]


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
                found.append(checked(cls()))
    return tuple(sorted(found, key=lambda law: law.name))


def checked(law: AbstractLaw) -> AbstractLaw:
    """`law`, once it declares every budget (a TypeError for the law's author otherwise)."""
    missing = [b for b in BUDGETS if b not in law.budgets]
    if missing:
        raise TypeError(f"law {law.name} declares no budget {', '.join(missing)}")
    return law


_SOURCES: dict[str, str] = {}
"""Where each law that is not lmech's own came from (its name → file or module)."""


def law_source(law: AbstractLaw) -> str:
    """"" for a law of lmech's book, else the file or module it was loaded from."""
    return _SOURCES.get(law.name, "")


def _known() -> list[AbstractLaw]:
    """lmech's book and the laws installed packages publish."""
    from lmech.laws._user_laws import entry_point_laws

    published = []
    for source, law in entry_point_laws():
        _SOURCES[law.name] = source
        published.append(law)
    return [*all_laws(), *published]


def _from_source(pattern: str) -> list[AbstractLaw] | None:
    """The laws of a user's file or module named by `pattern`, or None if it names none."""
    from lmech.laws._user_laws import is_law_source, load_laws

    if not is_law_source(pattern):
        try:
            found = importlib.util.find_spec(pattern) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return None
    laws = list(load_laws(pattern))
    for law in laws:
        _SOURCES[law.name] = pattern
    return laws


def select_laws(patterns: list[str] | str | None = None) -> list[AbstractLaw]:
    """Laws named by `patterns` (every law of the book when empty): a pattern that is a
    law's whole name selects that law alone, any other pattern every law whose name starts
    with it; a pattern naming a file of laws (``path/to/laws.py``) or an importable module
    that is not a law's name selects every law defined there.

    Raises:
        LmechError: a pattern matches no law; the message lists the closest names.
    """
    if isinstance(patterns, str):
        patterns = [patterns]
    if patterns is None or len(patterns) == 0:
        return list(all_laws())
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern.strip():
            raise LmechError(f"a law name must be a non-empty string, got {pattern!r}; "
                             "leave the names out to select every law")
    laws = _known()
    names = [law.name for law in laws]
    chosen: dict[str, AbstractLaw] = {}
    for pattern in patterns:
        hits = ([law for law in laws if law.name == pattern]
                or [law for law in laws if law.name.startswith(pattern)]
                or _from_source(pattern))
        if not hits:
            close = difflib.get_close_matches(pattern, names, n=3, cutoff=0.3)
            hint = f"closest: {', '.join(close)}" if close else f"known: {', '.join(names)}"
            raise LmechError(f"unknown law {pattern!r}; {hint}")
        for law in hits:
            chosen.setdefault(law.name, law)
    return list(chosen.values())


def find_law(name: str, source: str = "") -> AbstractLaw:
    """The law called `name` in lmech's book (`source` ""), or in a user's file or module."""
    from lmech.laws._user_laws import load_laws

    pool = load_laws(source) if source else _known()
    for law in pool:
        if law.name == name:
            return law
    raise LmechError(f"no law {name!r} in {source or 'the law book'}")


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
