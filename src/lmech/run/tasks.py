"""A task: one law at one seed and one parameter set, self-contained enough to ship to a
worker process (a Ray task) and run there exactly as it would run here.

The law travels by name and source (the built-in book, a user's file or module), the
parameters as validated JSON; the worker rebuilds the law and its parameters and runs it
with the task's intra-op thread count. The same (law, seed, parameters, threads) give the
same numbers in any process.
"""

from __future__ import annotations

import hashlib
import json
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from lmech.laws import AbstractLaw
from lmech.run.schema import LawResult
from lmech.run.verdict import MIN_UNITS, Outcome, judge

__all__ = ["Task", "execute", "params_hash", "run_law", "torch_threads"]


def params_hash(params: dict) -> str:
    """A short stable hash of a parameter set (canonical JSON)."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, eq=False)  # compared by identity: its params are a dict
class Task:
    """One law at one seed and parameter set.

    Attributes:
        law: the law's name.
        source: where the law comes from: "" for lmech's own book, else the user's file
            or module it was loaded from (see `lmech.laws.load_laws`).
        params: the validated parameters as JSON.
        seed, budget, device: as in `verify`.
        threads: torch's intra-op threads while the task runs.
    """

    law: str
    source: str
    params: dict
    seed: int
    budget: str
    device: str
    threads: int

    @property
    def params_hash(self) -> str:
        return params_hash(self.params)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op threads and numpy's BLAS threads set to `n` for the block, restored
    after: the same `n` gives the same summation order, so the same numbers, in any process
    (a Ray worker starts with one BLAS thread, this process with one per core)."""
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        with threadpool_limits(limits=max(1, int(n))):
            yield
    finally:
        torch.set_num_threads(before)


def run_law(
    law: AbstractLaw,
    params: Any,
    *,
    budget: str,
    seed: int,
    device: str = "cpu",
    progress: Callable[[float], None] | None = None,
    params_digest: str = "",
) -> LawResult:
    """Predict, measure and judge one law; an exception becomes an ERROR result.

    An empirical law needs `MIN_UNITS` independent units per point except at the `smoke`
    budget (tests), where 2 suffice.
    """
    basis = law.tolerance_basis
    t0 = time.perf_counter()
    identity = dict(
        law=law.name, claim=law.claim, source=law.source, pillar=law.pillar.value,
        budget=budget, seed=seed, params=params.model_dump(mode="json"), panels=law.panels,
        kind=law.kind.value, expected=law.expected_outcome, tolerance_kind=basis.kind,
        tolerance_why=basis.why, params_hash=params_digest,
    )
    try:
        prediction = law.predict(params)
        measurement = law.measure(params, seed, device=device,
                                  progress=progress or (lambda f: None))
        foil = law.foil(params)
        tolerance = law.tolerance(params, prediction)
        verdict = judge(
            prediction, measurement, foil, tolerance, kind=law.kind,
            min_units=2 if budget == "smoke" else MIN_UNITS,
            foilless_panels=law.foilless_panels(), unjudged_panels=law.unjudged_panels(),
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


def execute(task: Task, law: AbstractLaw | None = None,
            progress: Callable[[float], None] | None = None) -> LawResult:
    """Run `task` in this process: a worker's entry point (which finds the law by name and
    source) as much as the local backend's (which passes the law it holds)."""
    from lmech.laws import find_law

    law = law if law is not None else find_law(task.law, task.source)
    params = law.Params.model_validate(task.params)
    with torch_threads(task.threads):
        return run_law(law, params, budget=task.budget, seed=task.seed, device=task.device,
                       progress=progress, params_digest=task.params_hash)
