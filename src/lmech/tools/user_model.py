"""A user's own network, named on the command line as ``FILE.py:factory`` or
``package.module:factory``.

The tools that act on any ``nn.Module`` (pruning, coordinate checks) take the model from a
factory the user writes: a callable that builds and returns the network. Every way this
can go wrong (no such file, a module that fails to import, a missing or non-callable name,
a factory that raises or returns something other than an ``nn.Module``) is an
`LmechError` naming the spec and what is allowed.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from torch import nn

from lmech.errors import LmechError

__all__ = ["load_factory", "load_model", "model_from"]

FORMS = "FILE.py:factory or package.module:factory"


def load_factory(spec: str) -> Callable[..., Any]:
    """The callable that `spec` names, imported but not called.

    Args:
        spec: ``path/to/file.py:name`` (the file is imported as a fresh module, with its
            folder on ``sys.path`` while it imports, so it can import its neighbours) or
            ``package.module:name`` (imported the ordinary way). ``name`` may be dotted
            (``Builder.small``).

    Raises:
        LmechError: `spec` has no ``:name``, the file does not exist, the module fails to
            import (the message carries the module's own error), or the name is missing or
            not callable.

    Example:
        >>> load_factory("torch.nn:Linear")
        <class 'torch.nn.modules.linear.Linear'>
        >>> load_factory("no_such_file.py:make")
        Traceback (most recent call last):
        ...
        lmech.errors.LmechError: cannot load no_such_file.py:make: no file no_such_file.py
    """
    where, sep, name = str(spec).rpartition(":")
    if not sep or not where or not name:
        raise LmechError(f"cannot load {spec!r}: give {FORMS}")
    module = _import(spec, where)
    obj: Any = module
    for part in name.split("."):
        if not hasattr(obj, part):
            found = sorted(k for k, v in vars(module).items()
                           if callable(v) and not k.startswith("_"))[:12]
            raise LmechError(f"cannot load {spec}: {where} has no {name!r} "
                             f"(callables there: {', '.join(found) or 'none'})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise LmechError(f"cannot load {spec}: {name} is a {type(obj).__name__}, not a "
                         "callable that returns an nn.Module")
    return obj


def model_from(factory: Callable[..., Any], *args: Any, what: str = "the factory",
               **kwargs: Any) -> nn.Module:
    """``factory(*args, **kwargs)``, checked to be an ``nn.Module``.

    Raises:
        LmechError: the factory raised (its error is carried in the message) or returned
            something else; `what` names the factory in the message.

    Example:
        >>> model_from(lambda: 3, what="make")
        Traceback (most recent call last):
        ...
        lmech.errors.LmechError: make returned int, not a torch.nn.Module
    """
    try:
        model = factory(*args, **kwargs)
    except Exception as err:  # the user's code: any failure is theirs to read
        raise LmechError(f"{what} raised {type(err).__name__}: {err}") from err
    if not isinstance(model, nn.Module):
        raise LmechError(f"{what} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def load_model(spec: str, *args: Any, **kwargs: Any) -> nn.Module:
    """The network built by the factory `spec` names, called with `args` and `kwargs`.

    Example:
        >>> load_model("torch.nn:Linear", 3, 2)
        Linear(in_features=3, out_features=2, bias=True)
    """
    return model_from(load_factory(spec), *args, what=str(spec), **kwargs)


def _import(spec: str, where: str) -> ModuleType:
    """The module `where` names: a ``.py`` file (or any path) or a dotted module name."""
    if where.endswith(".py") or "/" in where or "\\" in where:
        return _import_file(spec, Path(where))
    try:
        return importlib.import_module(where)
    except Exception as err:  # ImportError and anything the module raises while importing
        raise LmechError(f"cannot load {spec}: importing {where} failed with "
                         f"{type(err).__name__}: {err}") from err


def _import_file(spec: str, path: Path) -> ModuleType:
    if not path.exists():
        raise LmechError(f"cannot load {spec}: no file {path}")
    if not path.is_file():
        raise LmechError(f"cannot load {spec}: {path} is not a file; give {FORMS}")
    path = path.resolve()
    # A fresh, unique module name per file, registered while it runs: dataclasses and
    # pickling look their module up in sys.modules.
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    name = f"lmech_user_{path.stem.replace('-', '_')}_{digest}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise LmechError(f"cannot load {spec}: {path} is not a Python file")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    sys.path.insert(0, str(path.parent))
    try:
        module_spec.loader.exec_module(module)
    except BaseException as err:  # SyntaxError, SystemExit from a script, …
        sys.modules.pop(name, None)
        if isinstance(err, KeyboardInterrupt):
            raise
        raise LmechError(f"cannot load {spec}: importing {path.name} failed with "
                         f"{type(err).__name__}: {err}") from err
    finally:
        if str(path.parent) in sys.path:
            sys.path.remove(str(path.parent))
    return module
