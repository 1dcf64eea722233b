"""Strict test setup: warnings are errors (pyproject), seeded generators, no network."""

from __future__ import annotations

import socket

import numpy as np
import pytest
import torch


@pytest.fixture
def generator() -> torch.Generator:
    """A seeded torch generator; tests never touch the global RNG."""
    return torch.Generator().manual_seed(1234)


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded numpy generator."""
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing may reach the network at test time (this machine's loopback excepted)."""

    def refuse(self, address, *args, **kwargs):
        host = address[0] if isinstance(address, tuple) else address
        loopback = host in ("127.0.0.1", "::1", "localhost")  # a local browser driver, Ray
        if self.family in (socket.AF_INET, socket.AF_INET6) and not loopback:
            raise RuntimeError(f"tests must not use the network (tried {address!r})")
        return real_connect(self, address, *args, **kwargs)

    real_connect = socket.socket.connect
    monkeypatch.setattr(socket.socket, "connect", refuse)
