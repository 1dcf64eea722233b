"""Run laws: check everything first, run each (law, seed) as a task on a backend, commit
each result as it arrives, and pool each law's seeds into one verdict."""

from __future__ import annotations

import os
import platform
import subprocess
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import lmech
from lmech.budgets import BUDGETS
from lmech.errors import LmechError
from lmech.laws import AbstractLaw, law_source
from lmech.laws._arguments import check_device, check_seed
from lmech.run.backends import make_backend
from lmech.run.combine import pool
from lmech.run.schema import LawResult, RunInfo, result_from_store
from lmech.run.store import Store
from lmech.run.summary import RunSummary
from lmech.run.tasks import Task, params_hash

__all__ = ["Observer", "execute_plan", "parse_seeds", "resolve_parameters", "verify"]


class Observer(Protocol):
    """Receives a run's events (the CLI draws progress bars from them)."""

    def law_started(self, law: AbstractLaw) -> None: ...
    def law_progress(self, law: AbstractLaw, fraction: float) -> None: ...
    def law_finished(self, law: AbstractLaw, result: LawResult) -> None: ...

    # Optional: ``store_waiting(holder: str) -> None``, told when a write has waited a
    # second for another process's lock on the store.


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"0:16"`` (a range, end excluded), ``"3"`` or ``"0,4,7"`` → the seeds.

    Raises:
        LmechError: anything else, an empty or decreasing range, or a repeated seed.
    """
    text = text.strip()
    try:
        if ":" in text:
            start, _, stop = text.partition(":")
            lo, hi = int(start), int(stop)
            if hi <= lo:
                raise LmechError(f"--seeds {text!r}: the range start:stop needs stop > start")
            seeds = tuple(range(lo, hi))
        else:
            seeds = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise LmechError(f"--seeds must be start:stop, a seed, or seeds separated by commas "
                         f"(e.g. 0:16 or 0,4,7), got {text!r}") from None
    if len(set(seeds)) != len(seeds):
        raise LmechError(f"--seeds {text!r} repeats a seed")
    for seed in seeds:
        check_seed(seed)
    return seeds


def resolve_parameters(
    laws: Sequence[AbstractLaw], budget: str, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Validated parameters of each law: `budget`, then each override a law declares.

    Raises:
        LmechError: unknown budget, an override no selected law declares, or a value a
            law's parameters reject.
    """
    if budget not in BUDGETS:
        raise LmechError(f"unknown budget {budget!r}; allowed: {', '.join(BUDGETS)}")
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


def verify(
    laws: Sequence[AbstractLaw],
    *,
    out: str | Path = "lmech-runs",
    budget: str = "quick",
    seed: int | Sequence[int] = 0,
    overrides: Mapping[str, Any] | None = None,
    device: str = "cpu",
    observer: Observer | None = None,
    command: str = "",
    backend: str = "local",
    address: str | None = None,
    threads: int | None = None,
    resume: bool = False,
    jobs: int = 1,
) -> RunSummary:
    """Run `laws` at each seed and commit each result to the store in `out` as it arrives.

    Everything that can be checked is checked before any law runs, so a mistake costs
    nothing: the laws, budget, seeds, device, parameters and overrides, the output
    directory, and the store itself (a damaged store is named, with the way out). Results
    kept beside the store by an earlier run are merged first. Each (law, seed) is a task
    of the backend ("local": here, in turn, or `jobs` at a time in worker processes; "ray":
    a Ray cluster); with several seeds each
    law also gets the verdict pooled over them (`lmech.run.combine`). With `resume`, a
    (law, seed, budget, parameters) already in the store from this lmech version is taken
    from it instead of run again. A result the store cannot take is kept beside it
    (`RunSummary.kept`), never dropped; on Ctrl-C every finished result stays.

    Args:
        threads: torch's intra-op threads per task (default: the cores, at most 2, shared
            among the `jobs` locally; 1 on Ray).
        jobs: local tasks at a time (1: in this process; more: in worker processes).

    Raises:
        LmechError: a bad argument, an unwritable `out`, a damaged store, or `resume` on a
            store written by another lmech version.
    """
    laws = _check_laws(laws)
    params = resolve_parameters(laws, budget, overrides)
    return execute_plan([(law, params[law.name]) for law in laws], out=out, budget=budget,
                        seed=seed, device=device, observer=observer, command=command,
                        backend=backend, address=address, threads=threads, resume=resume,
                        jobs=jobs)


def execute_plan(
    entries: Sequence[tuple[AbstractLaw, Any]],
    *,
    out: str | Path,
    budget: str,
    seed: int | Sequence[int],
    device: str,
    observer: Observer | None,
    command: str,
    backend: str,
    address: str | None,
    threads: int | None,
    resume: bool,
    jobs: int = 1,
) -> RunSummary:
    """Run each (law, validated parameters) entry at each seed (what `verify` and `sweep`
    share); see `verify` for what is checked and kept."""
    seeds = (check_seed(seed),) if isinstance(seed, int) else tuple(seed)
    for s in seeds:
        check_seed(s)
    if not seeds or len(set(seeds)) != len(seeds):
        raise LmechError(f"seeds must be distinct and at least one, got {seeds!r}")
    check_device(device)
    _check_pilot_seeds([law for law, _ in entries], seeds)
    jobs = _check_jobs(jobs)
    threads = _check_threads(threads, backend, jobs)
    runner = make_backend(backend, address=address, threads=threads, jobs=jobs)
    store = Store(_writable_directory(Path(out)), waiting=getattr(observer, "store_waiting",
                                                                  None))
    store.check()
    merged = store.merge_pending()
    plan = [_Entry(law, p.model_dump(mode="json")) for law, p in entries]
    tasks = [Task(e.law.name, law_source(e.law), e.params, s, budget, device, threads)
             for e in plan for s in seeds]
    done = _resumable(store, tasks, budget) if resume else {}
    if jobs > 1 or backend != "local":
        tasks = _longest_first(tasks, store.durations(budget))
    info = RunInfo(
        run_id=uuid.uuid4().hex[:12], started_at=datetime.now(),
        lmech_version=lmech.__version__, git_revision=_git_revision(),
        torch_version=_torch_version(), python_version=platform.python_version(),
        device=device, budget=budget, seed=seeds[0], command=command,
        seeds=",".join(map(str, seeds)), backend=backend,
    )
    store.start_run(info)
    collector = _Collector(store, info.run_id, plan, seeds, budget, observer)
    for task, result in done.items():
        collector.resumed(task, result)
    status = "interrupted"
    try:
        collector.announce()
        runner.run([t for t in tasks if t not in done], {e.law.name: e.law for e in plan},
                   collector.on_done, collector.on_progress, store.burst)
        status = "finished"
    finally:
        sidecar = store.finish_run(info.run_id, status)
        if sidecar is not None:
            collector.kept.append(sidecar)
    return RunSummary(info.run_id, store, collector.headlines(), tuple(collector.per_seed),
                      tuple(collector.kept), merged, len(done))


class _Entry:
    """One law with one parameter set: the unit a verdict (pooled over seeds) is about."""

    def __init__(self, law: AbstractLaw, params: dict) -> None:
        self.law = law
        self.params = params
        self.key = (law.name, params_hash(params))


class _Collector:
    """Writes each result as it arrives, pools an entry once all its seeds are in, and
    tells the observer."""

    def __init__(self, store, run_id, plan, seeds, budget, observer) -> None:
        self.store, self.run_id, self.seeds, self.budget = store, run_id, seeds, budget
        self.plan = {e.key: e for e in plan}
        self.order = [e.key for e in plan]
        self.observer = observer
        self.by_entry: dict[tuple, dict[int, LawResult]] = {key: {} for key in self.order}
        self.pooled: dict[tuple, LawResult] = {}
        self.per_seed: list[LawResult] = []
        self.kept: list[Path] = []
        self.started: set[tuple] = set()

    def announce(self) -> None:
        if self.observer is not None:
            for key in self.order:
                if len(self.by_entry[key]) < len(self.seeds):
                    self.observer.law_started(self.plan[key].law)
                    self.started.add(key)

    def resumed(self, task: Task, result: LawResult) -> None:
        self._add(task, result)

    def on_progress(self, task: Task, fraction: float) -> None:
        if self.observer is not None:
            key = (task.law, task.params_hash)
            got = len(self.by_entry[key])
            self.observer.law_progress(self.plan[key].law,
                                       (got + min(max(fraction, 0.0), 1.0)) / len(self.seeds))

    def on_done(self, task: Task, result: LawResult) -> None:
        self._record(result)
        self._add(task, result)

    def _record(self, result: LawResult) -> None:
        sidecar = self.store.record(self.run_id, result)
        if sidecar is not None:
            self.kept.append(sidecar)

    def _add(self, task: Task, result: LawResult) -> None:
        key = (task.law, task.params_hash)
        results = self.by_entry[key]
        results[task.seed] = result
        self.per_seed.append(result)
        if len(results) < len(self.seeds):
            return
        headline = results[self.seeds[0]]
        if len(self.seeds) > 1:
            headline = pool(self.plan[key].law, [results[s] for s in self.seeds],
                            budget=self.budget)
            self._record(headline)
        self.pooled[key] = headline
        if self.observer is not None and key in self.started:
            self.observer.law_finished(self.plan[key].law, headline)

    def headlines(self) -> tuple[LawResult, ...]:
        return tuple(self.pooled[key] for key in self.order if key in self.pooled)


def _longest_first(tasks: list[Task], seconds: dict[str, float]) -> list[Task]:
    """Tasks that run side by side end sooner when the long ones start first: order by the
    seconds each law took before at this budget, laws never timed first (they may be long),
    the plan's order otherwise."""
    return sorted(tasks, key=lambda t: -seconds.get(t.law, float("inf")))


def _resumable(store: Store, tasks: list[Task], budget: str) -> dict[Task, LawResult]:
    """The tasks whose result this lmech version already stored, with those results."""
    versions = store.runs()
    if len(versions) and set(versions["lmech_version"].dropna()) - {lmech.__version__}:
        other = sorted(set(versions["lmech_version"].dropna()) - {lmech.__version__})
        raise LmechError(f"--resume: the store in {store.directory} holds runs of lmech "
                         f"{', '.join(other)}, not {lmech.__version__}; resume into a fresh "
                         "--out")
    finished = store.finished(budget, lmech.__version__)
    if finished.empty:
        return {}
    index = {(r.law, int(r.seed), r.params_hash): r.run_id for r in finished.itertuples()}
    out = {}
    for task in tasks:
        run_id = index.get((task.law, task.seed, task.params_hash))
        if run_id is None:
            continue
        rows = store.run_results(run_id)
        row = rows[(rows["law"] == task.law) & (rows["seed"] == task.seed)
                   & (rows["params_hash"] == task.params_hash)].iloc[0]
        points = store.points(run_id, task.law, task.seed, task.params_hash)
        out[task] = result_from_store(row, points)
    return out


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


def _check_pilot_seeds(laws: Sequence[AbstractLaw], seeds: Sequence[int]) -> None:
    for law in laws:
        clash = sorted(set(seeds) & set(law.tolerance_basis.pilot_seeds))
        if clash:
            raise LmechError(
                f"{law.name}: seed {clash[0]} is one of its pilot seeds (its tolerance was "
                "declared from them); choose other seeds"
            )


def _check_jobs(jobs: int) -> int:
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise LmechError(f"jobs must be an integer >= 1 (tasks at a time), got {jobs!r}")
    return jobs


def _check_threads(threads: int | None, backend: str, jobs: int = 1) -> int:
    if threads is None:
        return 1 if backend == "ray" else max(1, min(os.cpu_count() or 1, 2) // jobs)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise LmechError(f"threads per task must be an integer >= 1, got {threads!r}")
    return threads


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


def _torch_version() -> str:
    import torch

    return torch.__version__


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
