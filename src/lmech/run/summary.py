"""What a finished run reports: its headline results and the line that ends it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lmech.run.schema import LawResult
from lmech.run.store import Store
from lmech.run.verdict import Outcome

__all__ = ["RunSummary", "is_expected", "summary_line"]


@dataclass(frozen=True)
class RunSummary:
    """A finished `verify` (or `sweep`).

    Attributes:
        run_id, store: the run and where it is stored.
        results: the headline result of each law (or grid point): the verdict pooled over
            the run's seeds when there are several, else the one seed's.
        per_seed: every per-seed result, in the order they finished.
        kept: sidecar files of results the store could not take.
        merged: kept results of earlier runs merged into the store first.
        resumed: per-seed results taken from the store (``--resume``), not recomputed.
    """

    run_id: str
    store: Store
    results: tuple[LawResult, ...]
    per_seed: tuple[LawResult, ...] = ()
    kept: tuple[Path, ...] = ()
    merged: int = 0
    resumed: int = 0

    @property
    def unexpected(self) -> tuple[LawResult, ...]:
        """Results whose outcome is not the one the law book records for them (at the
        smoke budget, INCONCLUSIVE is what is expected of too few units)."""
        return tuple(r for r in self.results if not is_expected(r))

    @property
    def as_expected(self) -> bool:
        """True when every verdict is what the law book records (the exit status 0)."""
        return not self.unexpected

    def summary_line(self) -> str:
        """E.g. ``14 confirmed, 2 refuted as recorded, 5 identities hold, 0 unexpected``."""
        return summary_line(self.results)


def is_expected(result: LawResult) -> bool:
    """Whether `result` is what the law book records for its law.

    The smoke budget exists to exercise the machinery in seconds, with too few units to
    decide: there an INCONCLUSIVE (never a REFUTED, BROKEN or ERROR) is expected too.
    """
    if result.outcome.value == result.expected:
        return True
    return result.budget == "smoke" and result.outcome is Outcome.INCONCLUSIVE


def summary_line(results: Sequence[LawResult]) -> str:
    """Counts of expected outcomes by kind, and of unexpected ones."""
    counts: dict[str, int] = {}
    unexpected = 0
    for r in results:
        if not is_expected(r):
            unexpected += 1
            continue
        if r.outcome is Outcome.CONFIRMED:
            key = "confirmed"
        elif r.outcome is Outcome.HOLDS:
            key = "identities hold"
        elif r.outcome.value != r.expected:
            key = "inconclusive at smoke"
        else:
            key = f"{r.outcome.value.lower()} as recorded"
        counts[key] = counts.get(key, 0) + 1
    parts = [f"{counts.pop('confirmed', 0)} confirmed"]
    parts += [f"{v} {k}" for k, v in counts.items() if k != "identities hold"]
    if "identities hold" in counts:
        parts.append(f"{counts['identities hold']} identities hold")
    return ", ".join([*parts, f"{unexpected} unexpected"])
