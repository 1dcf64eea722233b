"""`lmech scaling fit` on a CSV made by hand, on Parquet, and on the lmech store."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
from typer.testing import CliRunner

from lmech.cli import app
from lmech.laws import AbstractLaw, Curve, LawParams, Panel, Pillar, Series
from lmech.run import verify

runner = CliRunner(env={"COLUMNS": "200"})

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


def test_fit_a_hand_made_csv(tmp_path) -> None:
    (tmp_path / "runs.csv").write_text(CSV)
    png = tmp_path / "fit.png"
    args = ["scaling", "fit", str(tmp_path / "runs.csv"), "--x", "N,D", "--y", "loss",
            "--png", str(png), "--bootstrap", "30", "--starts", "16"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    for fragment in ("alpha", "beta", "95% bootstrap interval", "objective", "extrapolation",
                     "compute-optimal", "predicted"):
        assert fragment in result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fit_parquet_and_bad_column(tmp_path) -> None:
    frame = pd.read_csv(__import__("io").StringIO(CSV))
    with duckdb.connect() as con:
        con.register("runs", frame)
        con.execute(f"COPY runs TO '{tmp_path / 'runs.parquet'}' (FORMAT PARQUET)")
    ok = runner.invoke(app, ["scaling", "fit", str(tmp_path / "runs.parquet"), "--x", "N,D",
                             "--png", str(tmp_path / "a.png"), "--bootstrap", "20",
                             "--starts", "16"])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(app, ["scaling", "fit", str(tmp_path / "runs.parquet"), "--x", "N,P"])
    assert bad.exit_code == 2 and "column 'P' not in the data" in " ".join(bad.stderr.split())


class _LossParams(LawParams):
    n: int = 12


class _LossVsSize(AbstractLaw):
    """Stores a power-law loss curve, as a law's measurement would."""

    claim, source, pillar = "loss falls as a power of N", "test", Pillar.SIMPLE_LAWS
    Params = _LossParams
    budgets = {"smoke": {}, "quick": {}, "full": {}}
    panels = (Panel("loss", "N", "loss"),)

    def _series(self, se):
        n = np.geomspace(1e3, 1e6, 12)
        return Series.from_curves([Curve("loss", "loss", n, 0.5 + 30 / n**0.4, se)])

    def predict(self, params):
        return self._series(None)

    def measure(self, params, seed, *, device="cpu", progress=lambda f: None):
        return self._series(np.full(12, 1e-3))

    def foil(self, params):
        return self._series(None)

    def tolerance(self, params, prediction):
        return np.zeros(len(prediction))


def test_fit_from_the_store(tmp_path) -> None:
    verify([_LossVsSize()], out=tmp_path, budget="smoke", seed=0)
    result = runner.invoke(app, ["scaling", "fit", str(tmp_path), "--x", "x", "--y", "y",
                                 "--png", str(tmp_path / "s.png"), "--bootstrap", "20",
                                 "--starts", "16"])
    assert result.exit_code == 0, result.output
    alpha = next(line for line in result.output.splitlines() if line.split()[0] == "alpha")
    assert float(alpha.split()[1]) == __import__("pytest").approx(0.4, rel=1e-3)
