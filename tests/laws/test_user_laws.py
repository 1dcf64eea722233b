"""Laws written by users: from a file, a module or an installed package's entry point."""

from __future__ import annotations

import importlib.metadata
import textwrap

import pytest
from typer.testing import CliRunner

from lmech.cli import app
from lmech.errors import LmechError
from lmech.laws import find_law, law_source, load_laws, select_laws
from lmech.run import verify
from lmech.testing import check_law

runner = CliRunner(env={"COLUMNS": "100"})

LAW = textwrap.dedent('''
    import numpy as np
    from pydantic import Field
    from lmech.laws import AbstractLaw, Curve, LawParams, Panel, Pillar, Series, ToleranceBasis

    class P(LawParams):
        n: int = Field(400, ge=2)

    class {name}(AbstractLaw):
        {extra}
        claim = "the mean of n standard normals is 0"
        source = "test"
        pillar = Pillar.SIMPLE_LAWS
        tolerance_basis = ToleranceBasis.computed("a test law: 0.3 absolute")
        Params = P
        budgets = {{"smoke": {{"n": 200}}, "quick": {{}}, "full": {{"n": 2000}}}}
        panels = (Panel("mean", "i", "mean"),)

        def _s(self, y, se=None, u=None):
            return Series.from_curves([Curve("mean", "m", [0], [y], se, u)])

        def predict(self, params): return self._s(0.0)
        def foil(self, params): return self._s(1.0)
        def tolerance(self, params, prediction): return np.full(1, 0.3)

        def measure(self, params, seed, *, device="cpu", progress=lambda f: None):
            x = np.random.default_rng(seed).standard_normal(params.n)
            progress(1.0)
            return self._s(x.mean(), [x.std(ddof=1) / np.sqrt(params.n)], params.n)
''')


def _write(path, name="NoiseMean", extra="", body=None):
    path.write_text(body if body is not None else LAW.format(name=name, extra=extra))
    return str(path)


def test_a_file_of_laws(tmp_path) -> None:
    source = _write(tmp_path / "mylaws.py")
    laws = select_laws([source])
    assert [law.name for law in laws] == ["mylaws:NoiseMean"]
    assert law_source(laws[0]) == source and find_law("mylaws:NoiseMean", source) is laws[0]
    check_law(laws[0])
    summary = verify(laws, out=tmp_path / "runs", budget="smoke", seed=(0, 1))
    assert summary.as_expected, summary.results


def test_a_module_of_laws(tmp_path, monkeypatch) -> None:
    package = tmp_path / "userpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    _write(package / "physics.py", "Other")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert [law.name for law in select_laws(["userpkg.physics"])] == ["userpkg.physics:Other"]


def test_an_entry_point_publishes_laws(tmp_path, monkeypatch) -> None:
    _write(tmp_path / "published.py", "Published")
    monkeypatch.syspath_prepend(str(tmp_path))
    point = importlib.metadata.EntryPoint("lab", "published", "lmech.laws")
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group=None: [point] if group == "lmech.laws" else [])
    from lmech.laws._user_laws import entry_point_laws

    entry_point_laws.cache_clear()
    try:
        assert [law.name for law in select_laws(["published:"])] == ["published:Published"]
    finally:
        entry_point_laws.cache_clear()


@pytest.mark.parametrize(("body", "fragment"), [
    ("raise ValueError('broken on purpose')", "raised ValueError: broken on purpose"),
    ("x = 1", "defines no law"),
])
def test_bad_files(tmp_path, body, fragment) -> None:
    source = _write(tmp_path / f"bad_{abs(hash(body))}.py", body=body)
    with pytest.raises(LmechError, match=fragment):
        load_laws(source)
    result = runner.invoke(app, ["verify", source, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and fragment.split(":")[0] in " ".join(result.stderr.split())
    assert "Traceback" not in result.output + result.stderr


def test_a_law_may_not_take_a_built_in_name(tmp_path) -> None:
    source = _write(tmp_path / "shadow.py", extra='name = "dln.saxe_modes"')
    with pytest.raises(LmechError, match="the name of a built-in law"):
        load_laws(source)


def test_a_missing_file_or_module(tmp_path) -> None:
    with pytest.raises(LmechError, match="no such file of laws"):
        select_laws([str(tmp_path / "nope.py")])
    with pytest.raises(LmechError, match="unknown law 'no_such_module_xyz'"):
        select_laws(["no_such_module_xyz"])
