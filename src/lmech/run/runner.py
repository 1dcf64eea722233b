"""Run laws: resolve parameters, measure, judge, and commit each law as it finishes."""

from __future__ import annotations

import os
import platform
import subprocess
import tempfile
import time
import traceback
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import torch

import lmech
from lmech.errors import LmechError
from lmech.laws import AbstractLaw
from lmech.laws._arguments import check_device, check_seed
from lmech.run.store import LawResult, RunInfo, Store
from lmech.run.verdict import MIN_UNITS, Outcome, judge

__all__ = ["Observer", "RunSummary", "resolve_parameters", "run_law", "summary_line", "verify"]


class Observer(Protocol):
    """Receives a run's events (the CLI draws progress bars from them)."""

    def law_started(self, law: AbstractLaw) -> None: ...
    def law_progress(self, law: AbstractLaw, fraction: float) -> None: ...
    def law_finished(self, law: AbstractLaw, result: LawResult) -> None: ...

    # Optional: ``store_waiting(holder: str) -> None``, told when a write has waited a
    # second for another process's lock on the store.


@dataclass(frozen=True)
class RunSummary:
    """A finished `verify`: its run id, the store, every law's result, the sidecar files
    of results the store could not take (`kept`), and how many kept results of earlier
    runs were merged into the store first (`merged`)."""

    run_id: str
    store: Store
    results: tuple[LawResult, ...]
    kept: tuple[Path, ...] = ()
    merged: int = 0

    @property
    def unexpected(self) -> tuple[LawResult, ...]:
        """Results whose outcome is not the one the law book records for them."""
        return tuple(r for r in self.results if r.outcome.value != r.expected)

    @property
    def as_expected(self) -> bool:
        """True when every verdict is what the law book records (the exit status 0)."""
        return not self.unexpected

    def summary_line(self) -> str:
        """E.g. ``14 confirmed, 2 refuted as recorded, 5 identities hold, 0 unexpected``."""
        return summary_line(self.results)


def summary_line(results: Sequence[LawResult]) -> str:
    """Counts of expected outcomes by kind, and of unexpected ones."""
    counts: dict[str, int] = {}
    unexpected = 0
    for r in results:
        if r.outcome.value != r.expected:
            unexpected += 1
            continue
        if r.outcome is Outcome.CONFIRMED:
            key = "confirmed"
        elif r.outcome is Outcome.HOLDS:
            key = "identities hold"
        else:
            key = f"{r.outcome.value.lower()} as recorded"
        counts[key] = counts.get(key, 0) + 1
    parts = [f"{counts.pop('confirmed', 0)} confirmed"]
    parts += [f"{v} {k}" for k, v in counts.items() if k != "identities hold"]
    if "identities hold" in counts:
        parts.append(f"{counts['identities hold']} identities hold")
    return ", ".join([*parts, f"{unexpected} unexpected"])


def resolve_parameters(
    laws: Sequence[AbstractLaw], budget: str, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Validated parameters of each law: `budget`, then each override a law declares.

    Raises:
        LmechError: unknown budget, an override no selected law declares, or a value a
            law's parameters reject.
    """
    overrides = dict(overrides or {})
    declared = {key for law in laws for key in law.Params.model_fields}
    unknown = sorted(set(overrides) - declared)
    if unknown:
        names = ", ".join(law.name for law in laws)
        raise LmechError(
            f"unknown parameter {', '.join(map(repr, unknown))} for {names}; "
            f"allowed: {', '.join(sorted(declared))}"
        )
    return {
        law.name: law.parameters(
            budget, {k: v for k, v in overrides.items() if k in law.Params.model_fields}
        )
        for law in laws
    }


def run_law(
    law: AbstractLaw,
    params: Any,
    *,
    budget: str,
    seed: int,
    device: str = "cpu",
    observer: Observer | None = None,
) -> LawResult:
    """Predict, measure and judge one law; an exception becomes an ERROR result.

    An empirical law needs `MIN_UNITS` independent units per point except at the `smoke`
    budget (tests), where 2 suffice.

    Raises:
        LmechError: `seed` is one of the law's pilot seeds (its tolerance was set from it).
    """
    basis = law.tolerance_basis
    if seed in basis.pilot_seeds:
        raise LmechError(
            f"{law.name}: seed {seed} is a pilot seed (its tolerance was declared from seeds "
            f"{', '.join(map(str, basis.pilot_seeds))}); a verdict must use other seeds"
        )
    t0 = time.perf_counter()
    identity = dict(
        law=law.name, claim=law.claim, source=law.source, pillar=law.pillar.value,
        budget=budget, seed=seed, params=params.model_dump(mode="json"), panels=law.panels,
        kind=law.kind.value, expected=law.expected_outcome, tolerance_kind=basis.kind,
        tolerance_why=basis.why,
    )

    def progress(fraction: float) -> None:
        if observer is not None:
            observer.law_progress(law, fraction)

    try:
        prediction = law.predict(params)
        measurement = law.measure(params, seed, device=device, progress=progress)
        foil = law.foil(params)
        tolerance = law.tolerance(params, prediction)
        verdict = judge(
            prediction, measurement, foil, tolerance, kind=law.kind,
            min_units=2 if budget == "smoke" else MIN_UNITS,
            foilless_panels=law.foilless_panels(),
        )
    except Exception:  # a law that raises is a finding (ERROR), not a crash of the run
        return LawResult(
            **identity, outcome=Outcome.ERROR, verdict=None,
            seconds=time.perf_counter() - t0, error=traceback.format_exc(),
        )
    return LawResult(
        **identity, outcome=verdict.outcome, verdict=verdict,
        seconds=time.perf_counter() - t0, prediction=prediction, measurement=measurement,
        foil=foil, tolerance=tolerance,
    )


def verify(
    laws: Sequence[AbstractLaw],
    *,
    out: str | Path = "lmech-runs",
    budget: str = "quick",
    seed: int = 0,
    overrides: Mapping[str, Any] | None = None,
    device: str = "cpu",
    observer: Observer | None = None,
    command: str = "",
) -> RunSummary:
    """Run `laws` and commit each one's result to the store in `out` as it finishes.

    Everything that can be checked is checked before any law runs, so a mistake costs
    nothing: the laws, budget, seed, device, parameters and overrides, the output
    directory, and the store itself (a damaged store is named, with the way out). Results
    kept beside the store by an earlier run are merged first. A result that cannot be
    written is kept beside the store (`RunSummary.kept`), never dropped. On Ctrl-C the run
    is marked interrupted and every law finished before it stays in the store.

    Raises:
        LmechError: a bad argument, an unwritable `out`, or a damaged store.
    """
    laws = _check_laws(laws)
    check_seed(seed)
    check_device(device)
    params = resolve_parameters(laws, budget, overrides)
    for law in laws:
        if seed in law.tolerance_basis.pilot_seeds:
            raise LmechError(
                f"{law.name}: seed {seed} is one of its pilot seeds (its tolerance was "
                "declared from them); choose another --seed"
            )
    waiting = getattr(observer, "store_waiting", None)
    store = Store(_writable_directory(Path(out)), waiting=waiting)
    store.check()
    merged = store.merge_pending()
    info = RunInfo(
        run_id=uuid.uuid4().hex[:12],
        started_at=datetime.now(),
        lmech_version=lmech.__version__,
        git_revision=_git_revision(),
        torch_version=torch.__version__,
        python_version=platform.python_version(),
        device=device,
        budget=budget,
        seed=seed,
        command=command,
    )
    store.start_run(info)
    results, kept = [], []
    status = "interrupted"
    try:
        for law in laws:
            if observer is not None:
                observer.law_started(law)
            result = run_law(
                law, params[law.name], budget=budget, seed=seed, device=device,
                observer=observer,
            )
            sidecar = store.record(info.run_id, result)
            if sidecar is not None:
                kept.append(sidecar)
            results.append(result)
            if observer is not None:
                observer.law_finished(law, result)
        status = "finished"
    finally:
        sidecar = store.finish_run(info.run_id, status)
        if sidecar is not None:
            kept.append(sidecar)
    return RunSummary(info.run_id, store, tuple(results), tuple(kept), merged)


def _check_laws(laws: Any) -> list[AbstractLaw]:
    if isinstance(laws, (str, bytes)) or not isinstance(laws, Sequence | tuple | list):
        raise LmechError("laws must be a list of laws, e.g. select_laws(['init.']); "
                         f"got {type(laws).__name__}")
    bad = [x for x in laws if not isinstance(x, AbstractLaw)]
    if bad:
        raise LmechError(f"laws must be law objects (use select_laws(names) or get_law(name)), "
                         f"got {bad[0]!r}")
    if not laws:
        raise LmechError("no laws to run")
    return list(laws)


def _writable_directory(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".lmech-write-test-"):
            pass
    except OSError as err:
        raise LmechError(
            f"output directory {str(path)!r} is not writable ({err.strerror or err}); "
            "choose another with --out"
        ) from None
    return path


def _git_revision() -> str | None:
    source = Path(lmech.__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=5, env={**os.environ, "LC_ALL": "C"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
