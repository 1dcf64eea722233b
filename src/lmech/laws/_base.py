"""The law contract: identity, validated parameters with budgets, predict / measure / foil."""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

import numpy as np
import pydantic
from pydantic import BaseModel, ConfigDict

from lmech.errors import LmechError
from lmech.laws._series import Series

__all__ = ["BUDGETS", "AbstractLaw", "LawParams", "Panel", "Pillar", "Progress"]

BUDGETS = ("smoke", "quick", "full")
"""Named budgets: `smoke` for tests (seconds), `quick` the default run (under a minute on
two CPU cores), `full` for publication-grade statistics."""

Progress = Callable[[float], None]
"""A callback a law's `measure` calls with the fraction of its work done, in [0, 1]."""


class Pillar(str, Enum):
    """The five pillars of learning mechanics a law belongs to."""

    SOLVABLE = "solvable settings"
    LIMITS = "tractable limits"
    SIMPLE_LAWS = "simple laws"
    HYPERPARAMETERS = "hyperparameter theories"
    UNIVERSAL = "universal behaviours"


class LawParams(BaseModel):
    """Base of every law's parameters: validated, frozen, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Panel:
    """How to draw one panel of a law's figure."""

    name: str
    xlabel: str
    ylabel: str
    xscale: str = "linear"
    yscale: str = "linear"


def _noop_progress(fraction: float) -> None:
    del fraction


class AbstractLaw(abc.ABC):
    """A falsifiable claim: a prediction, the experiment that measures it, and a foil.

    A concrete law is one module under ``lmech/laws/<area>/``; its dotted name is its path
    (``laws/dln/saxe_modes.py`` -> ``dln.saxe_modes``). It declares:

    - ``claim``, ``source``, ``pillar``: its identity;
    - ``finding``: empty, or — for a law whose experiment is known to contradict its theory —
      one sentence saying what was found (the contract then asks for a decisive verdict,
      CONFIRMED or REFUTED with the foil rejected, rather than a CONFIRMED);
    - ``Params``: a :class:`LawParams` subclass whose defaults are the ``quick`` budget, and
      ``budgets``: for each of ``smoke``, ``quick``, ``full``, the fields that differ;
    - ``panels``: how its figure is drawn (one :class:`Panel` per panel name used);
    - ``predict``, ``measure``, ``foil``, ``tolerance``.

    A law holds no verdict code: ``lmech.run.verdict.judge`` decides.
    """

    claim: ClassVar[str]
    finding: ClassVar[str] = ""
    source: ClassVar[str]
    pillar: ClassVar[Pillar]
    Params: ClassVar[type[LawParams]]
    budgets: ClassVar[Mapping[str, Mapping[str, Any]]]
    panels: ClassVar[tuple[Panel, ...]]

    @property
    def name(self) -> str:
        """Dotted name: the module path below ``lmech.laws``."""
        module = type(self).__module__
        prefix = "lmech.laws."
        return module[len(prefix) :] if module.startswith(prefix) else module

    @abc.abstractmethod
    def predict(self, params: Any) -> Series:
        """The theory's value at every point: deterministic, no training, no sampling."""

    @abc.abstractmethod
    def measure(
        self, params: Any, seed: int, *, device: str = "cpu", progress: Progress = _noop_progress
    ) -> Series:
        """The experiment: the same points as `predict`, each with a standard error."""

    @abc.abstractmethod
    def foil(self, params: Any) -> Series:
        """The strongest plausible wrong answer at the same points."""

    @abc.abstractmethod
    def tolerance(self, params: Any, prediction: Series) -> np.ndarray:
        """Per-point size of the terms the theory neglects, shape ``(len(prediction),)``."""

    def parameters(self, budget: str = "quick", overrides: Mapping[str, Any] | None = None):
        """The validated parameters of `budget`, with `overrides` applied on top.

        Raises:
            LmechError: unknown budget, unknown parameter, or a value out of range; the
                message names the law, the field and what is allowed.
        """
        if budget not in BUDGETS:
            raise LmechError(f"unknown budget {budget!r}; allowed: {', '.join(BUDGETS)}")
        overrides = dict(overrides or {})
        fields = self.Params.model_fields
        unknown = sorted(set(overrides) - set(fields))
        if unknown:
            raise LmechError(
                f"{self.name}: unknown parameter {', '.join(map(repr, unknown))}; "
                f"allowed: {', '.join(fields)}"
            )
        values = {**self.budgets.get(budget, {}), **overrides}
        try:
            return self.Params.model_validate(values)
        except pydantic.ValidationError as err:
            raise LmechError(_describe_validation_error(self.name, err)) from None


def _describe_validation_error(law: str, err: pydantic.ValidationError) -> str:
    parts = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "parameters"
        parts.append(f"{law}: parameter '{where}': {e['msg']} (got {e.get('input')!r})")
    return "; ".join(parts)
