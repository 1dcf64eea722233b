"""`lmech scaling fit` on a CSV made by hand, on Parquet and on the lmech store; every bad
input is one named line on exit 2, found before the fit starts."""

from __future__ import annotations

import io

import duckdb
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import lmech.tools.scaling_fit.summary as summary
from lmech.cli import app
from lmech.errors import LmechError
from lmech.laws import AbstractLaw, Curve, LawParams, Panel, Pillar, Series, ToleranceBasis
from lmech.run import STORE_FILE, verify
from lmech.tools.scaling_fit import read_store_points

runner = CliRunner(env={"COLUMNS": "200"})
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

CSV = """N,D,loss
1e6,1e8,4.41
1e6,1e9,3.40
1e6,1e10,3.05
3e6,1e8,4.08
3e6,1e9,3.07
3e6,1e10,2.72
1e7,1e8,3.87
1e7,1e9,2.85
1e7,1e10,2.50
3e7,1e8,3.74
3e7,1e9,2.72
3e7,1e10,2.37
1e8,1e9,2.63
1e8,1e10,2.28
"""


def _fit(*args: str):
    return runner.invoke(app, ["scaling", "fit", *args])


def _one_line(text: str) -> str:
    return " ".join(text.split())


def test_fit_a_hand_made_csv(tmp_path) -> None:
    (tmp_path / "runs.csv").write_text(CSV)
    png = tmp_path / "fit.png"
    result = _fit(str(tmp_path / "runs.csv"), "--x", "N,D", "--y", "loss", "--png", str(png),
                  "--bootstrap", "30", "--starts", "16")
    assert result.exit_code == 0, result.output
    for fragment in ("alpha", "beta", "95% bootstrap interval", "objective", "extrapolation",
                     "compute-optimal", "predicted"):
        assert fragment in result.output
    assert f"figure: {png}" in result.output  # printed where it was written
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.png", "runs.csv"]


def test_noise_free_forecasts_read_as_inside(tmp_path) -> None:
    """Exact data: the forecast agrees to round-off, so no line says it missed (and no error
    prints as "-0.00 %")."""
    n, d = (a.ravel() for a in np.meshgrid(np.geomspace(1e6, 1e9, 6), np.geomspace(1e8, 1e11, 5)))
    exact = pd.DataFrame(dict(N=n, D=d, loss=1.69 + 406.4 / n**0.34 + 410.7 / d**0.28))
    exact.to_csv(tmp_path / "exact.csv", index=False)
    result = _fit(str(tmp_path / "exact.csv"), "--png", str(tmp_path / "f.png"),
                  "--bootstrap", "20", "--starts", "16")
    assert result.exit_code == 0, result.output
    forecasts = [line for line in result.output.splitlines() if "measured" in line]
    assert len(forecasts) == 6
    for line in forecasts:
        assert "error 0.00 %" in line and "outside" not in line, line


def test_fit_parquet_and_bad_column(tmp_path) -> None:
    frame = pd.read_csv(io.StringIO(CSV))
    with duckdb.connect() as con:
        con.register("runs", frame)
        con.execute(f"COPY runs TO '{tmp_path / 'runs.parquet'}' (FORMAT PARQUET)")
    ok = _fit(str(tmp_path / "runs.parquet"), "--x", "N,D", "--png", str(tmp_path / "a.png"),
              "--bootstrap", "20", "--starts", "16")
    assert ok.exit_code == 0, ok.output
    bad = _fit(str(tmp_path / "runs.parquet"), "--x", "N,P")
    assert bad.exit_code == 2 and "column 'P' not in the data" in _one_line(bad.stderr)


class _LossParams(LawParams):
    n: int = 12


class _LossVsSize(AbstractLaw):
    """Stores a power-law loss curve, as a law's measurement would."""

    name = "test.loss_vs_size"
    claim, source, pillar = "loss falls as a power of N", "test", Pillar.SIMPLE_LAWS
    tolerance_basis = ToleranceBasis.computed("a test law: 1e-3 absolute")
    Params = _LossParams
    budgets = {"smoke": {}, "quick": {}, "full": {}}
    panels = (Panel("loss", "N", "loss"),)

    def _series(self, se):
        n = np.geomspace(1e3, 1e6, 12)
        units = None if se is None else 30
        return Series.from_curves([Curve("loss", "loss", n, 0.5 + 30 / n**0.4, se, units)])

    def predict(self, params):
        return self._series(None)

    def measure(self, params, seed, *, device="cpu", progress=lambda f: None):
        return self._series(np.full(12, 1e-3))

    def foil(self, params):
        return self._series(None)

    def tolerance(self, params, prediction):
        return np.full(len(prediction), 1e-3)


def test_fit_from_the_store(tmp_path) -> None:
    verify([_LossVsSize()], out=tmp_path, budget="smoke", seed=0)
    result = _fit(str(tmp_path), "--x", "x", "--y", "y", "--png", str(tmp_path / "s.png"),
                  "--bootstrap", "20", "--starts", "16")
    assert result.exit_code == 0, result.output
    alpha = next(line for line in result.output.splitlines() if line.split()[0] == "alpha")
    assert float(alpha.split()[1]) == pytest.approx(0.4, rel=1e-3)
    points = read_store_points(tmp_path)
    assert len(points) == 12 and set(points.law) == {"test.loss_vs_size"}
    assert read_store_points(tmp_path / STORE_FILE).equals(points)  # the file itself
    with pytest.raises(LmechError, match="no measured points .* panel='nope'"):
        read_store_points(tmp_path, panel="nope")
    missing = _fit(str(tmp_path), "--x", "x", "--y", "y", "--law", "no.such_law")
    assert missing.exit_code == 2
    assert "no results of law 'no.such_law'" in _one_line(missing.stderr)
    assert "test.loss_vs_size" in _one_line(missing.stderr)


def _csv(rows: list[tuple[float, float, float]]) -> str:
    return "N,D,loss\n" + "".join(f"{n},{d},{loss}\n" for n, d, loss in rows)


_GRID = [(n, d) for n in (1e6, 1e7, 1e8) for d in (1e8, 1e9, 1e10)]
_FIVE = [(1e6, 1e8), (1e7, 1e9), (1e8, 1e10), (1e6, 1e9), (1e7, 1e10)]  # 3 N's, 3 D's
FILES = {
    "empty.csv": b"",
    "header.csv": b"N,D,loss\n",
    "ragged.csv": CSV.replace("3e6,1e9,3.07", "3e6,1e9,3.07,9,9").encode(),
    "binary.csv": bytes(range(256)) * 8,
    "latin1.csv": "N,D,loss\n1e6,1e8,4.41\n\xe9\xe8\xff,1e9,3\n".encode("latin-1"),
    "garbage.parquet": b"PAR1 this is not a parquet file",
    "runs.txt": CSV.encode(),
    "constant.csv": _csv([(n, d, 3.0) for n, d in _GRID]).encode(),
    "one_size.csv": _csv([(1e6, 1e8, 3.0 + 0.01 * i) for i in range(12)]).encode(),
    "repeated.csv": _csv([(n, d, 2 + 1e3 / n**0.3 + 1e3 / d**0.3 + 1e-3 * r)
                          for n, d in _FIVE for r in range(3)]).encode(),
    "two_n.csv": _csv([(n, d, 2 + 1e3 / n**0.3 + 1e3 / d**0.3)
                       for n in (1e6, 1e7) for d in (1e8, 1e9, 1e10, 1e11)]).encode(),
}


def _corrupt_store(tmp_path):
    folder = tmp_path / "store"
    folder.mkdir()
    (folder / STORE_FILE).write_bytes(b"this is not a duckdb database" * 100)
    return folder


def _empty_store(tmp_path):
    folder = tmp_path / "store"
    folder.mkdir()
    duckdb.connect(str(folder / STORE_FILE)).close()
    return folder


def _no_store(tmp_path):
    folder = tmp_path / "store"
    folder.mkdir()
    return folder


@pytest.mark.parametrize(("data", "options", "fragment"), [
    ("empty.csv", [], "empty.csv is empty: a CSV needs a header line"),
    ("header.csv", [], "header.csv has a header but no rows"),
    ("ragged.csv", [], "cannot read {tmp}/ragged.csv as CSV: Error tokenizing data. C error: "
                       "Expected 3 fields in line 6, saw 5"),
    ("binary.csv", [], "binary.csv is not a text CSV file (it holds binary data)"),
    ("latin1.csv", [], "cannot read {tmp}/latin1.csv as CSV:"),
    ("garbage.parquet", [], "cannot read {tmp}/garbage.parquet as Parquet:"),
    ("runs.txt", [], "allowed are .csv, .parquet or an lmech store"),
    ("missing.csv", [], "no such file: {tmp}/missing.csv"),
    (_corrupt_store, [], "the store {tmp}/store/lmech.duckdb is damaged"),
    (_empty_store, [], "no measured points in {tmp}/store/lmech.duckdb"),
    (_no_store, [], "no lmech store at {tmp}/store (expected a directory holding lmech.duckdb)"),
    ("ragged.csv", ["--law", "x"], "law='x' selects points in an lmech store"),
    ("constant.csv", [], "column 'loss' is 3 in every row: a constant loss"),
    ("one_size.csv", [], "all 12 rows are at one size (N=1e+06, D=1e+08)"),
    ("repeated.csv", [], "only 5 distinct (N, D) points among 15 rows"),
    ("two_n.csv", [], "column 'N' takes only 2 distinct values (1e+06, 1e+07)"),
    ("good.csv", ["--starts", "0"], "n_starts must be an integer >= 1"),
    ("good.csv", ["--starts", "-3"], "n_starts must be an integer >= 1"),
    ("good.csv", ["--bootstrap", "5"], "n_bootstrap must be an integer >= 10, got 5"),
    ("good.csv", ["--seed", "-1"], "seed must be an integer >= 0, got -1"),
    ("good.csv", ["--holdout", "1.5"], "holdout must be a fraction in (0, 0.5] of the runs, "
                                       "got 1.5"),
    ("good.csv", ["--holdout", "0"], "holdout must be a fraction in (0, 0.5]"),
    ("good.csv", ["--x", "N,D,loss"], "x must name one or two size columns"),
    ("good.csv", ["--png", "/nonexistent/dir/x.png"],
     "cannot write /nonexistent/dir/x.png: directory /nonexistent/dir does not exist"),
    ("good.csv", ["--png", "{tmp}"], "the PNG path {tmp} is a directory"),
    ("good.csv", ["--png", "{tmp}/fit"], "the PNG path {tmp}/fit must end in .png"),
])
def test_bad_input_is_one_named_line_before_the_fit(data, options, fragment, tmp_path,
                                                    monkeypatch) -> None:
    def no_fit(*args, **kwargs):
        raise AssertionError("the fit started before the input was checked")

    monkeypatch.setattr(summary, "fit", no_fit)
    monkeypatch.setattr(summary, "extrapolate", no_fit)
    (tmp_path / "good.csv").write_text(CSV)
    for name, content in FILES.items():
        (tmp_path / name).write_bytes(content)
    path = data(tmp_path) if callable(data) else tmp_path / data
    before = sorted(p.name for p in tmp_path.iterdir())
    result = _fit(str(path), *[o.format(tmp=tmp_path) for o in options])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stderr.startswith("error: ") and result.stdout == ""
    assert fragment.format(tmp=tmp_path) in _one_line(result.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
