"""The one exception type users see: a mistake they can fix, named with what is allowed."""

from __future__ import annotations

__all__ = ["LmechError"]


class LmechError(Exception):
    """A problem the user caused (bad name, bad parameter, unwritable path, shape mismatch).

    The message names the offending thing and says what is allowed; the CLI prints it
    on one line without a traceback and exits with status 2.
    """
