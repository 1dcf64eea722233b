"""lmech.tools.hparams.roles: each parameter's μP role, from shapes at two widths."""

from __future__ import annotations

import pytest
import torch
from mup_nets import TinyLM, cnn, mlp
from torch import nn

from lmech.errors import LmechError
from lmech.tools.hparams import classify, plan_from_factory


def _roles(plan) -> dict[str, str]:
    return {name: r.role for name, r in plan.roles.items()}


def test_mlp_roles_and_fans() -> None:
    plan = plan_from_factory(mlp, 256, base_width=64)
    assert _roles(plan) == {"0.weight": "input", "0.bias": "input", "2.weight": "hidden",
                            "2.bias": "input", "4.weight": "output", "4.bias": "fixed"}
    hidden = plan.roles["2.weight"]
    assert (hidden.fan_in, hidden.fan_out, hidden.base_fan_in, hidden.base_fan_out) == \
        (256, 256, 64, 64)
    assert plan.readouts == ("4",) and plan.notes == ()
    assert plan.table("sgd")[2] == ("2.weight", "hidden", 4.0, 4.0, 1.0)
    assert plan.table("adam")[4] == ("4.weight", "output", 4.0, 1.0, 1.0)


def test_cnn_roles_count_the_kernel_in_fan_in() -> None:
    plan = plan_from_factory(cnn, 32, base_width=8)
    assert _roles(plan) == {"0.weight": "input", "0.bias": "input", "1.weight": "input",
                            "1.bias": "input", "3.weight": "hidden", "3.bias": "input",
                            "7.weight": "output", "7.bias": "fixed"}
    conv = plan.roles["3.weight"]
    assert (conv.fan_in, conv.base_fan_in, conv.kind) == (32 * 9, 8 * 9, "weight")
    assert plan.roles["1.weight"].kind == "gain" and plan.roles["0.weight"].fan_in == 27


def test_attention_and_embedding_roles() -> None:
    plan = plan_from_factory(TinyLM, 64, base_width=16)
    roles = _roles(plan)
    assert roles["embed.weight"] == "input" and plan.roles["embed.weight"].kind == "embedding"
    assert roles["attn.in_proj_weight"] == "hidden" and roles["attn.out_proj.weight"] == "hidden"
    assert roles["attn.in_proj_bias"] == "input" and roles["norm.weight"] == "input"
    assert roles["head.weight"] == "output" and plan.readouts == ("head",)
    # two heads at every width: d_head grows, which nn.MultiheadAttention cannot follow
    assert len(plan.notes) == 1 and "attention_scale" in plan.notes[0]
    assert plan_from_factory(lambda n: TinyLM(n, heads=n // 8), 64, base_width=16).notes == ()


def test_tied_readout_appears_under_both_names() -> None:
    plan = plan_from_factory(lambda n: TinyLM(n, tied=True), 64, base_width=16)
    assert plan.roles["embed.weight"].role == "input"
    assert plan.roles["head.weight"].role == "output" and plan.readouts == ("head",)


def test_the_base_width_itself_needs_a_third_width() -> None:
    plan = plan_from_factory(mlp, 64, base_width=64)
    assert _roles(plan)["2.weight"] == "hidden"
    assert plan.roles["2.weight"].fan_in == plan.roles["2.weight"].base_fan_in == 64
    with pytest.raises(LmechError, match="no parameter changes shape"):
        classify(mlp(64), mlp(64))


def test_an_unknown_parameter_with_one_growing_dimension_is_a_vector() -> None:
    class Scaled(nn.Module):
        def __init__(self, n: int) -> None:
            super().__init__()
            self.lin = nn.Linear(4, n)
            self.pos = nn.Parameter(torch.zeros(1, 7, n))

        def forward(self, x):
            return self.lin(x) + self.pos

    plan = plan_from_factory(Scaled, 32, base_width=8)
    assert (plan.roles["pos"].kind, plan.roles["pos"].role) == ("other", "input")
    assert plan.roles["pos"].fan_out == 32


class _Bilinear(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(n, n))


@pytest.mark.parametrize(("model_fn", "match"), [
    (_Bilinear, "2 dimensions that grow"),
    (lambda n: nn.Conv1d(3, 4, kernel_size=n // 8), "kernel sizes or vocabulary"),
    (lambda n: nn.Embedding(n, 4), "kernel sizes or vocabulary"),
    (lambda n: nn.Linear(n, 3) if n < 20 else nn.Sequential(nn.Linear(n, 3)), "names differ"),
    (lambda n: "model", "returned str, not a torch.nn.Module"),
    (lambda n: 1 / 0, "raised ZeroDivisionError"),
])
def test_refused(model_fn, match) -> None:
    with pytest.raises(LmechError, match=match):
        plan_from_factory(model_fn, 32, base_width=16)


def test_base_wider_than_target_and_bad_widths() -> None:
    with pytest.raises(LmechError, match="base width 128 is larger than the target width 64"):
        plan_from_factory(mlp, 64, base_width=128)
    with pytest.raises(LmechError, match="width must be a positive integer"):
        plan_from_factory(mlp, 64.0, base_width=16)
    with pytest.raises(LmechError, match="base_model must be a torch.nn.Module"):
        classify(mlp(8), "mlp")
