"""lmech.tools.hparams.coord_check: μP keeps every layer's update the same size at every
width; the standard parametrisation lets it grow (Yang, Hu et al. 2022, §D.1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from mup_nets import TinyLM, cnn, mlp
from torch import nn

from lmech.errors import LmechError
from lmech.tools.hparams import coord_check
from lmech.tools.hparams.coord_check import GROWS

WIDTHS = [32, 64, 128, 256]


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _slopes(optimizer: str, parametrisation: str, seeds: range) -> np.ndarray:
    """(seeds, layers) exponents of RMS(h_3 − h_0) against width, μP with a zero readout."""
    return np.array([[e.slope for e in coord_check(
        mlp, WIDTHS, optimizer=optimizer, parametrisation=parametrisation, steps=3,
        zero_readout=parametrisation == "mup",
        generator=torch.Generator().manual_seed(s)).exponents().values()] for s in seeds])


def test_adam_mup_is_flat_and_standard_grows() -> None:
    """Theory: s = 0 for every layer under μP; s = 1 for the hidden layer under SP with
    Adam. A pilot on 6 other seeds gave μP |s| ≤ 0.10 and SP hidden s ∈ [0.59, 0.72] at
    these widths; the bounds are GROWS = ¼ and ½, halfway between the theories."""
    mup, sp = _slopes("adam", "mup", range(10, 12)), _slopes("adam", "standard", range(10, 12))
    assert np.all(np.abs(mup) < GROWS), mup
    assert np.all(sp[:, 1] > 0.5), sp  # layer "2", the hidden one


def test_sgd_mup_is_flat_and_standard_readout_grows() -> None:
    """SGD: under SP s = −½ (input layer), ½ (hidden), 1 (readout). A single width-32 run
    is noisy (pilot: sd of s ≈ 0.12 per seed), so the means of 4 seeds are compared
    (se ≈ 0.06): μP within ±0.15 (2.5 se) of 0; SP readout above GROWS, its input layer
    within 0.15 of −½."""
    mup, sp = _slopes("sgd", "mup", range(20, 24)), _slopes("sgd", "standard", range(20, 24))
    assert np.all(np.abs(mup.mean(axis=0)) < 0.15), mup
    assert sp[:, 2].mean() > GROWS, sp
    assert sp[:, 0].mean() == pytest.approx(-0.5, abs=0.15), sp


def test_without_zero_readout_nothing_grows() -> None:
    """The readout's output at init (∝ 1/√m) only makes the μP exponents negative."""
    check = coord_check(mlp, WIDTHS, optimizer="adam", generator=torch.Generator().manual_seed(5))
    assert all(e.slope < GROWS for e in check.exponents().values())


def test_shapes_figure_lines_and_no_hook_left() -> None:
    built: list[nn.Module] = []

    def tracked(n: int) -> nn.Module:
        built.append(cnn(n))
        return built[-1]

    check = coord_check(tracked, [4, 8], steps=2, batch_size=4,
                        generator=torch.Generator().manual_seed(0))
    assert check.size.shape == check.change.shape == (2, 3, len(check.modules))
    assert check.modules == ("0", "1", "3", "7")  # the readout is named as in the factory
    assert np.all(check.change[:, 0] == 0) and np.all(check.change[:, 1:] > 0)
    assert isinstance(check.figure(), Figure)
    assert len(check.lines()) == 2 + len(check.modules)
    # built: plan_from_factory's shape models too (on the meta device), and the real ones
    assert len(built) >= 2
    assert all(not m._forward_hooks for net in built for m in net.modules())


def test_token_models_and_given_data(generator) -> None:
    tokens = torch.randint(0, 50, (8, 6), generator=generator)
    check = coord_check(lambda n: TinyLM(n, heads=n // 8), [16, 32], steps=1,
                        data=(tokens, tokens), generator=generator)  # integer targets: CE
    assert "attn" in check.modules and np.all(np.isfinite(check.change))
    guessed = coord_check(lambda n: TinyLM(n, heads=n // 8), [16, 32], steps=1,
                          generator=generator)
    assert guessed.modules == check.modules


def _failing_forward(n: int) -> nn.Module:
    return nn.Sequential(nn.Linear(16, n), nn.Linear(n + 1, 4))


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"widths": [64]}, "at least two positive integers"),
    ({"widths": [64, 64]}, "strictly increasing"),
    ({"widths": [128, 64]}, "strictly increasing"),
    ({"widths": [64, 128], "base_width": 128}, "base width 128 is larger"),
    ({"widths": [8, 16], "parametrisation": "ntk"}, "mup or standard"),
    ({"widths": [8, 16], "optimizer": "lion"}, "sgd or adam"),
    ({"widths": [8, 16], "steps": 0}, "steps a positive integer"),
    ({"widths": [8, 16], "lr": -1.0}, "lr must be > 0"),
    ({"widths": [8, 16], "model_fn": lambda n: None}, "returned NoneType"),
    ({"widths": [8, 16], "model_fn": _failing_forward}, r"failed on inputs of shape \(64, 16\)"),
    ({"widths": [8, 16], "model_fn": lambda n: nn.Sequential(nn.LayerNorm(n), nn.Linear(n, 1))},
     "cannot guess an input"),
])
def test_bad_inputs(kwargs, match) -> None:
    kwargs = {"model_fn": mlp, **kwargs}
    with pytest.raises(LmechError, match=match):
        coord_check(kwargs.pop("model_fn"), kwargs.pop("widths"), **kwargs)
