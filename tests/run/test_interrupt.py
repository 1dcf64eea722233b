"""A run killed mid-law keeps every finished law, intact, and the store opens cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from lmech.run import Store

SCRIPT = textwrap.dedent(
    """
    import signal
    import sys
    sys.path.insert(0, {tests!r})
    # Ctrl-C raises KeyboardInterrupt even where the test runs with SIGINT ignored (a
    # background job): Python leaves an ignored SIGINT ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from fake_laws import AnnounceFinished, BlockingLaw, CorrectLaw, WrongLaw
    from lmech.run import verify

    try:
        verify([CorrectLaw(), WrongLaw(), BlockingLaw(), CorrectLaw()], out={out!r},
               budget="quick", observer=AnnounceFinished())
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
        sys.exit(130)
    """
)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill", "ctrl-c"])
def test_killed_run_keeps_finished_laws(tmp_path: Path, sig: signal.Signals) -> None:
    script = SCRIPT.format(tests=str(Path(__file__).parents[1]), out=str(tmp_path))
    seen = []
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                          text=True) as proc:
        for line in proc.stdout:
            seen.append(line.strip())
            if line.startswith("STARTED fake.blocking"):
                break
        proc.send_signal(sig)
        rest = proc.stdout.read()
        proc.wait(timeout=60)
    assert seen[:2] == ["FINISHED fake.correct", "FINISHED fake.wrong"]

    store = Store(tmp_path)
    results = store.results()
    assert sorted(results["law"]) == ["fake.correct", "fake.wrong"]
    run_id = results["run_id"].iloc[0]
    for law in ("fake.correct", "fake.wrong"):
        points = store.points(run_id, law)
        assert sorted(points["kind"].value_counts().to_dict().items()) == [
            ("foil", 20), ("measurement", 20), ("prediction", 20)]
    status = store.runs()["status"].iloc[0]
    if sig == signal.SIGINT:
        assert "INTERRUPTED" in rest and proc.returncode == 130
        assert status == "interrupted"
    else:
        assert proc.returncode == -signal.SIGKILL
        # killed outright, it had no chance to mark itself; its process is gone, so it
        # reads as interrupted, never as running
        assert status == "interrupted"
        raw = duckdb.connect(str(store.path), read_only=True).execute(
            "SELECT status FROM runs").fetchone()[0]
        assert raw == "running"
