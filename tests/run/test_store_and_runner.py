"""The runner and the DuckDB store: outcomes, errors, determinism, schema round trip."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from fake_laws import CorrectLaw, FoilIsPredictionLaw, RaisingLaw, WrongLaw
from lmech.errors import LmechError
from lmech.laws import get_law
from lmech.run import STORE_FILE, Outcome, Store, resolve_parameters, verify


def test_outcomes_and_error_are_stored(tmp_path) -> None:
    laws = [CorrectLaw(), WrongLaw(), FoilIsPredictionLaw(), RaisingLaw()]
    summary = verify(laws, out=tmp_path, budget="smoke", seed=3)
    outcomes = {r.law: r.outcome for r in summary.results}
    assert outcomes == {
        "fake.correct": Outcome.CONFIRMED,
        "fake.wrong": Outcome.REFUTED,
        "fake.foil_is_prediction": Outcome.INCONCLUSIVE,
        "fake.raising": Outcome.ERROR,
    }
    assert not summary.all_confirmed
    results = Store(tmp_path).results().set_index("law")
    assert "ZeroDivisionError: the experiment broke" in results.loc["fake.raising", "error"]
    assert results.loc["fake.wrong", "agreement_z"] > results.loc["fake.wrong", "z_critical"]
    runs = Store(tmp_path).runs()
    assert list(runs["status"]) == ["finished"] and runs["budget"][0] == "smoke"


def test_store_round_trip_is_readable_without_lmech(tmp_path) -> None:
    law = CorrectLaw()
    summary = verify([law], out=tmp_path, budget="quick", seed=5)
    result = summary.results[0]
    con = duckdb.connect(str(tmp_path / STORE_FILE), read_only=True)
    tables = {r[0] for r in con.execute("select table_name from information_schema.tables")
              .fetchall()}
    assert tables == {"runs", "results", "points"}
    pts = con.execute("select * from points where kind = 'measurement' order by x").df()
    np.testing.assert_array_equal(pts["y"], result.measurement.y)
    np.testing.assert_array_equal(pts["stderr"], result.measurement.stderr)
    pred = con.execute("select * from points where kind = 'prediction' order by x").df()
    np.testing.assert_array_equal(pred["tolerance"], result.tolerance)
    row = con.execute("select * from results").df().iloc[0]
    assert row["verdict"] == "CONFIRMED" and row["law"] == "fake.correct"
    assert row["agreement_z"] == result.verdict.agreement_z
    assert '"slope": 2.0' in row["params"]
    run = con.execute("select * from runs").df().iloc[0]
    assert run["seed"] == 5 and run["torch_version"] and run["lmech_version"]
    con.close()


def test_second_run_appends(tmp_path) -> None:
    verify([CorrectLaw()], out=tmp_path, budget="smoke")
    verify([CorrectLaw(), WrongLaw()], out=tmp_path, budget="smoke")
    store = Store(tmp_path)
    assert len(store.runs()) == 2
    assert len(store.results()) == 3
    assert set(store.latest_results()["law"]) == {"fake.correct", "fake.wrong"}


def test_same_seed_same_numbers(tmp_path) -> None:
    """Same seed and budget give identical numbers in the store (the real law, smoke)."""
    law = get_law("dln.saxe_modes")
    a = verify([law], out=tmp_path / "a", budget="smoke", seed=11)
    b = verify([law], out=tmp_path / "b", budget="smoke", seed=11)
    pa = Store(tmp_path / "a").points(a.run_id, law.name).drop(columns="run_id")
    pb = Store(tmp_path / "b").points(b.run_id, law.name).drop(columns="run_id")
    pd.testing.assert_frame_equal(pa, pb)


def test_record_is_all_or_nothing(tmp_path, monkeypatch) -> None:
    """A failure while writing a law leaves neither its result nor any of its points."""
    summary = verify([CorrectLaw()], out=tmp_path, budget="smoke")
    store = Store(tmp_path)
    import lmech.run.store as store_module

    def broken(run_id, result):
        frame = real(run_id, result)
        frame.loc[len(frame) // 2, "kind"] = None  # violates NOT NULL mid-insert
        return frame

    real = store_module._points_frame
    monkeypatch.setattr(store_module, "_points_frame", broken)
    with pytest.raises(duckdb.Error):
        store.record(summary.run_id, summary.results[0].__class__(
            **{**summary.results[0].__dict__, "law": "fake.other"}))
    assert set(store.results()["law"]) == {"fake.correct"}
    con = duckdb.connect(str(store.path), read_only=True)
    assert con.execute("select count(*) from points where law = 'fake.other'").fetchone() == (0,)
    con.close()


def test_parameters_are_validated_before_anything_runs(tmp_path) -> None:
    with pytest.raises(LmechError, match="unknown parameter 'nope'"):
        verify([CorrectLaw()], out=tmp_path / "x", overrides={"nope": 1})
    with pytest.raises(LmechError, match="greater than or equal to 2"):
        verify([CorrectLaw()], out=tmp_path / "x", overrides={"n": 1})
    with pytest.raises(LmechError, match="unknown budget"):
        verify([CorrectLaw()], out=tmp_path / "x", budget="huge")
    assert not (tmp_path / "x").exists()


def test_overrides_apply_to_the_laws_that_declare_them() -> None:
    saxe = get_law("dln.saxe_modes")
    params = resolve_parameters([saxe, CorrectLaw()], "smoke", {"width": 12, "slope": 3.0})
    assert params["dln.saxe_modes"].width == 12
    assert params["fake.correct"].slope == 3.0


def test_unwritable_directory_is_refused(tmp_path) -> None:
    """A path under a regular file cannot be created, even by root."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(LmechError, match="not writable"):
        verify([CorrectLaw()], out=blocker / "runs")
    assert blocker.read_text() == ""
