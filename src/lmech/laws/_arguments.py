"""Checks of the arguments every law's `measure` takes: the seed and the device."""

from __future__ import annotations

from typing import Any

from lmech.errors import LmechError

__all__ = ["MAX_SEED", "check_device", "check_seed"]

MAX_SEED = 2**63 - 1
"""Seeds are 63-bit so that every derived stream fits torch's and numpy's generators."""


def check_seed(seed: Any) -> int:
    """`seed` if it is an integer in 0 … 2⁶³ − 1, else an LmechError naming it."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise LmechError(f"seed must be an integer in 0 … 2^63 − 1, got {seed!r}")
    return seed


def check_device(device: Any) -> str:
    """`device` as a string naming an available torch device, else an LmechError."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise LmechError(f"unknown device {device!r}; use e.g. cpu or cuda:0") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise LmechError(f"device {device!r} is not available here; use cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise LmechError(f"device {device!r} does not exist here; "
                         f"{torch.cuda.device_count()} CUDA devices")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise LmechError(f"device {device!r} is not supported; use cpu or cuda")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise LmechError(f"device {device!r} is not available here; use cpu")
    return str(device)
