"""`lmech prune FILE.py:factory`: the table on success, the checkpoint it writes, and every
user mistake as one line on stderr with exit status 2 (no traceback)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from lmech.cli import app
from lmech.errors import LmechError
from lmech.tools.pruning import load_pruned
from lmech.tools.user_model import load_factory, load_model

runner = CliRunner(env={"COLUMNS": "200"})

NETS = '''
import torch
from torch import nn


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))


def cnn():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 5 * 5, 2))


def not_a_model():
    return 3


def raises():
    raise ValueError("no weights today")


def no_layers():
    return nn.Sequential(nn.ReLU())


width = 7
'''


@pytest.fixture
def nets(tmp_path):
    (tmp_path / "nets.py").write_text(NETS)
    (tmp_path / "broken.py").write_text("import torch\nimport no_such_package_here\n")
    (tmp_path / "syntax.py").write_text("def mlp(:\n")
    return tmp_path


def _user_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    line = " ".join(result.stderr.split())
    for fragment in fragments:
        assert fragment in line, line


def test_prune_prints_the_table(nets) -> None:
    result = runner.invoke(app, ["prune", f"{nets}/nets.py:mlp", "--compression", "8"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"{nets}/nets.py:mlp: synflow, 100 iterations, compression 8"
    assert lines[1].split()[:3] == ["layer", "type", "shape"]
    assert [line.split()[0] for line in lines[2:5]] == ["0.weight", "2.weight", "total"]
    assert lines[4].split()[1:4] == ["18", "/", "144"]  # round(144 / 8) kept


def test_prune_writes_a_loadable_checkpoint(nets) -> None:
    out = nets / "cnn.pt"
    result = runner.invoke(app, ["prune", f"{nets}/nets.py:cnn", "--method", "magnitude",
                                 "--compression", "20", "--input-shape", "3,5,5",
                                 "--biases", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "magnitude, 1 iteration, compression 20" in result.output
    assert f"wrote {out}" in result.output
    loaded = load_pruned(load_model(f"{nets}/nets.py:cnn"), out)
    masks = [b for n, b in loaded.named_buffers() if n.endswith("_mask")]
    assert len(masks) == 4  # two weights and two biases
    assert sum(int(m.sum()) for m in masks) == round((4 * 27 + 4 + 200 + 2) / 20)


@pytest.mark.parametrize(("args", "fragments"), [
    (["nets.py"], ["give FILE.py:factory or package.module:factory"]),
    (["missing.py:mlp"], ["no file", "missing.py"]),
    (["nets.py:nope"], ["has no 'nope'", "callables there: cnn, mlp, no_layers, not_a_model"]),
    (["nets.py:width"], ["width is a int, not a callable"]),
    (["broken.py:mlp"], ["importing broken.py failed with ModuleNotFoundError",
                         "no_such_package_here"]),
    (["syntax.py:mlp"], ["importing syntax.py failed with SyntaxError"]),
    (["no_such_module_xyz:make"], ["importing no_such_module_xyz failed with "
                                   "ModuleNotFoundError"]),
    (["nets.py:not_a_model"], ["nets.py:not_a_model returned int, not a torch.nn.Module"]),
    (["nets.py:raises"], ["nets.py:raises raised ValueError: no weights today"]),
    (["nets.py:no_layers"], ["Sequential has no prunable layer"]),
    (["nets.py:mlp", "--method", "snip"], ["snip needs a data batch, which the command line "
                                           "does not take", "data-free method: synflow"]),
    (["nets.py:mlp", "--method", "obd"], ["unknown pruning method 'obd'; allowed here: "
                                          "synflow, magnitude, random"]),
    (["nets.py:mlp", "--compression", "1"], ["compression must be a finite number > 1"]),
    (["nets.py:mlp", "--compression", "nan"], ["compression must be a finite number > 1"]),
    (["nets.py:mlp", "--compression", "1000"], ["more pruned than exist", "<= 144"]),
    (["nets.py:mlp", "--iterations", "0"], ["iterations must be an integer >= 1"]),
    (["nets.py:mlp", "--norms", "eval"], ["unknown normalisation mode 'eval'"]),
    (["nets.py:cnn"], ["first layer is a Conv2d", "--input-shape 3,32,32"]),
    (["nets.py:cnn", "--input-shape", "3,6,6"], ["does not accept an input of shape "
                                                 "(1, 3, 6, 6)"]),
    (["nets.py:cnn", "--input-shape", "3,a"], ["--input-shape must be positive integers"]),
    (["nets.py:mlp", "--out", "nodir/x.pt"], ["cannot write", "does not exist"]),
])
def test_user_errors(nets, monkeypatch, args, fragments) -> None:
    monkeypatch.chdir(nets)
    _user_error(runner.invoke(app, ["prune", *args]), *fragments)


def test_out_is_checked_before_the_model_is_loaded(nets, monkeypatch) -> None:
    monkeypatch.chdir(nets)
    _user_error(runner.invoke(app, ["prune", "nets.py:raises", "--out", str(nets)]),
                "is a directory")


def test_factories_by_module_name_and_with_arguments() -> None:
    assert load_factory("torch.nn:Linear") is nn.Linear
    assert isinstance(load_model("torch.nn:Linear", 3, out_features=2), nn.Linear)
    with pytest.raises(LmechError, match="torch.nn:Linear raised TypeError"):
        load_model("torch.nn:Linear")


def test_a_file_factory_sees_its_neighbours(tmp_path) -> None:
    (tmp_path / "helper_layers_for_lmech.py").write_text(
        "from torch import nn\nWIDTH = 5\n")
    (tmp_path / "model.py").write_text(
        "from torch import nn\nfrom helper_layers_for_lmech import WIDTH\n"
        "def make():\n    return nn.Linear(WIDTH, 1)\n")
    net = load_model(f"{tmp_path}/model.py:make")
    assert net.in_features == 5 and isinstance(net.weight, torch.Tensor)
