"""lmech.measure.coordinates: hook-recorded layer outputs and the width-exponent fit."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import chi2
from torch import nn

from lmech.errors import LmechError
from lmech.measure.coordinates import module_outputs, rms, width_exponent


def _hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


def test_records_each_parameter_owner_and_the_output(generator) -> None:
    net = nn.Sequential(nn.Linear(3, 5), nn.ReLU(inplace=True), nn.Linear(5, 2))
    x = torch.randn(4, 3, generator=generator)
    with module_outputs(net) as out:
        y = net(x)
    assert sorted(out) == ["", "0", "2"]
    assert torch.equal(out[""], y)
    # a copy taken before the in-place ReLU rewrote the Linear's output
    assert torch.equal(out["0"], net[0](x)) and (out["0"] < 0).any()
    assert _hooks(net) == 0


def test_hooks_are_removed_when_the_body_raises(generator) -> None:
    net = nn.Sequential(nn.Linear(3, 5), nn.Linear(5, 2))
    with pytest.raises(RuntimeError, match="boom"), module_outputs(net):
        net(torch.randn(2, 3, generator=generator))
        raise RuntimeError("boom")
    assert _hooks(net) == 0


def test_chosen_modules_rename_and_a_missing_name() -> None:
    net = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))
    with module_outputs(net, ["1"], rename=lambda n: f"act{n}") as out:
        net(torch.zeros(1, 3))
    assert list(out) == ["act1"]
    with pytest.raises(LmechError, match="no module 'head'"), module_outputs(net, ["head"]):
        pass
    assert _hooks(net) == 0


def test_rms_is_the_root_mean_square() -> None:
    assert rms(torch.tensor([3.0, -4.0])) == pytest.approx(math.sqrt(12.5), rel=1e-12)


def test_width_exponent_recovers_a_power_and_its_error(rng) -> None:
    widths = np.array([32, 64, 128, 256, 512])
    exact = width_exponent(widths, 2.0 * widths ** -0.5)
    assert exact.slope == pytest.approx(-0.5, abs=1e-12) and exact.stderr < 1e-12
    # log-normal noise of sd 0.1 on each of 5 points: the slope's sd is 0.1/√Σ(log n − mean)²
    # = 0.064; its stderr, with 3 degrees of freedom, has median sd·√(χ²₃ median / 3) = 0.89 sd
    dx = np.log(widths) - np.log(widths).mean()
    sd = 0.1 / np.sqrt(dx @ dx)
    noisy = [width_exponent(widths, widths ** 0.5 * np.exp(0.1 * rng.standard_normal(5)))
             for _ in range(400)]
    slopes = np.array([e.slope for e in noisy])
    assert slopes.mean() == pytest.approx(0.5, abs=4 * sd / 20)  # 4 se of a mean of 400
    assert slopes.std() == pytest.approx(sd, rel=0.15)  # se of an sd of 400: 3.5 %
    # the median of 400 stderrs (each ≈ 40 % spread) has a se of ≈ 2.5 %
    assert np.median([e.stderr for e in noisy]) == pytest.approx(
        sd * np.sqrt(chi2.median(3) / 3), rel=0.1)
    assert math.isnan(width_exponent([64, 128], [1.0, 2.0]).stderr)


@pytest.mark.parametrize(("widths", "sizes", "match"), [
    ([64], [1.0], "≥ 2 widths"), ([64, 128], [1.0], "≥ 2 widths"),
    ([64, 128], [1.0, 0.0], "positive and finite"), ([64, 64], [1.0, 2.0], "two different"),
])
def test_width_exponent_refuses_bad_input(widths, sizes, match) -> None:
    with pytest.raises(LmechError, match=match):
        width_exponent(widths, sizes)
