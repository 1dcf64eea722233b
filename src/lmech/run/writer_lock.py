"""One writer at a time on a store: an advisory file lock beside it.

DuckDB lets one process hold a read-write connection to a file, and a read-only
connection cannot coexist with it. lmech therefore opens the store only briefly (one
transaction per law) and only while holding ``DIR/.lmech.lock``: exclusively to write,
shared to read. Two `lmech verify` runs on one ``--out`` then take turns: each waits for
the other's transaction to end instead of failing on DuckDB's lock. The holder of the
exclusive lock writes its pid and command into ``DIR/.lmech.writer`` so that a waiting
process can name it.

On a platform without ``fcntl`` (Windows) the lock is a no-op: concurrent runs there
are not supported.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["LOCK_FILE", "WRITER_FILE", "LockTimeout", "WriterLock"]

LOCK_FILE = ".lmech.lock"
WRITER_FILE = ".lmech.writer"
POLL_SECONDS = 0.05
ANNOUNCE_AFTER = 1.0  # seconds of waiting before the waiting callback is told who holds it


class LockTimeout(TimeoutError):
    """The store's lock was not granted within the timeout."""


class WriterLock:
    """The advisory lock of the store in `directory`.

    Args:
        directory: the store's directory.
        timeout: seconds to wait for the lock before `LockTimeout`.
        waiting: called once, with a description of the holder, when a wait has lasted
            `ANNOUNCE_AFTER` seconds.
    """

    def __init__(self, directory: Path, timeout: float = 300.0,
                 waiting: Callable[[str], None] | None = None) -> None:
        self.directory = Path(directory)
        self.timeout = timeout
        self.waiting = waiting

    @contextmanager
    def hold(self, exclusive: bool) -> Iterator[None]:
        """Hold the lock (exclusive to write, shared to read) for the block."""
        if fcntl is None:
            yield
            return
        with open(self.directory / LOCK_FILE, "a+") as handle:
            self._acquire(handle, exclusive)
            try:
                if exclusive:
                    _write_holder(self.directory / WRITER_FILE)
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _acquire(self, handle, exclusive: bool) -> None:
        mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        start = time.monotonic()
        announced = False
        while True:
            try:
                fcntl.flock(handle, mode)
                return
            except BlockingIOError:
                waited = time.monotonic() - start
                if waited > self.timeout:
                    raise LockTimeout(
                        f"the store in {self.directory} stayed locked for {self.timeout:g} s "
                        f"by {holder(self.directory)}"
                    ) from None
                if not announced and waited > ANNOUNCE_AFTER and self.waiting is not None:
                    self.waiting(holder(self.directory))
                    announced = True
                time.sleep(POLL_SECONDS)


def _write_holder(path: Path) -> None:
    try:
        path.write_text(f"{os.getpid()} {' '.join(sys.argv)}\n")
    except OSError:
        pass  # naming the holder is a courtesy; the lock itself is what matters


def holder(directory: Path) -> str:
    """"lmech process <pid> (<command>)" of the last writer, as far as it is known."""
    try:
        pid, _, command = (Path(directory) / WRITER_FILE).read_text().strip().partition(" ")
    except OSError:
        return "another lmech process"
    return f"lmech process {pid} ({command or 'unknown command'})"
