"""Local tasks in worker processes (`jobs`): the numbers of the in-process loop, bit for
bit; a worker that dies is an ERROR, not a hang; Ctrl-C keeps finished results and leaves
no worker behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lmech.cli import app
from lmech.errors import LmechError
from lmech.laws import select_laws
from lmech.run import Store, verify
from lmech.run.backends import ProcessBackend, make_backend

TESTS = Path(__file__).parents[1]
sys.path.insert(0, str(TESTS))
from fake_laws import CorrectLaw, WrongLaw  # noqa: E402

runner = CliRunner(env={"COLUMNS": "100"})
EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "default_init_law.py"


def _points(summary) -> dict:
    return {(r.law, r.seed): (r.outcome, r.measurement.y.tobytes(),
                              r.measurement.stderr.tobytes())
            for r in summary.per_seed if r.measurement is not None}


def test_jobs_make_a_process_backend_and_bad_jobs_are_named(tmp_path) -> None:
    assert isinstance(make_backend("local", jobs=2), ProcessBackend)
    with pytest.raises(LmechError, match="--jobs is for the local backend"):
        make_backend("ray", jobs=2)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(LmechError, match="jobs must be an integer >= 1"):
            verify([CorrectLaw()], out=tmp_path, budget="quick", jobs=bad)
    result = runner.invoke(app, ["verify", "dln.saxe_scalar_map", "--jobs", "0", "--out",
                                 str(tmp_path)])
    assert result.exit_code == 2 and "jobs must be an integer" in result.stderr


@pytest.mark.slow
def test_worker_processes_give_the_in_process_numbers_bit_for_bit(tmp_path) -> None:
    """Book laws (sent as objects), a user's file (loaded again by name) and this
    session's laws, two seeds each, two workers: the one-process loop's numbers exactly."""
    laws = [*select_laws(["init.criticality", "dln.saxe_scalar_map"]),
            *select_laws([str(EXAMPLE)]), CorrectLaw(), WrongLaw()]
    here = verify(laws, out=tmp_path / "here", budget="smoke", seed=[0, 1], threads=1)
    there = verify(laws, out=tmp_path / "there", budget="smoke", seed=[0, 1], threads=1,
                   jobs=2)
    a, b = _points(here), _points(there)
    assert set(a) == set(b) and len(a) == 2 * len(laws)
    for key in a:
        assert a[key] == b[key], key
    runs = Store(tmp_path / "there").runs()
    assert list(runs["status"]) == ["finished"]


class _DyingLaw(CorrectLaw):
    name = "fake.dying"

    def measure(self, params, seed, *, device="cpu", progress=lambda f: None):
        os._exit(3)  # the worker process dies, as when the kernel kills it


@pytest.mark.slow
def test_a_dying_worker_is_an_error_result_not_a_hang(tmp_path) -> None:
    summary = verify([_DyingLaw(), CorrectLaw()], out=tmp_path, budget="quick", jobs=2)
    outcomes = {r.law: r.outcome.value for r in summary.results}
    assert outcomes["fake.dying"] == "ERROR"
    dying = next(r for r in summary.results if r.law == "fake.dying")
    assert "terminated abruptly" in dying.error or "BrokenProcessPool" in dying.error


SCRIPT = textwrap.dedent(
    """
    import signal
    import sys
    sys.path.insert(0, {tests!r})
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from fake_laws import AnnounceFinished, BlockingLaw, CorrectLaw
    from lmech.run import verify

    try:
        verify([CorrectLaw(), BlockingLaw()], out={out!r}, budget="quick",
               observer=AnnounceFinished(), jobs=2)
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
        sys.exit(130)
    """
)


@pytest.mark.slow
def test_ctrl_c_keeps_finished_results_and_stops_the_workers(tmp_path) -> None:
    script = SCRIPT.format(tests=str(TESTS), out=str(tmp_path))
    seen: list[str] = []
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                          text=True) as proc:
        for line in proc.stdout:
            seen.append(line.strip())
            if {"FINISHED fake.correct", "STARTED fake.blocking"} <= set(seen):
                break
        workers = _children(proc.pid)
        assert workers, "the run has worker processes"
        proc.send_signal(signal.SIGINT)
        rest = proc.stdout.read()
        proc.wait(timeout=60)
    assert "INTERRUPTED" in rest and proc.returncode == 130
    assert not [pid for pid in workers if _alive(pid)], "a worker outlived the run"
    store = Store(tmp_path)
    assert list(store.results()["law"]) == ["fake.correct"]
    assert list(store.runs()["status"]) == ["interrupted"]


def _children(pid: int) -> list[int]:
    """The worker processes of `pid` (not multiprocessing's resource tracker, which ends
    on its own once its parent has gone)."""
    out = subprocess.run(["pgrep", "-P", str(pid), "-f", "spawn_main"], capture_output=True,
                         text=True)
    return [int(x) for x in out.stdout.split()]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "State:\tZ" not in f.read()
    except FileNotFoundError:
        return False


def test_side_by_side_tasks_start_longest_first(tmp_path) -> None:
    """The seconds a law took before at this budget order the tasks; laws never timed go
    first; equal ones keep the plan's order."""
    from lmech.run.runner import _longest_first
    from lmech.run.tasks import Task

    def task(law: str, seed: int = 0) -> Task:
        return Task(law, "", {}, seed, "quick", "cpu", 1)

    plan = [task("a"), task("b"), task("b", 1), task("c"), task("new")]
    order = _longest_first(plan, {"a": 1.0, "b": 30.0, "c": 5.0})
    assert [(t.law, t.seed) for t in order] == [("new", 0), ("b", 0), ("b", 1), ("c", 0),
                                                ("a", 0)]
    verify([CorrectLaw(), WrongLaw()], out=tmp_path, budget="quick", seed=[0, 1])
    seconds = Store(tmp_path).durations("quick")
    assert set(seconds) == {"fake.correct", "fake.wrong"}
    assert all(s >= 0 for s in seconds.values()) and Store(tmp_path).durations("full") == {}
