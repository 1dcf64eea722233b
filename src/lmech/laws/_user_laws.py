"""Laws that are not lmech's own: from a user's file or module, or a package's entry point.

A user's law is any concrete `AbstractLaw` subclass defined in the loaded module. Its name
carries its module (``mylaws:DropoutNoise``, unless the class sets ``name``), so it can
never shadow a law of the book; a law that claims a built-in name is refused. An installed
package publishes laws with an entry point in the group ``lmech.laws`` whose value is a
module (every law in it) or a law class.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

from lmech.errors import LmechError
from lmech.laws._base import AbstractLaw

__all__ = ["ENTRY_POINT_GROUP", "entry_point_laws", "is_law_source", "load_laws"]

ENTRY_POINT_GROUP = "lmech.laws"


def is_law_source(pattern: str) -> bool:
    """True when `pattern` names a file of laws (``*.py`` or a path) rather than a law."""
    return pattern.endswith(".py") or "/" in pattern or Path(pattern).is_file()


def _import_file(path: Path) -> ModuleType:
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    name = f"{path.stem}"
    key = f"lmech_user_laws_{path.stem}_{digest}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LmechError(f"cannot load laws from {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # the user's code raised on import
        del sys.modules[key]
        raise LmechError(f"importing {path} raised {type(err).__name__}: {err}") from None
    return module


def _laws_in(module: ModuleType, source: str) -> list[AbstractLaw]:
    found = []
    for _, cls in inspect.getmembers(module, inspect.isclass):
        if (issubclass(cls, AbstractLaw) and cls.__module__ == module.__name__
                and not inspect.isabstract(cls)):
            found.append(cls())
    if not found:
        raise LmechError(f"{source} defines no law (a concrete subclass of "
                         "lmech.laws.AbstractLaw)")
    return found


@cache
def load_laws(source: str) -> tuple[AbstractLaw, ...]:
    """Every law that a user's file (``path/to/laws.py``) or module (``package.laws``)
    defines, sorted by name.

    Raises:
        LmechError: the file or module does not exist or raises on import, defines no law,
            or defines a law whose name is a built-in law's.
    """
    from lmech.laws._registry import all_laws, checked

    if is_law_source(source):
        path = Path(source)
        if not path.is_file():
            raise LmechError(f"no such file of laws: {source}")
        module = _import_file(path)
    else:
        try:
            module = importlib.import_module(source)
        except ModuleNotFoundError:
            raise LmechError(f"no module {source!r} to load laws from") from None
        except Exception as err:
            raise LmechError(f"importing {source} raised {type(err).__name__}: {err}") from None
    laws = [checked(law) for law in _laws_in(module, source)]
    builtin = {law.name for law in all_laws()}
    for law in laws:
        if law.name in builtin:
            raise LmechError(f"{source} defines a law named {law.name!r}, the name of a "
                             "built-in law; give it another name")
    return tuple(sorted(laws, key=lambda law: law.name))


@cache
def entry_point_laws() -> tuple[tuple[str, AbstractLaw], ...]:
    """(source, law) for every law published under the ``lmech.laws`` entry-point group."""
    out = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        target = ep.value.split(":")[0]
        for law in load_laws(target):
            if ":" in ep.value and type(law).__name__ != ep.value.split(":")[1]:
                continue
            out.append((target, law))
    return tuple(out)
