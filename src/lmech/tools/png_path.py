"""Check where a figure will be written before the work that draws it starts."""

from __future__ import annotations

import tempfile
from pathlib import Path

from lmech.errors import LmechError

__all__ = ["writable_png"]


def writable_png(path: str | Path) -> Path:
    """`path` as a ``Path``, once it is known that a PNG can be written there.

    Allowed: a file name ending in ``.png`` (any case) in an existing directory where a
    file can be created, or an existing file that can be written. Nothing is left behind
    by the check (an existing file is opened for appending, not truncated).

    Raises:
        LmechError: `path` is a directory, does not end in ``.png``, its directory does not
            exist, or the file cannot be written (the message names the path and why).

    Example:
        >>> writable_png("/no/dir/fit.png")
        Traceback (most recent call last):
        ...
        lmech.errors.LmechError: cannot write /no/dir/fit.png: directory /no/dir does not exist
    """
    out = Path(path)
    if out.is_dir():
        raise LmechError(f"the PNG path {out} is a directory; give a file name ending in .png "
                         f"(e.g. {out / 'figure.png'})")
    if out.suffix.lower() != ".png":
        raise LmechError(f"the PNG path {out} must end in .png")
    folder = out.parent
    if not folder.is_dir():
        why = "is not a directory" if folder.exists() else "does not exist"
        raise LmechError(f"cannot write {out}: directory {folder} {why}")
    try:
        if out.exists():
            with open(out, "ab"):
                pass
        else:
            with tempfile.TemporaryFile(dir=folder):
                pass
    except OSError as err:
        raise LmechError(f"cannot write {out}: {err.strerror}") from None
    return out
