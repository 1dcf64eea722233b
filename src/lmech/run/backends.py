"""Where tasks run: here, one after another (the default); several at a time in worker
processes of this machine (``jobs``); or as tasks of a Ray cluster.

All call `on_done(task, result)` in the driver as each task finishes, in the order they
finish, so the driver alone writes the store. A task carries everything it needs (`Task`),
so a worker process runs it exactly as this process would, with the same thread count:
the numbers agree bit for bit. Ray is an optional extra
(``pip install 'lmech[ray]'``); `ray.init()` starts a local cluster unless an address of a
running one is given. Each Ray task reserves `threads` CPUs and runs with that many torch
threads, exactly as the local backend runs it with the same count, so the numbers agree
bit for bit.
"""

from __future__ import annotations

import concurrent.futures as futures
import contextlib
import multiprocessing
import signal
import socket
import traceback
from collections.abc import Callable, Sequence

from lmech.errors import LmechError
from lmech.laws import AbstractLaw
from lmech.run.schema import LawResult
from lmech.run.tasks import Task, execute

__all__ = ["BACKENDS", "LocalBackend", "ProcessBackend", "RayBackend", "make_backend"]

BACKENDS = ("local", "ray")
CONNECT_TIMEOUT = 10.0  # seconds to reach a given cluster's address before giving up
IN_FLIGHT_PER_CPU = 2  # tasks submitted ahead per cluster CPU: busy workers, bounded memory
RETRIES = 2  # re-runs of a task whose worker or node died

OnDone = Callable[[Task, LawResult], None]
OnProgress = Callable[[Task, float], None]
Burst = Callable[[], contextlib.AbstractContextManager]
"""A context under which several results are written in a row (`Store.burst`)."""


class LocalBackend:
    """Tasks one after another in this process."""

    def run(self, tasks: Sequence[Task], laws: dict[str, AbstractLaw], on_done: OnDone,
            on_progress: OnProgress, burst: Burst = contextlib.nullcontext) -> None:
        for task in tasks:
            result = execute(task, laws.get(task.law),
                             progress=lambda f, task=task: on_progress(task, f))
            on_done(task, result)


class ProcessBackend:
    """Tasks `jobs` at a time, each in a worker process of this machine.

    The workers are spawned (not forked: a forked torch is unsafe) and ignore Ctrl-C; the
    driver stops them when interrupted, so every result it already wrote stays and no
    worker outlives the run. A worker that dies (killed, out of memory) makes its task
    and the unfinished ones ERROR results.

    Args:
        jobs: worker processes, tasks at a time.
    """

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs

    def run(self, tasks: Sequence[Task], laws: dict[str, AbstractLaw], on_done: OnDone,
            on_progress: OnProgress, burst: Burst = contextlib.nullcontext) -> None:
        pool = futures.ProcessPoolExecutor(
            self.jobs, mp_context=multiprocessing.get_context("spawn"),
            initializer=signal.signal, initargs=(signal.SIGINT, signal.SIG_IGN))
        # A law of the book or of this session travels as itself (by its class); a law
        # from a user's file or module is loaded there again by name, as on Ray
        pending = {pool.submit(execute, task, None if task.source else laws.get(task.law)):
                   task for task in tasks}
        try:
            for future in futures.as_completed(pending):
                task = pending[future]
                try:
                    result = future.result()
                except Exception:  # the worker itself failed: the task is an ERROR
                    result = _failed(task, laws.get(task.law), traceback.format_exc())
                on_progress(task, 1.0)
                with burst():
                    on_done(task, result)
        except BaseException:  # Ctrl-C or a failing store: stop the workers, keep results
            _stop_workers(pool)
            raise
        pool.shutdown()


def _stop_workers(pool: futures.ProcessPoolExecutor) -> None:
    """Cancel what has not started and end the workers now (before Python 3.14 there is no
    public way: the executor's own process table, read before shutdown clears it)."""
    terminate = getattr(pool, "terminate_workers", None)
    if terminate is not None:
        terminate()
        return
    workers = list((getattr(pool, "_processes", None) or {}).values())
    for process in workers:
        process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in workers:
        process.join(timeout=5)


class RayBackend:
    """Tasks of a Ray cluster: a local one by default, or the one at `address`.

    Args:
        address: "host:port" (or "ray://host:port") of a running cluster; None starts one.
        threads: CPUs each task reserves, and its torch threads.
    """

    def __init__(self, address: str | None = None, threads: int = 1) -> None:
        self.address = address
        self.threads = threads

    def run(self, tasks: Sequence[Task], laws: dict[str, AbstractLaw], on_done: OnDone,
            on_progress: OnProgress, burst: Burst = contextlib.nullcontext) -> None:
        ray = _import_ray()
        self._start(ray)
        # A task whose worker or node dies is retried (tasks are deterministic, so a retry
        # gives the same numbers); a law that raises is an ERROR result, never retried.
        remote = ray.remote(num_cpus=self.threads, max_retries=RETRIES)(execute)
        window = max(1, IN_FLIGHT_PER_CPU * int(ray.cluster_resources().get("CPU", 1)))
        waiting = list(tasks)[::-1]
        pending: dict = {}
        try:
            while pending or waiting:
                while waiting and len(pending) < window:  # back-pressure: a bounded window
                    task = waiting.pop()
                    pending[remote.remote(task)] = task
                ray.wait(list(pending), num_returns=1)  # then take every finished one
                done, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0)
                with burst():
                    for ref in done:
                        task = pending.pop(ref)
                        try:
                            result = ray.get(ref)
                        except Exception:  # the worker itself failed: the task is an ERROR
                            result = _failed(task, laws.get(task.law),
                                             traceback.format_exc())
                        on_progress(task, 1.0)
                        on_done(task, result)
        except KeyboardInterrupt:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise

    def _start(self, ray) -> None:
        if ray.is_initialized():
            return
        if self.address:
            _reachable(self.address)
        try:
            ray.init(address=self.address or None, include_dashboard=False,
                     log_to_driver=False, configure_logging=False)
        except Exception as err:
            raise LmechError(f"cannot start or join a Ray cluster"
                             f"{' at ' + self.address if self.address else ''}: "
                             f"{type(err).__name__}: {err}") from None


def _import_ray():
    try:
        import ray
    except ImportError:
        raise LmechError("--backend ray needs Ray: pip install 'lmech[ray]'") from None
    return ray


def _reachable(address: str) -> None:
    """Refuse an address nothing listens on, within CONNECT_TIMEOUT (no hang)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise LmechError(f"--address must be host:port, got {address!r}")
    error: Exception | None = None
    try:
        addresses = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
    except OSError as err:
        addresses, error = [], err
    for family, kind, proto, _, target in addresses:
        with socket.socket(family, kind, proto) as probe:  # closed however connect fails
            probe.settimeout(CONNECT_TIMEOUT)
            try:
                probe.connect(target)
                return
            except (OSError, RuntimeError) as err:
                error = err
    raise LmechError(f"cannot reach a Ray cluster at {address} within "
                     f"{CONNECT_TIMEOUT:g} s ({error})")


def _failed(task: Task, law: AbstractLaw | None, error: str) -> LawResult:
    from lmech.run.verdict import Outcome

    return LawResult(
        law=task.law, claim=getattr(law, "claim", ""), source=getattr(law, "source", ""),
        pillar=getattr(getattr(law, "pillar", None), "value", ""), budget=task.budget,
        seed=task.seed, params=task.params, outcome=Outcome.ERROR, verdict=None,
        panels=getattr(law, "panels", ()), seconds=0.0, error=error,
        params_hash=task.params_hash,
    )


def make_backend(name: str, *, address: str | None = None, threads: int = 1,
                 jobs: int = 1):
    """The backend called `name` (one of BACKENDS); "local" with `jobs` > 1 runs that many
    tasks at a time in worker processes."""
    if name == "local":
        if address:
            raise LmechError("--address needs --backend ray")
        return LocalBackend() if jobs == 1 else ProcessBackend(jobs)
    if jobs != 1:
        raise LmechError(f"--jobs is for the local backend; {name} places tasks itself")
    if name == "ray":
        _import_ray()
        return RayBackend(address, threads)
    raise LmechError(f"unknown backend {name!r}; allowed: {', '.join(BACKENDS)}")
