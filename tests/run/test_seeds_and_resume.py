"""Many seeds (a verdict per seed and one pooled), and runs resumed after an interruption."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from fake_laws import CorrectLaw, WrongLaw
from lmech.cli import app
from lmech.errors import LmechError
from lmech.run import POOLED, Store, parse_seeds, verify
from lmech.run.combine import pooled_measurement

runner = CliRunner(env={"COLUMNS": "100"})


def test_parse_seeds() -> None:
    assert parse_seeds("0:4") == (0, 1, 2, 3)
    assert parse_seeds("7") == (7,) and parse_seeds("0,4,7") == (0, 4, 7)
    for bad, fragment in (("5:2", "stop > start"), ("a:b", "must be start:stop"),
                          ("1,1", "repeats"), ("-3", "seed must be"), ("", "must be")):
        with pytest.raises(LmechError, match=fragment):
            parse_seeds(bad)


@pytest.mark.parametrize("bad", ["5:2", "a:b"])
def test_bad_seeds_exit_2(tmp_path, bad) -> None:
    result = runner.invoke(app, ["verify", "dln.", "--seeds", bad, "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--seeds" in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_pooling_weights_units() -> None:
    from lmech.laws import Curve, Series

    a = Series.from_curves([Curve("p", "c", [0, 1], [1.0, 2.0], [0.1, 0.2], 10)])
    b = Series.from_curves([Curve("p", "c", [0, 1], [3.0, 4.0], [0.3, 0.4], 30)])
    pooled = pooled_measurement([a, b])
    np.testing.assert_allclose(pooled.y, [0.25 * 1 + 0.75 * 3, 0.25 * 2 + 0.75 * 4])
    np.testing.assert_allclose(pooled.stderr, np.sqrt([0.25**2 * 0.01 + 0.75**2 * 0.09,
                                                      0.25**2 * 0.04 + 0.75**2 * 0.16]))
    assert list(pooled.units) == [40, 40]


def test_every_seed_and_the_pooled_verdict_are_stored(tmp_path) -> None:
    summary = verify([CorrectLaw(), WrongLaw()], out=tmp_path, budget="smoke",
                     seed=(0, 1, 2))
    assert len(summary.per_seed) == 6
    correct = summary.results[0]
    assert correct.seed == POOLED and correct.seeds == (0, 1, 2)
    assert correct.measurement.units[0] == 90 and correct.spread["outcomes"] == {
        "CONFIRMED": 3}
    assert set(correct.spread) >= {"agreement", "power_ratio"}
    rows = Store(tmp_path).run_results(summary.run_id)
    assert sorted(rows["seed"].unique()) == [POOLED, 0, 1, 2] and len(rows) == 8
    headline = Store(tmp_path).latest_results().set_index("law")
    assert headline.loc["fake.correct", "seed"] == POOLED
    assert headline.loc["fake.correct", "seeds"] == "0,1,2"
    points = Store(tmp_path).points(summary.run_id, "fake.correct", POOLED,
                                    correct.params_hash)
    assert len(points[points["kind"] == "measurement"]) == 8


def test_the_table_gives_the_seeds(tmp_path, monkeypatch) -> None:
    import lmech.laws

    monkeypatch.setattr(lmech.laws, "select_laws", lambda names: [CorrectLaw()])
    result = runner.invoke(app, ["verify", "--seeds", "0:3", "--budget", "smoke", "--out",
                                 str(tmp_path), "--no-report"])
    assert result.exit_code == 0, result.output
    assert "3C" in result.output and "seeds" in result.output


class _Ticks:
    """Counts measurements across laws and presses Ctrl-C at the `stop`-th."""

    stop = -1
    calls = 0

    @classmethod
    def tick(cls) -> None:
        cls.calls += 1
        if cls.calls == cls.stop:
            raise KeyboardInterrupt


class TickingCorrect(CorrectLaw):
    name = "fake.ticking_correct"

    def measure(self, params, seed, **kwargs):
        _Ticks.tick()
        return super().measure(params, seed, **kwargs)


class TickingWrong(WrongLaw):
    name = "fake.ticking_wrong"

    def measure(self, params, seed, **kwargs):
        _Ticks.tick()
        return super().measure(params, seed, **kwargs)


class TickingOther(TickingCorrect):
    name = "fake.ticking_other"


LAWS = [TickingCorrect(), TickingWrong(), TickingOther()]
SEEDS = (0, 1, 2, 3)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    _Ticks.stop, _Ticks.calls = -1, 0
    out = tmp_path_factory.mktemp("whole")
    verify(LAWS, out=out, budget="smoke", seed=SEEDS)
    return _contents(Store(out))


def _contents(store: Store) -> dict:
    """(law, seed) → (verdict, measured y) of the newest result of each."""
    out = {}
    results = store.results()
    for (law, seed), rows in results.groupby(["law", "seed"]):
        row = rows.sort_values("finished_at").iloc[-1]
        points = store.points(row["run_id"], law, int(seed), row["params_hash"])
        measured = points[points["kind"] == "measurement"].sort_values("idx")["y"]
        out[law, int(seed)] = (row["verdict"], tuple(measured))
    return out


@pytest.mark.parametrize("moment", [
    pytest.param(m, marks=() if m in (1, 7) else pytest.mark.slow) for m in range(1, 11)])
def test_resume_after_an_interruption_ends_as_an_uninterrupted_run(
        tmp_path, moment, uninterrupted) -> None:
    """Interrupted at the `moment`-th of 12 tasks (3 laws × 4 seeds), then resumed, the
    store holds what one uninterrupted run would, seed by seed and pooled."""
    _Ticks.stop, _Ticks.calls = moment, 0
    with pytest.raises(KeyboardInterrupt):
        verify(LAWS, out=tmp_path, budget="smoke", seed=SEEDS)
    _Ticks.stop = -1
    summary = verify(LAWS, out=tmp_path, budget="smoke", seed=SEEDS, resume=True)
    assert summary.resumed == moment - 1
    assert _contents(Store(tmp_path)) == uninterrupted


def test_resume_refuses_a_store_of_another_version(tmp_path, monkeypatch) -> None:
    import lmech

    verify([CorrectLaw()], out=tmp_path, budget="smoke")
    monkeypatch.setattr(lmech, "__version__", "9.9.9")
    with pytest.raises(LmechError, match="runs of lmech 0.1.0, not 9.9.9"):
        verify([CorrectLaw()], out=tmp_path, budget="smoke", resume=True)
