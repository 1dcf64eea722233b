"""The runner and the DuckDB store: outcomes, errors, determinism, schema round trip."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from fake_laws import CorrectLaw, FoilIsPredictionLaw, RaisingLaw, WrongLaw
from lmech.errors import LmechError
from lmech.laws import Kind, ToleranceBasis, get_law
from lmech.run import STORE_FILE, Outcome, Store, resolve_parameters, verify


def test_outcomes_and_error_are_stored(tmp_path) -> None:
    laws = [CorrectLaw(), WrongLaw(), FoilIsPredictionLaw(), RaisingLaw()]
    summary = verify(laws, out=tmp_path, budget="quick", seed=3)
    outcomes = {r.law: r.outcome for r in summary.results}
    assert outcomes == {
        "fake.correct": Outcome.CONFIRMED,
        "fake.wrong": Outcome.REFUTED,
        "fake.foil_is_prediction": Outcome.INCONCLUSIVE,
        "fake.raising": Outcome.ERROR,
    }
    assert not summary.as_expected
    assert {r.law for r in summary.unexpected} == {"fake.wrong", "fake.foil_is_prediction",
                                                   "fake.raising"}
    assert summary.summary_line() == "1 confirmed, 3 unexpected"
    results = Store(tmp_path).results().set_index("law")
    assert "ZeroDivisionError: the experiment broke" in results.loc["fake.raising", "error"]
    assert results.loc["fake.wrong", "refutation_p"] < results.loc["fake.wrong", "alpha"]
    assert results.loc["fake.correct", "agreement"] <= 1
    assert results.loc["fake.correct", "kind"] == "empirical"
    assert results.loc["fake.correct", "expected"] == "CONFIRMED"
    assert results.loc["fake.correct", "min_units"] == 30
    assert "foil not rejected" in results.loc["fake.foil_is_prediction", "reason"]
    runs = Store(tmp_path).runs()
    assert list(runs["status"]) == ["finished"] and runs["budget"][0] == "quick"


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
    assert row["agreement"] == result.verdict.agreement
    assert row["detectable"] == result.verdict.detectable and row["gap"] == result.verdict.gap
    assert row["tolerance_kind"] == "computed"
    assert list(pts["units"]) == list(result.measurement.units)
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

    real = store_module.points_frame
    monkeypatch.setattr(store_module, "points_frame", broken)
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


def test_expected_findings_count_as_expected(tmp_path) -> None:
    """A law that records a finding and reproduces it is as expected (like xfail); one
    whose finding no longer reproduces is unexpected."""

    class RecordedWrong(WrongLaw):
        name = "fake.recorded_wrong"
        finding = "the slope is 10 % off"
        expected = "REFUTED"

    class StaleFinding(CorrectLaw):
        name = "fake.stale_finding"
        finding = "it used to be off"
        expected = "REFUTED"

    summary = verify([CorrectLaw(), RecordedWrong(), StaleFinding()], out=tmp_path,
                     budget="smoke")
    assert summary.summary_line() == "1 confirmed, 1 refuted as recorded, 1 unexpected"
    assert [r.law for r in summary.unexpected] == ["fake.stale_finding"]


def test_identity_laws_are_reported_apart(tmp_path) -> None:
    class Identity(CorrectLaw):
        name = "fake.identity"
        kind = Kind.IDENTITY

    summary = verify([CorrectLaw(), Identity()], out=tmp_path, budget="smoke")
    identity = summary.results[1]
    assert identity.outcome is Outcome.HOLDS and identity.expected == "IDENTITY HOLDS"
    assert summary.summary_line() == "1 confirmed, 1 identities hold, 0 unexpected"
    row = Store(tmp_path).results("fake.identity").iloc[0]
    assert row["kind"] == "identity" and row["deviation"] <= 1


def test_pilot_seeds_are_refused(tmp_path) -> None:
    class Piloted(CorrectLaw):
        name = "fake.piloted"
        tolerance_basis = ToleranceBasis.pilot(seeds=(99,), measured="0.01", why="test")

    with pytest.raises(LmechError, match="seed 99 is one of its pilot seeds"):
        verify([Piloted()], out=tmp_path / "x", budget="smoke", seed=99)
    assert not (tmp_path / "x").exists()


def test_a_store_of_the_previous_version_opens_and_reports(tmp_path) -> None:
    """Migration: a store written before units, kinds and the equivalence statistics still
    opens, keeps its old rows, takes new results, and renders."""
    from lmech.report import render_report

    con = duckdb.connect(str(tmp_path / STORE_FILE))
    con.execute(PREVIOUS_SCHEMA)
    con.execute("INSERT INTO runs VALUES ('old', now(), now(), 'finished', '0.1.0', NULL, "
                "'2.13', '3.11', 'cpu', 'quick', 0, 'lmech verify')")
    con.execute("INSERT INTO results VALUES ('old', 'fake.correct', 'c', 's', 'simple laws', "
                "'quick', 0, '{}', 'CONFIRMED', 0.5, 1.0, 40.0, 0.0, 3.3, 0.01, 8, 'line/y@0', "
                "'line/y@1', '[{\"name\": \"line\", \"xlabel\": \"x\", \"ylabel\": \"y\"}]', "
                "NULL, 1.0, now())")
    con.execute("INSERT INTO points VALUES ('old', 'fake.correct', 'measurement', 'line', 'y', "
                "0.0, 0.0, 0.01, NULL), ('old', 'fake.correct', 'prediction', 'line', 'y', "
                "0.0, 0.0, 0.0, 0.1)")
    con.close()
    store = Store(tmp_path)
    assert list(store.results()["law"]) == ["fake.correct"]
    render_report(tmp_path)  # old rows render, with the new statistics as "—"
    verify([WrongLaw()], out=tmp_path, budget="smoke")
    results = store.results().set_index("law")
    assert results.loc["fake.correct", "agreement_z"] == 0.5  # old columns kept
    assert np.isnan(results.loc["fake.wrong", "agreement_z"])
    assert results.loc["fake.wrong", "verdict"] == "REFUTED"
    assert "fake.wrong" in render_report(tmp_path).read_text()


PREVIOUS_SCHEMA = """
CREATE TABLE runs (run_id VARCHAR PRIMARY KEY, started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP, status VARCHAR NOT NULL, lmech_version VARCHAR,
    git_revision VARCHAR, torch_version VARCHAR, python_version VARCHAR, device VARCHAR,
    budget VARCHAR, seed BIGINT, command VARCHAR);
CREATE TABLE results (run_id VARCHAR NOT NULL, law VARCHAR NOT NULL, claim VARCHAR,
    source VARCHAR, pillar VARCHAR, budget VARCHAR, seed BIGINT, params VARCHAR,
    verdict VARCHAR NOT NULL, agreement_z DOUBLE, agreement_p DOUBLE, foil_z DOUBLE,
    foil_p DOUBLE, z_critical DOUBLE, alpha DOUBLE, n_points INTEGER, worst_point VARCHAR,
    foil_point VARCHAR, panels VARCHAR, error VARCHAR, seconds DOUBLE,
    finished_at TIMESTAMP NOT NULL, PRIMARY KEY (run_id, law));
CREATE TABLE points (run_id VARCHAR NOT NULL, law VARCHAR NOT NULL, kind VARCHAR NOT NULL,
    panel VARCHAR NOT NULL, curve VARCHAR NOT NULL, x DOUBLE, y DOUBLE, stderr DOUBLE,
    tolerance DOUBLE);
"""
"""The schema of lmech 0.1.0 before units, kinds and the equivalence statistics (a store
such a version wrote must keep opening)."""


def test_at_smoke_inconclusive_is_expected_and_refuted_is_not(tmp_path) -> None:
    """Smoke runs the machinery with too few units to decide: INCONCLUSIVE there is what
    the book expects, counted apart; a REFUTED still is not."""
    from dataclasses import replace

    from lmech.run.summary import is_expected, summary_line
    from lmech.run.verdict import Outcome

    summary = verify([CorrectLaw(), WrongLaw()], out=tmp_path, budget="quick")
    right, wrong = summary.results
    unsure = replace(right, outcome=Outcome.INCONCLUSIVE)
    assert not is_expected(unsure) and not is_expected(wrong)
    assert is_expected(replace(unsure, budget="smoke"))
    assert not is_expected(replace(wrong, budget="smoke"))
    assert summary_line([replace(unsure, budget="smoke"), replace(wrong, budget="smoke")]) \
        == "0 confirmed, 1 inconclusive at smoke, 1 unexpected"
