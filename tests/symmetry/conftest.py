"""Module constructors draw their initial weights from torch's global generator: each test
here runs inside `fork_rng` with a fixed seed, so its networks are the same on every run and
the global state is restored afterwards (nothing leaks into other tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _scoped_global_rng() -> Iterator[None]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        yield
