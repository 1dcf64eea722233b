"""Symmetry groups of a model's parameters, their Noether charges and gradient identities.

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

__all__ = ["KINDS", "Skipped", "Symmetry", "noether_charge", "resolve"]

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


@dataclass(frozen=True)
class Skipped:
    """A layer `detect` could not analyse: its parameters are in no group (never guessed)."""

    name: str
    reason: str


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


def _signs(symmetry: Symmetry) -> list[float]:
    if symmetry.kind != "rescale":
        return [1.0] * len(symmetry.params)
    return [1.0] * len(symmetry.incoming) + [-1.0] * len(symmetry.outgoing)


def noether_charge(model: nn.Module, symmetry: Symmetry) -> float:
    """The symmetry's conserved quantity under gradient flow, at the current parameters.

    translation: ⟨θ_A, 1⟩; scale: ‖θ_A‖²; rescale: ‖θ_in‖² − ‖θ_out‖².

    Source: Kunin et al. 2021, Table 1 (THEORY.md §2).

    Raises:
        LmechError: a parameter name is not in the model.
    """
    params = resolve(model, symmetry.params)
    with torch.no_grad():
        if symmetry.kind == "translation":
            return float(sum(p.double().sum() for p in params))
        return float(sum(s * p.double().pow(2).sum() for s, p in zip(_signs(symmetry), params,
                                                                     strict=True)))


def gradient_residual(symmetry: Symmetry, params, grads) -> float:
    """Relative violation of the symmetry's gradient identity (0 when it holds exactly).

    translation: ⟨g, 1⟩/(‖g‖ √n); scale: ⟨g, θ⟩/(‖g‖ ‖θ‖);
    rescale: (⟨g_in, θ_in⟩ − ⟨g_out, θ_out⟩)/(‖g_in‖‖θ_in‖ + ‖g_out‖‖θ_out‖).
    """
    g = [torch.zeros_like(p) if gr is None else gr for p, gr in zip(params, grads, strict=True)]
    with torch.no_grad():
        if symmetry.kind == "translation":
            total = sum(x.double().sum() for x in g)
            n = sum(x.numel() for x in g)
            norm = torch.sqrt(sum(x.double().pow(2).sum() for x in g)) * n**0.5
            return float(total / norm) if norm > 0 else 0.0
        dots = [float((x.double() * p.double()).sum()) for x, p in zip(g, params, strict=True)]
        gn = [float(x.double().pow(2).sum()) for x in g]
        pn = [float(p.double().pow(2).sum()) for p in params]
        if symmetry.kind == "scale":
            den = (sum(gn) * sum(pn)) ** 0.5
            return sum(dots) / den if den > 0 else 0.0
        n_in = len(symmetry.incoming)
        side = [slice(0, n_in), slice(n_in, None)]
        num = sum(dots[side[0]]) - sum(dots[side[1]])
        den = sum((sum(gn[s]) * sum(pn[s])) ** 0.5 for s in side)
        return num / den if den > 0 else 0.0
