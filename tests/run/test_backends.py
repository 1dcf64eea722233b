"""The Ray backend: the same numbers as the local one, a clear error when it cannot run."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lmech.cli import app
from lmech.errors import LmechError
from lmech.laws import all_laws, select_laws
from lmech.run import verify
from lmech.run.backends import make_backend

runner = CliRunner(env={"COLUMNS": "100"})
EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "default_init_law.py"


def test_ray_missing_is_one_line(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(LmechError, match=r"pip install 'lmech\[ray\]'"):
        make_backend("ray")


def test_unknown_backend_and_stray_address() -> None:
    with pytest.raises(LmechError, match="unknown backend 'dask'"):
        make_backend("dask")
    with pytest.raises(LmechError, match="--address needs --backend ray"):
        make_backend("local", address="10.0.0.1:6379")


def test_an_unreachable_address_is_refused_quickly(tmp_path) -> None:
    pytest.importorskip("ray")
    start = time.monotonic()
    result = runner.invoke(app, ["verify", "dln.", "--backend", "ray", "--address",
                                 "10.255.255.1:6379", "--budget", "smoke", "--out",
                                 str(tmp_path)])
    assert result.exit_code == 2 and "cannot reach a Ray cluster" in result.stderr
    assert time.monotonic() - start < 30


def _points(summary) -> dict:
    return {(r.law, r.seed): (r.outcome, r.measurement.y.tobytes(),
                              r.measurement.stderr.tobytes())
            for r in summary.per_seed if r.measurement is not None}


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    yield
    ray.shutdown()


@pytest.mark.slow
def test_ray_gives_the_local_numbers_bit_for_bit(tmp_path, ray_cluster) -> None:
    laws = select_laws([str(EXAMPLE)])
    local = verify(laws, out=tmp_path / "local", budget="smoke", seed=range(4), threads=1)
    remote = verify(laws, out=tmp_path / "ray", budget="smoke", seed=range(4),
                    backend="ray", threads=1)
    assert _points(local) == _points(remote) and len(_points(local)) == 4


@pytest.mark.slow
def test_the_smoke_book_on_ray_equals_local_bit_for_bit(tmp_path, ray_cluster) -> None:
    """Every law of the book at seeds 0–3: Ray tasks and the local loop, one thread each."""
    laws = list(all_laws())
    local = verify(laws, out=tmp_path / "local", budget="smoke", seed=range(4), threads=1)
    remote = verify(laws, out=tmp_path / "ray", budget="smoke", seed=range(4),
                    backend="ray", threads=1)
    a, b = _points(local), _points(remote)
    assert set(a) == set(b) and len(a) == 4 * len(laws)
    for key in a:
        assert a[key] == b[key], key


@pytest.mark.slow
def test_the_worked_example_runs_at_eight_seeds_on_ray(tmp_path, ray_cluster) -> None:
    """docs/user_laws.md: the user's law, checked by check_law, at 8 seeds on Ray."""
    from lmech.testing import check_law

    law = select_laws([str(EXAMPLE)])[0]
    check_law(law)
    summary = verify([law], out=tmp_path, budget="smoke", seed=range(8), backend="ray")
    assert len(summary.per_seed) == 8
    pooled = summary.results[0]
    assert pooled.seeds == tuple(range(8)) and pooled.outcome.value == "CONFIRMED", pooled
    assert np.all(pooled.measurement.units == 8 * 2000)


def test_the_worked_example_is_the_documented_code() -> None:
    page = (Path(__file__).parents[2] / "docs" / "user_laws.md").read_text()
    assert EXAMPLE.read_text() in page
