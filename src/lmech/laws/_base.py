"""The law contract: identity, validated parameters with budgets, predict / measure / foil."""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

import numpy as np
import pydantic
from pydantic import BaseModel, ConfigDict

from lmech.budgets import BUDGETS
from lmech.errors import LmechError
from lmech.laws._arguments import check_device, check_seed
from lmech.laws._series import Series

__all__ = [
    "BUDGETS",
    "AbstractLaw",
    "Kind",
    "LawParams",
    "Panel",
    "Pillar",
    "Progress",
    "ToleranceBasis",
]


Progress = Callable[[float], None]
"""A callback a law's `measure` calls with the fraction of its work done, in [0, 1]."""


class Pillar(str, Enum):
    """The five pillars of learning mechanics a law belongs to."""

    SOLVABLE = "solvable settings"
    LIMITS = "tractable limits"
    SIMPLE_LAWS = "simple laws"
    HYPERPARAMETERS = "hyperparameter theories"
    UNIVERSAL = "universal behaviours"


class Kind(str, Enum):
    """What a law's verdict can be evidence of.

    EMPIRICAL: a claim about learning or sampling that real networks could violate; judged
    by the equivalence test and counted as evidence for its theory. IDENTITY: an exact
    algebraic or numerical identity checked to rounding (bookkeeping, a decoupled map);
    reported apart, as IDENTITY HOLDS or IDENTITY BROKEN, and never counted as evidence.
    """

    EMPIRICAL = "empirical"
    IDENTITY = "identity"


@dataclass(frozen=True)
class ToleranceBasis:
    """Why a law's tolerance has the size it has: the law book's one tolerance policy.

    Either ``computed``: the tolerance is the size of a term the theory neglects (the
    next order, a discretisation bound, rounding), or ``pilot``: an equivalence margin
    declared in advance from a pilot run on seeds the verdict never uses (the runner
    refuses to judge a law at its pilot seeds). See ``docs/verdicts.md``.
    """

    kind: str
    why: str
    pilot_seeds: tuple[int, ...] = ()
    pilot_measured: str = ""

    @classmethod
    def computed(cls, why: str) -> ToleranceBasis:
        """A tolerance computed from the theory's neglected terms; `why` says which."""
        return cls("computed", why)

    @classmethod
    def pilot(cls, seeds: tuple[int, ...], measured: str, why: str) -> ToleranceBasis:
        """A margin declared from a pilot on `seeds`, which measured `measured`."""
        return cls("pilot", why, tuple(int(s) for s in seeds), measured)


class LawParams(BaseModel):
    """Base of every law's parameters: validated, frozen, unknown keys refused, and no NaN
    or infinity where a number is expected."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


@dataclass(frozen=True)
class Panel:
    """How to draw one panel of a law's figure, and whether (and how) it is judged.

    A panel whose ``no_foil`` gives a reason (e.g. a consistency check with no rival
    value) has no foil: its foil points may be NaN and the verdict does not ask for the
    foil to be rejected there. Every other judged panel must reject the foil.

    A panel whose ``illustrates`` says what it shows (a phase diagram, a whole training
    curve) is an *illustration*: its points are stored and drawn like any other, but the
    verdict never sees them (not counted in the points, the units, the foil's rejection or
    the agreement), and its figure title says "(not judged)". Its prediction, measurement
    and foil need not share points: a curve may be measured only, or theory only. A law
    needs at least one judged panel.
    """

    name: str
    xlabel: str
    ylabel: str
    xscale: str = "linear"
    yscale: str = "linear"
    no_foil: str = ""
    illustrates: str = ""

    @property
    def judged(self) -> bool:
        """False for an illustration, which the verdict never sees."""
        return not self.illustrates


def _noop_progress(fraction: float) -> None:
    del fraction


class AbstractLaw(abc.ABC):
    """A falsifiable claim: a prediction, the experiment that measures it, and a foil.

    A concrete law is one module under ``lmech/laws/<area>/``; its dotted name is its path
    (``laws/dln/saxe_modes.py`` -> ``dln.saxe_modes``). It declares:

    - ``claim``, ``source``, ``pillar``: its identity;
    - ``kind``: :class:`Kind` EMPIRICAL (the default) or IDENTITY;
    - ``tolerance_basis``: a :class:`ToleranceBasis`, computed or declared by pilot;
    - ``finding`` and ``expected``: for a law whose experiment is known to contradict its
      theory, one sentence saying what was found and the outcome it reproduces (like
      pytest's xfail); otherwise empty, and the expected outcome is CONFIRMED (IDENTITY
      HOLDS for an identity);
    - ``Params``: a :class:`LawParams` subclass whose defaults are the ``quick`` budget, and
      ``budgets``: for each of ``smoke``, ``quick``, ``full``, the fields that differ;
    - ``panels``: how its figure is drawn (one :class:`Panel` per panel name used), and
      which panels only illustrate (``Panel.illustrates``: drawn, never judged);
    - ``predict``, ``measure``, ``foil``, ``tolerance``.

    A law holds no verdict code: ``lmech.run.verdict.judge`` decides.
    """

    claim: ClassVar[str]
    finding: ClassVar[str] = ""
    expected: ClassVar[str | None] = None
    source: ClassVar[str]
    pillar: ClassVar[Pillar]
    kind: ClassVar[Kind] = Kind.EMPIRICAL
    tolerance_basis: ClassVar[ToleranceBasis]
    Params: ClassVar[type[LawParams]]
    budgets: ClassVar[Mapping[str, Mapping[str, Any]]]
    panels: ClassVar[tuple[Panel, ...]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "measure" in cls.__dict__:
            cls.measure = _checked_measure(cls.__dict__["measure"])

    @property
    def name(self) -> str:
        """Dotted name: the module path below ``lmech.laws`` for a law of the book; for a
        user's law, ``module:ClassName`` (it can never shadow a law of the book)."""
        module = type(self).__module__
        prefix = "lmech.laws."
        if module.startswith(prefix):
            return module[len(prefix):]
        return f"{module}:{type(self).__qualname__}"

    @property
    def expected_outcome(self) -> str:
        """The outcome the law book records for this law (an ``Outcome`` value)."""
        if self.expected is not None:
            return str(getattr(self.expected, "value", self.expected))
        return "IDENTITY HOLDS" if self.kind is Kind.IDENTITY else "CONFIRMED"

    def foilless_panels(self) -> tuple[str, ...]:
        """Names of the panels that declare no foil."""
        return tuple(p.name for p in self.panels if p.no_foil)

    def unjudged_panels(self) -> tuple[str, ...]:
        """Names of the panels that only illustrate (``Panel.illustrates``).

        Raises:
            LmechError: every panel illustrates: the law would have nothing to judge.
        """
        names = tuple(p.name for p in self.panels if not p.judged)
        if names and len(names) == len(self.panels):
            raise LmechError(f"{self.name}: every panel illustrates ({', '.join(names)}); a "
                             f"law needs at least one judged panel (Panel without "
                             f"illustrates)")
        return names

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


def _checked_measure(measure: Callable) -> Callable:
    """`measure` with its seed, device and progress checked first (every law's contract)."""
    if getattr(measure, "_lmech_checked", False):
        return measure

    @functools.wraps(measure)
    def checked(self, params, seed, *args, device="cpu", progress=_noop_progress, **kwargs):
        check_seed(seed)
        check_device(device)
        if not callable(progress):
            raise LmechError(f"progress must be a callable taking a fraction, got {progress!r}")
        if not isinstance(params, self.Params):
            raise LmechError(f"{self.name}: params must come from law.parameters(...), got "
                             f"{type(params).__name__}")
        return measure(self, params, seed, *args, device=device, progress=progress, **kwargs)

    checked._lmech_checked = True
    return checked


def _describe_validation_error(law: str, err: pydantic.ValidationError) -> str:
    parts = []
    for e in err.errors():
        message = e["msg"].removeprefix("Value error, ")
        if e["loc"]:  # a field: name it and the value it got
            where = ".".join(str(p) for p in e["loc"])
            parts.append(f"{law}: parameter '{where}': {message} (got {e.get('input')!r})")
        else:  # a check across fields: its message names them
            parts.append(f"{law}: {message}")
    return "; ".join(parts)
