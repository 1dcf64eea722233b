"""`lmech coord-check FILE.py:factory`: a table of exponents, a PNG, and one named line on
exit 2 for every bad input."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from lmech.cli import app

runner = CliRunner(env={"COLUMNS": "200"})
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

FACTORIES = """
from torch import nn

def mlp(n):
    return nn.Sequential(nn.Linear(8, n), nn.ReLU(), nn.Linear(n, n), nn.ReLU(),
                         nn.Linear(n, 2))

def not_a_module(n):
    return [n]

NOT_CALLABLE = 3
"""


@pytest.fixture
def factories(tmp_path):
    path = tmp_path / "nets.py"
    path.write_text(FACTORIES)
    return path


def _one_line(text: str) -> str:
    return " ".join(text.split())


def test_prints_exponents_and_draws(factories, tmp_path) -> None:
    png = tmp_path / "cc.png"
    result = runner.invoke(app, ["coord-check", f"{factories}:mlp", "--widths", "16,32,64",
                                 "--steps", "2", "--png", str(png)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("mup, adam lr=0.01, base width 16, widths 16,32,64, 2 steps")
    assert [line.split()[0] for line in lines[2:5]] == ["0", "2", "4"]
    assert png.read_bytes()[:8] == PNG_MAGIC and f"plot: {png}" in result.output


def test_standard_parametrisation_flags_growth(factories) -> None:
    result = runner.invoke(app, ["coord-check", f"{factories}:mlp", "--widths", "32,64,128,256",
                                 "--parametrisation", "standard", "--seed", "1"])
    assert result.exit_code == 0, result.output
    hidden = next(line for line in result.output.splitlines() if line.split()[0] == "2")
    assert "grows with width" in hidden  # Adam, SP: the hidden update grows ∝ n


@pytest.mark.parametrize(("args", "message"), [
    (["{f}:nope"], "has no 'nope' (callables there: mlp, not_a_module)"),
    (["{f}:NOT_CALLABLE"], "NOT_CALLABLE is a int, not a callable"),
    (["{f}:not_a_module", "--widths", "8,16"], "returned list, not a torch.nn.Module"),
    (["{d}/missing.py:mlp"], "no file"),
    (["no_such_package_xyz.mod:mlp"], "importing no_such_package_xyz.mod failed"),
    (["{f}:mlp", "--widths", "64,32"], "widths must be strictly increasing, got [64, 32]"),
    (["{f}:mlp", "--widths", "64"], "at least two positive integers, got [64]"),
    (["{f}:mlp", "--widths", "16,x"], "--widths must be comma-separated integers"),
    (["{f}:mlp", "--widths", "16,32", "--base-width", "64"],
     "base width 64 is larger than the target width 16"),
    (["{f}:mlp", "--optimizer", "lion"], "optimizer must be sgd or adam"),
    (["{f}:mlp", "--png", "{d}/out.jpg"], "must end in .png"),
])
def test_bad_input_is_one_line_and_exit_2(factories, tmp_path, args, message) -> None:
    args = [a.format(f=factories, d=tmp_path) for a in args]
    result = runner.invoke(app, ["coord-check", *args])
    assert result.exit_code == 2, result.output
    assert message in _one_line(result.stderr)
    assert "Traceback" not in result.output + result.stderr
