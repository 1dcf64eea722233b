"""Every `lmech` command, and every user mistake: one line on stderr, exit status 2."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import lmech.laws
from fake_laws import CorrectLaw, RaisingLaw, WrongLaw
from lmech.cli import app, parse_overrides
from lmech.run import Store

runner = CliRunner(env={"COLUMNS": "200"})


def _ok_user_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    for f in fragments:
        assert f in " ".join(result.stderr.split()), result.stderr


def test_verify_smoke_writes_store_and_report(tmp_path) -> None:
    result = runner.invoke(app, ["verify", "dln.saxe_scalar_map", "--budget", "smoke", "--out",
                                 str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "[1/1] dln.saxe_scalar_map IDENTITY HOLDS" in result.output  # plain lines
    assert "identities (not evidence)" in result.output
    assert result.output.rstrip().endswith("0 confirmed, 1 identities hold, 0 unexpected")
    assert (tmp_path / "lmech.duckdb").is_file() and (tmp_path / "report.html").is_file()
    html = (tmp_path / "report.html").read_text()
    assert "dln.saxe_scalar_map" in html and "data:image/png;base64," in html
    latest = Store(tmp_path).latest_results()
    assert list(latest["verdict"]) == ["IDENTITY HOLDS"] and latest["budget"][0] == "smoke"

    shown = runner.invoke(app, ["show", "dln.saxe_scalar_map", "--out", str(tmp_path)])
    assert shown.exit_code == 0
    for fragment in ("Saxe", "width", "smoke", "full", "last results", "IDENTITY HOLDS",
                     "tolerance: computed", "expected:  IDENTITY HOLDS"):
        assert fragment in shown.output
    listed = runner.invoke(app, ["laws", "--out", str(tmp_path)])
    assert listed.exit_code == 0 and "IDENTITY HOLDS" in listed.output
    assert runner.invoke(app, ["report", "--out", str(tmp_path)]).exit_code == 0


def test_exit_status_follows_the_verdicts(tmp_path, monkeypatch) -> None:
    for laws, status in (([CorrectLaw()], 0), ([CorrectLaw(), WrongLaw()], 1),
                         ([RaisingLaw()], 1)):
        monkeypatch.setattr(lmech.laws, "select_laws", lambda names, laws=laws: laws)
        result = runner.invoke(app, ["verify", "--budget", "smoke", "--out", str(tmp_path),
                                     "--no-report"])
        assert result.exit_code == status, result.output


def test_laws_and_env_without_a_store(tmp_path) -> None:
    result = runner.invoke(app, ["laws", "--out", str(tmp_path / "none")])
    assert result.exit_code == 0 and "dln.saxe_modes" in result.output
    assert not (tmp_path / "none").exists()
    env = runner.invoke(app, ["env"])
    assert env.exit_code == 0 and "torch" in env.output


def test_unknown_law_lists_the_closest(tmp_path) -> None:
    result = runner.invoke(app, ["verify", "dln.saxe_mode_x", "--out", str(tmp_path)])
    _ok_user_error(result, "unknown law 'dln.saxe_mode_x'", "closest: dln.saxe_modes")
    _ok_user_error(runner.invoke(app, ["show", "saxe"]), "unknown law 'saxe'")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--set", "width=-3"], ["parameter 'width'", "greater than or equal to 1", "-3"]),
        (["--set", "colour=blue"], ["unknown parameter 'colour'", "allowed:", "width"]),
        (["--set", "width"], ["--set expects key=value"]),
        (["--budget", "huge"], ["unknown budget 'huge'", "smoke, quick, full"]),
        (["--device", "tpu:9"], ["device"]),
    ],
)
def test_bad_input_exits_2(tmp_path, args, fragments) -> None:
    result = runner.invoke(app, ["verify", "dln.saxe_modes", "--out", str(tmp_path / "o"),
                                 *args])
    _ok_user_error(result, *fragments)
    assert not (tmp_path / "o").exists()


def test_unwritable_output_directory(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = runner.invoke(app, ["verify", "--budget", "smoke", "--out", str(blocker / "r")])
    _ok_user_error(result, "not writable")


def test_report_without_results(tmp_path) -> None:
    _ok_user_error(runner.invoke(app, ["report", "--out", str(tmp_path)]), "no results")


def test_parse_overrides() -> None:
    assert parse_overrides(["width=64", "spectrum=3,2.5,1", "name=abc", "flag=true"]) == {
        "width": 64, "spectrum": [3, 2.5, 1], "name": "abc", "flag": True}


def test_tables_fit_80_columns(tmp_path, monkeypatch) -> None:
    """The verify table and the law book render at 80 columns without cutting a verdict or
    a number (rich marks a cut cell with '…')."""
    narrow = CliRunner(env={"COLUMNS": "80"})
    laws = [CorrectLaw(), WrongLaw(), RaisingLaw()]
    monkeypatch.setattr(lmech.laws, "select_laws", lambda names: laws)
    result = narrow.invoke(app, ["verify", "--budget", "smoke", "--out", str(tmp_path),
                                 "--no-report"])
    assert result.exit_code == 1
    lines = [ln for ln in result.output.splitlines() if not ln.startswith(("store:", "report:"))]
    assert max(len(line) for line in lines) <= 80, result.output  # paths alone may be longer
    assert "…" not in result.output
    for fragment in ("CONFIRMED", "REFUTED !", "ERROR !", "fake.raising: error: "
                     "ZeroDivisionError: the experiment broke", "1 confirmed, 2 unexpected"):
        assert fragment in result.output, result.output
    monkeypatch.undo()
    listed = narrow.invoke(app, ["laws", "--out", str(tmp_path)])
    assert listed.exit_code == 0
    assert max(len(line) for line in listed.output.splitlines()) <= 80, listed.output
    assert "…" not in listed.output and len(listed.output.splitlines()) < 60


def test_law_book_markdown_is_the_readme_table() -> None:
    result = runner.invoke(app, ["laws", "--markdown"])
    assert result.exit_code == 0
    assert result.output.startswith("| law | kind | pillar | claim | source |")
    assert "`dln.saxe_scalar_map` | identity" in result.output
