"""Symmetry groups of a model's parameters and their Noether charges.

A :class:`Symmetry` names the parameters (as in ``model.named_parameters()``) that carry
one of three loss symmetries (Kunin et al. 2021, Table 1):

    kind          invariance                charge                gradient identity
    translation   L(θ_A + c·1) = L          ⟨θ_A, 1⟩              ⟨g_A, 1⟩ = 0
    scale         L(α θ_A) = L              ‖θ_A‖²                ⟨g_A, θ_A⟩ = 0
    rescale       L(α θ_in, θ_out/α) = L    ‖θ_in‖² − ‖θ_out‖²    ⟨g_in, θ_in⟩ = ⟨g_out, θ_out⟩

Source: Kunin, Sagastuy-Brena, Ganguli, Yamins & Tanaka, ICLR 2021 (arXiv:2012.04728).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from lmech.errors import LmechError

__all__ = ["KINDS", "Symmetry", "noether_charge", "resolve"]

KINDS = ("translation", "scale", "rescale")


@dataclass(frozen=True)
class Symmetry:
    """A parameter group carrying one loss symmetry.

    Attributes:
        kind: ``"translation"``, ``"scale"`` or ``"rescale"``.
        params: every parameter name in the group (incoming then outgoing for rescale).
        reason: why the symmetry holds (the layers and the operation that create it).
        incoming, outgoing: for rescale, the two sides (empty for the other kinds).
    """

    kind: str
    params: tuple[str, ...]
    reason: str = ""
    incoming: tuple[str, ...] = ()
    outgoing: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise LmechError(f"unknown symmetry kind {self.kind!r}; allowed: {', '.join(KINDS)}")
        if not self.params:
            raise LmechError(f"a {self.kind} symmetry needs at least one parameter name")
        if self.kind == "rescale" and not (self.incoming and self.outgoing):
            raise LmechError("a rescale symmetry needs incoming and outgoing parameter names")

    @classmethod
    def rescale(cls, incoming: Sequence[str], outgoing: Sequence[str], reason: str = ""):
        """A rescale symmetry between `incoming` and `outgoing` parameter names."""
        return cls("rescale", (*incoming, *outgoing), reason, tuple(incoming), tuple(outgoing))

    @property
    def label(self) -> str:
        """Short name for tables: the kind and the first parameter's layer."""
        first = self.params[0].rsplit(".", 1)[0]
        if self.kind == "rescale":
            return f"rescale {self.incoming[0].rsplit('.', 1)[0]}→" \
                   f"{self.outgoing[0].rsplit('.', 1)[0]}"
        return f"{self.kind} {first}"

    @property
    def signs(self) -> tuple[float, ...]:
        """+1 per parameter, except −1 for the outgoing side of a rescale (the charge's sign)."""
        if self.kind != "rescale":
            return (1.0,) * len(self.params)
        return (1.0,) * len(self.incoming) + (-1.0,) * len(self.outgoing)


def resolve(model: nn.Module, names: Sequence[str]) -> list[torch.nn.Parameter]:
    """The parameters of `model` called `names`.

    Raises:
        LmechError: a name is not a parameter of the model (the message lists some that are).
    """
    table = dict(model.named_parameters())
    missing = [n for n in names if n not in table]
    if missing:
        known = ", ".join(list(table)[:8]) + (" …" if len(table) > 8 else "")
        raise LmechError(
            f"parameter {missing[0]!r} is not in the model {type(model).__name__}; "
            f"its parameters are: {known or 'none'}"
        )
    return [table[n] for n in names]


def noether_charge(model: nn.Module, symmetry: Symmetry) -> float:
    """The symmetry's conserved quantity under gradient flow, at the current parameters.

    translation: ⟨θ_A, 1⟩; scale: ‖θ_A‖²; rescale: ‖θ_in‖² − ‖θ_out‖².

    Source: Kunin et al. 2021 (arXiv:2012.04728), Table 1.

    Raises:
        LmechError: a parameter name is not in the model.
    """
    params = resolve(model, symmetry.params)
    with torch.no_grad():
        if symmetry.kind == "translation":
            return float(sum(p.double().sum() for p in params))
        return float(sum(s * p.double().pow(2).sum()
                         for s, p in zip(symmetry.signs, params, strict=True)))
