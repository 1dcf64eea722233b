"""One intra-op thread while training tiny networks, restored afterwards.

The networks of these laws are so small (≈ 10⁴ parameters, ≈ 10² samples) that a second
torch thread only adds synchronisation; on a shared two-core machine a busy peer makes
each multi-threaded backward pass 10–30× slower than a single-threaded one (measured:
1.3 ms vs 8–30 ms for a 32-wide MLP on 64 samples). The setting is scoped: the caller's
thread count is restored on exit, also when the body raises.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["single_thread"]


@contextmanager
def single_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
