"""Physics knobs (C_W, C_b, learning rates …) resolved to one value per (layer, member).

Convention, used everywhere in `lmech.ensemble`:
- a Python number: the same value for every layer and member;
- a list or tuple of length `depth`: one entry per layer (each entry a number, or a
  ``(M,)`` tensor for that layer's members);
- a ``torch.Tensor`` of shape ``(M,)``: one value per member, the same in every layer;
  of shape ``(depth, M)``: per layer and per member; a 0-d tensor: like a number.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lmech.errors import LmechError

Knob = float | Sequence[float | torch.Tensor] | torch.Tensor


def check_members(members: int) -> int:
    """`members` as an int, or an LmechError if it is not a positive integer."""
    if isinstance(members, bool) or not isinstance(members, int) or members < 1:
        raise LmechError(f"members must be an integer >= 1, got {members!r}")
    return members


def per_member(value: float | torch.Tensor, name: str, members: int) -> torch.Tensor:
    """A number or ``(M,)`` tensor as a float64 ``(M,)`` tensor on the CPU."""
    t = torch.as_tensor(value, dtype=torch.float64).detach().cpu()
    if t.dim() == 0:
        return t.expand(members).clone()
    if t.dim() == 1 and t.shape[0] == members:
        return t.clone()
    raise LmechError(
        f"{name} per member must have length members = {members}, got shape {tuple(t.shape)}"
    )


def per_layer_member(value: Knob, name: str, depth: int, members: int) -> torch.Tensor:
    """Resolve a knob (see the module docstring) to a float64 ``(depth, M)`` tensor.

    Raises:
        LmechError: a list whose length is not `depth`, or a tensor whose member axis is
            not `members`; the message names the knob.
    """
    if isinstance(value, torch.Tensor) and value.dim() == 2:
        if tuple(value.shape) != (depth, members):
            raise LmechError(
                f"{name} as a 2-d tensor must have shape (depth, members) = "
                f"({depth}, {members}), got {tuple(value.shape)}"
            )
        return value.detach().to("cpu", torch.float64).clone()
    if isinstance(value, (list, tuple)):
        if len(value) != depth:
            raise LmechError(
                f"{name} per layer must have length depth = {depth}, got {len(value)}"
            )
        return torch.stack([per_member(v, f"{name}[{i}]", members) for i, v in enumerate(value)])
    try:
        row = per_member(value, name, members)
    except (TypeError, ValueError, RuntimeError):
        raise LmechError(
            f"{name} must be a number, a per-layer list, or a per-member tensor; "
            f"got {type(value).__name__}"
        ) from None
    return row.expand(depth, members).clone()


def check_nonnegative(knob: torch.Tensor, name: str) -> torch.Tensor:
    """`knob` if all its values are finite and >= 0, else an LmechError."""
    if not torch.isfinite(knob).all() or (knob < 0).any():
        raise LmechError(f"{name} must be finite and >= 0, got min {knob.min().item():g}")
    return knob
