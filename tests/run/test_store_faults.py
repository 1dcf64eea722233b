"""Nothing lost: damaged stores, results the store cannot take, concurrent runs, killed runs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from fake_laws import CorrectLaw, WrongLaw
from lmech.cli import app
from lmech.run import STORE_FILE, Store, verify
from lmech.run.repair import repair_store
from lmech.run.store import StoreDamaged
from lmech.run.writer_lock import WriterLock

runner = CliRunner(env={"COLUMNS": "100"})


def _truncate(path: Path) -> None:
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)


def _zero(path: Path) -> None:
    path.write_bytes(b"")


def _scribble(path: Path) -> None:
    """Overwrite a block in the middle: DuckDB's checksum no longer matches."""
    with open(path, "r+b") as f:
        f.seek(path.stat().st_size // 2)
        f.write(os.urandom(4096))


DAMAGE = [_truncate, _zero, _scribble]


def _big_store(tmp_path: Path) -> Path:
    """A store big enough that a damaged middle block holds rows."""
    verify([CorrectLaw()], out=tmp_path, budget="full", seed=1, overrides={"n": 20_000})
    return tmp_path / STORE_FILE


class Counting(CorrectLaw):
    name = "fake.counting"
    calls = 0

    def measure(self, params, seed, **kwargs):
        Counting.calls += 1
        return super().measure(params, seed, **kwargs)


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda f: f.__name__[1:])
def test_a_damaged_store_is_named_before_anything_runs(tmp_path, damage) -> None:
    damage(_big_store(tmp_path))
    Counting.calls = 0
    with pytest.raises(StoreDamaged, match="is damaged.*lmech store repair --out"):
        verify([Counting()], out=tmp_path, budget="smoke")
    assert Counting.calls == 0  # nothing was computed, so nothing was lost
    result = runner.invoke(app, ["report", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "is damaged" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    if damage is not _scribble:  # a scribble may spare the results `laws` reads
        assert runner.invoke(app, ["laws", "--out", str(tmp_path)]).exit_code == 2
    assert runner.invoke(app, ["store", "check", "--out", str(tmp_path)]).exit_code == 2


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda f: f.__name__[1:])
def test_repair_keeps_what_is_readable_and_the_store_works_again(tmp_path, damage) -> None:
    path = _big_store(tmp_path)
    damage(path)
    result = runner.invoke(app, ["store", "repair", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "moved the damaged store to" in result.output
    moved = list(tmp_path.glob(f"{STORE_FILE}.damaged-*"))
    assert len(moved) == 1
    Store(tmp_path).check()
    if damage is _scribble:  # the runs and results live in blocks the scribble spared
        assert len(Store(tmp_path).runs()) == 1
    summary = verify([CorrectLaw()], out=tmp_path, budget="smoke")
    assert summary.as_expected
    assert runner.invoke(app, ["store", "check", "--out", str(tmp_path)]).exit_code == 0


class DamagesTheStore(CorrectLaw):
    """Truncates the store while it measures: the store fails under the run's feet."""

    name = "fake.damages_the_store"

    def measure(self, params, seed, **kwargs):
        _zero(self.store_path)
        return super().measure(params, seed, **kwargs)


def test_a_result_the_store_cannot_take_is_kept_and_merged(tmp_path) -> None:
    law = DamagesTheStore()
    law.store_path = tmp_path / STORE_FILE
    summary = verify([CorrectLaw(), law, WrongLaw()], out=tmp_path, budget="smoke")
    kept = [p.name for p in summary.kept]
    assert any("fake.damages_the_store" in k for k in kept)
    assert any("fake.wrong" in k for k in kept) and any(k.endswith(".run.json") for k in kept)
    report = repair_store(tmp_path)
    assert report.merged == 2
    results = Store(tmp_path).results()
    assert set(results["law"]) == {"fake.damages_the_store", "fake.wrong"}
    points = Store(tmp_path).points(summary.run_id, "fake.wrong")
    assert len(points) == 3 * 8 and set(points["units"].dropna()) <= {0, 30}
    assert not list((tmp_path / "pending").glob("*.json"))


def test_kept_results_merge_on_the_next_run(tmp_path, monkeypatch) -> None:
    import lmech.run.store as store_module

    def refuse(*args, **kwargs):
        raise duckdb.IOException("disk full")

    monkeypatch.setattr(store_module, "_insert", refuse)
    first = verify([CorrectLaw()], out=tmp_path, budget="smoke")
    assert len(first.kept) == 1 and Store(tmp_path).results().empty
    monkeypatch.undo()
    second = verify([WrongLaw()], out=tmp_path, budget="smoke")
    assert second.merged == 1 and not second.kept
    assert set(Store(tmp_path).results()["law"]) == {"fake.correct", "fake.wrong"}


def test_a_waiting_write_names_the_other_process(tmp_path) -> None:
    verify([CorrectLaw()], out=tmp_path, budget="smoke")
    told = []
    held = threading.Event()

    def hold() -> None:
        with WriterLock(tmp_path).hold(exclusive=True):
            held.set()
            time.sleep(1.6)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait()
    store = Store(tmp_path, waiting=told.append)
    store.runs()  # a reader waits for the writer, then reads
    thread.join()
    assert told and f"lmech process {os.getpid()}" in told[0]


SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from fake_laws import SlowLaw
    from lmech.run import verify

    class Named(SlowLaw):
        def __init__(self, name):
            self._name = name

        @property
        def name(self):
            return self._name

    laws = [Named(f"fake.slow_{{i}}") for i in range(6)]
    summary = verify(laws, out={out!r}, budget="smoke", seed={seed})
    print("KEPT", len(summary.kept), flush=True)
    """
)


@pytest.mark.slow  # two runs of two processes each (~6 s apiece); .ci/run runs -m slow
@pytest.mark.parametrize("stagger", [0.0, 0.8], ids=["together", "second-mid-run"])
def test_two_concurrent_runs_on_one_directory_both_store_every_law(tmp_path, stagger) -> None:
    tests = str(Path(__file__).parents[1])
    procs = []
    for seed in (1, 2):
        procs.append(subprocess.Popen(
            [sys.executable, "-c", SCRIPT.format(tests=tests, out=str(tmp_path), seed=seed)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        time.sleep(stagger)
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert "KEPT 0" in out, out
    store = Store(tmp_path)
    runs = store.runs()
    assert list(runs["status"]) == ["finished", "finished"]
    results = store.results()
    assert len(results) == 12 and results.groupby("run_id").size().tolist() == [6, 6]
    assert set(results["seed"]) == {1, 2}


def test_a_burst_shares_one_connection_and_loses_nothing(tmp_path) -> None:
    summary = verify([CorrectLaw()], out=tmp_path, budget="smoke", seed=(0, 1, 2))
    store = Store(tmp_path)
    moved = [r.__class__(**{**r.__dict__, "law": "fake.again"}) for r in summary.per_seed]
    with store.burst():
        assert store._held is not None
        kept = [store.record(summary.run_id, r) for r in moved]
    assert kept == [None] * 3 and store._held is None
    assert len(store.results("fake.again")) == 3
    _zero(store.path)  # a store that cannot be opened: the burst leaves records to sidecars
    with store.burst():
        kept = [store.record(summary.run_id, r.__class__(**{**r.__dict__, "law": "fake.late"}))
                for r in moved]
    assert all(k is not None and k.exists() for k in kept)
