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
from lmech.run.store import LawResult, RunInfo, Store
from lmech.run.verdict import Outcome, judge

__all__ = ["Observer", "RunSummary", "resolve_parameters", "run_law", "verify"]


class Observer(Protocol):
    """Receives a run's events (the CLI draws progress bars from them)."""

    def law_started(self, law: AbstractLaw) -> None: ...
    def law_progress(self, law: AbstractLaw, fraction: float) -> None: ...
    def law_finished(self, law: AbstractLaw, result: LawResult) -> None: ...


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    store: Store
    results: tuple[LawResult, ...]

    @property
    def all_confirmed(self) -> bool:
        return all(r.outcome is Outcome.CONFIRMED for r in self.results)


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
    """Predict, measure and judge one law; an exception becomes an ERROR result."""
    t0 = time.perf_counter()
    identity = dict(
        law=law.name, claim=law.claim, source=law.source, pillar=law.pillar.value,
        budget=budget, seed=seed, params=params.model_dump(mode="json"), panels=law.panels,
    )

    def progress(fraction: float) -> None:
        if observer is not None:
            observer.law_progress(law, fraction)

    try:
        prediction = law.predict(params)
        measurement = law.measure(params, seed, device=device, progress=progress)
        foil = law.foil(params)
        tolerance = law.tolerance(params, prediction)
        verdict = judge(prediction, measurement, foil, tolerance)
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

    Parameters are validated and the output directory checked before any law runs, so a
    mistake costs nothing. On Ctrl-C the run is marked interrupted and every law finished
    before it stays in the store.

    Raises:
        LmechError: bad budget, parameter or override, or `out` is not writable.
    """
    params = resolve_parameters(laws, budget, overrides)
    store = Store(_writable_directory(Path(out)))
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
    results = []
    status = "interrupted"
    try:
        for law in laws:
            if observer is not None:
                observer.law_started(law)
            result = run_law(
                law, params[law.name], budget=budget, seed=seed, device=device,
                observer=observer,
            )
            store.record(info.run_id, result)
            results.append(result)
            if observer is not None:
                observer.law_finished(law, result)
        status = "finished"
    finally:
        store.finish_run(info.run_id, status)
    return RunSummary(info.run_id, store, tuple(results))


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
