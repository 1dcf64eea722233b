"""Save a pruned network's ``state_dict`` (weights and masks) and load it into a fresh one."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from lmech.errors import LmechError

__all__ = ["load_pruned", "save_pruned", "writable_checkpoint"]


def writable_checkpoint(path: str | Path) -> Path:
    """`path` as a ``Path``, once it is known that a file can be written there (checked
    before any work; nothing is left behind).

    Raises:
        LmechError: `path` is a directory, its folder does not exist, or it cannot be
            written.

    Example:
        >>> writable_checkpoint("/no/dir/model.pt")
        Traceback (most recent call last):
        ...
        lmech.errors.LmechError: cannot write /no/dir/model.pt: directory /no/dir does not exist
    """
    out = Path(path)
    if out.is_dir():
        raise LmechError(f"the output {out} is a directory; give a file name such as "
                         f"{out / 'pruned.pt'}")
    if not out.parent.is_dir():
        why = "is not a directory" if out.parent.exists() else "does not exist"
        raise LmechError(f"cannot write {out}: directory {out.parent} {why}")
    try:
        if out.exists():
            with open(out, "ab"):
                pass
        else:
            with tempfile.TemporaryFile(dir=out.parent):
                pass
    except OSError as err:
        raise LmechError(f"cannot write {out}: {err.strerror}") from None
    return out


def save_pruned(model: nn.Module, path: str | Path) -> Path:
    """Write ``model.state_dict()`` (with every ``*_orig`` weight and ``*_mask``) to `path`."""
    out = writable_checkpoint(path)
    torch.save(model.state_dict(), out)
    return out


def load_pruned(model: nn.Module, source: str | Path | Mapping[str, torch.Tensor]
                ) -> nn.Module:
    """Load a pruned ``state_dict`` (or a file `save_pruned` wrote) into `model` in place.

    `model` is a fresh, unpruned instance of the same architecture: every ``name_mask``
    in the state dict first becomes a pruning mask of `model` (``prune.identity``), then
    ``load_state_dict`` fills in the weights and masks. Returns `model`.

    Raises:
        LmechError: the file cannot be read, or the state dict does not fit `model`.
    """
    if isinstance(source, str | Path):
        try:
            state = torch.load(source, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError) as err:
            raise LmechError(f"cannot read a state_dict from {source}: {err}") from None
    else:
        state = source
    if not isinstance(state, Mapping):
        raise LmechError(f"expected a state_dict, got {type(state).__name__}")
    for key in state:
        if not key.endswith("_mask"):
            continue
        module_name, _, attr = key[: -len("_mask")].rpartition(".")
        try:
            module = model.get_submodule(module_name)
        except AttributeError:
            raise LmechError(f"the state_dict prunes {key[:-5]}, but the model has no "
                             f"layer {module_name!r}") from None
        if not isinstance(getattr(module, f"{attr}_orig", None), torch.Tensor):
            if not isinstance(getattr(module, attr, None), torch.Tensor):
                raise LmechError(f"the state_dict prunes {key[:-5]}, but "
                                 f"{module_name or 'the model'} has no tensor {attr!r}")
            torch_prune.identity(module, attr)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        detail = " ".join(str(err).split())
        raise LmechError(f"the state_dict does not fit {type(model).__name__}: "
                         f"{detail[:400]}") from None
    return model
