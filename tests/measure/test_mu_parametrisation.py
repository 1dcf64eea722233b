"""lmech.measure.mu_parametrisation: the μP table (Yang, Hu et al. 2022, Tables 3 and 8)."""

from __future__ import annotations

import math

import pytest

from lmech.errors import LmechError
from lmech.measure.mu_parametrisation import (
    depth_lr_multiplier,
    mlp_mup_table,
    mup_multipliers,
    residual_multiplier,
)

ROLES = ("input", "hidden", "output", "fixed")


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("role", ROLES)
def test_the_base_width_is_the_standard_parametrisation(role, optimizer) -> None:
    """At m = 1 every multiplier is 1 and every std σ/√fan_in: μP and SP coincide."""
    got = mup_multipliers(role, 48, 48, 48, 48, optimizer, weight_variance=2.0)
    assert (got.forward_multiplier, got.lr_multiplier) == (1.0, 1.0)
    assert got.init_std == pytest.approx(math.sqrt(2.0 / 48), rel=1e-12)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_table8_is_table3_for_the_readout(optimizer) -> None:
    """The readout's effective weight W/m_in has Table 3's variance σ²/(fan_in m_in) and
    moves by Table 3's LR: SGD η/m_in on the effective weight = η m_in on the stored one
    (the gradient carries a 1/m_in and the update another); Adam η/m_in = η on the stored
    one (Adam's update does not scale with the gradient)."""
    fan_in, base, m = 1024, 64, 16
    got = mup_multipliers("output", fan_in, 10, base, 10, optimizer)
    effective_std = got.init_std * got.forward_multiplier
    assert effective_std ** 2 == pytest.approx(1 / (fan_in * m), rel=1e-12)
    table3_lr = 1 / m  # on the effective weight, both optimizers
    stored_to_effective = got.forward_multiplier ** (2 if optimizer == "sgd" else 1)
    assert got.lr_multiplier * stored_to_effective == pytest.approx(table3_lr, rel=1e-12)


def test_unequal_growth_of_the_fans() -> None:
    """Hidden weights with fan_in ×2 and fan_out ×8: SGD η m_out/m_in, Adam η/m_in."""
    assert mup_multipliers("hidden", 128, 512, 64, 64, "sgd").lr_multiplier == 4.0
    assert mup_multipliers("hidden", 128, 512, 64, 64, "adamw").lr_multiplier == 0.5
    assert mup_multipliers("output", 128, 4, 64, 4, "sgd", zero_readout=True).init_std == 0.0


def test_mlp_table_by_hand() -> None:
    """3-layer MLP, 16 → 256 → 256 → 4 against a base of 64 (m = 4), σ² = 2."""
    sgd = mlp_mup_table(16, 256, 2, 4, base_width=64, optimizer="sgd", weight_variance=2.0)
    adam = mlp_mup_table(16, 256, 2, 4, base_width=64, optimizer="adam", weight_variance=2.0)
    lr = {name: (sgd[name].lr_multiplier, adam[name].lr_multiplier) for name in sgd}
    assert lr == {"layers.0.weight": (4.0, 1.0), "layers.0.bias": (4.0, 1.0),
                  "layers.1.weight": (1.0, 0.25), "layers.1.bias": (4.0, 1.0),
                  "layers.2.weight": (4.0, 1.0), "layers.2.bias": (1.0, 1.0)}
    stds = [sgd[f"layers.{k}.weight"].init_std for k in range(3)]
    assert stds == pytest.approx([math.sqrt(2 / 16), math.sqrt(2 / 256), math.sqrt(2 / 64)])
    assert [sgd[f"layers.{k}.weight"].forward_multiplier for k in range(3)] == [1, 1, 0.25]


def test_depth_multipliers() -> None:
    """Depth-μP at α = ½: branch √(L₀/L); LR factor 1 (SGD), √(L₀/L) (Adam)."""
    assert residual_multiplier(50, 2) == pytest.approx(0.2)
    assert depth_lr_multiplier(50, 2, "sgd") == 1.0
    assert depth_lr_multiplier(50, 2, "adam") == pytest.approx(0.2)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: mup_multipliers("middle", 8, 8, 8, 8, "sgd"), "role must be"),
    (lambda: mup_multipliers("hidden", 8, 8, 8, 8, "lion"), "optimizer must be"),
    (lambda: mup_multipliers("hidden", 0, 8, 8, 8, "sgd"), "fan_in must be"),
    (lambda: mup_multipliers("hidden", 8, 8, 8, 8, "sgd", weight_variance=0), "weight_var"),
    (lambda: residual_multiplier(0, 1), "depth must be"),
    (lambda: mlp_mup_table(4, 8, 0, 1, base_width=8, optimizer="sgd"), "depth must be"),
])
def test_bad_arguments(call, match) -> None:
    with pytest.raises(LmechError, match=match):
        call()
