"""Linear teacher with a chosen spectrum; exactly whitened and moment-matched inputs."""

from __future__ import annotations

import pytest
import torch

from lmech.errors import LmechError
from lmech.tasks import linear_teacher, moment_matched_inputs, whitened_inputs


def test_teacher_has_the_spectrum(generator: torch.Generator) -> None:
    t = linear_teacher(6, 5, [3.0, 2.0, 0.5], members=4, generator=generator)
    assert t.map.shape == (4, 5, 6)
    sv = torch.linalg.svdvals(t.map)[:, :3]
    torch.testing.assert_close(sv, torch.tensor([3.0, 2.0, 0.5], dtype=sv.dtype).expand(4, 3))
    eye = torch.eye(3, dtype=t.U.dtype).expand(4, 3, 3)
    torch.testing.assert_close(t.U.transpose(1, 2) @ t.U, eye)
    torch.testing.assert_close(t.V.transpose(1, 2) @ t.V, eye)


def test_members_differ_and_seed_repeats() -> None:
    a = linear_teacher(4, 4, [1.0], members=2, generator=torch.Generator().manual_seed(0))
    b = linear_teacher(4, 4, [1.0], members=2, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a.map, b.map)
    assert not torch.allclose(a.map[0], a.map[1])


def test_inputs_are_exactly_white(generator: torch.Generator) -> None:
    x = whitened_inputs(50, 7, members=3, generator=generator)
    cov = x.transpose(1, 2) @ x / 50
    torch.testing.assert_close(cov, torch.eye(7, dtype=x.dtype).expand(3, 7, 7))


def test_bad_inputs(generator: torch.Generator) -> None:
    with pytest.raises(LmechError, match="spectrum"):
        linear_teacher(2, 3, [1.0, 1.0, 1.0], generator=generator)
    with pytest.raises(LmechError, match="> 0"):
        linear_teacher(3, 3, [1.0, -1.0], generator=generator)
    with pytest.raises(LmechError, match="n_samples"):
        whitened_inputs(3, 5, generator=generator)


def test_moment_matched_inputs_give_the_same_loss_and_gradient() -> None:
    """The n₀ matched rows reproduce Σ11 and the loss ½ mean |(T − W)x|² of all P rows,
    and its gradient in W, to rounding."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 50, 4, generator=g, dtype=torch.float64)
    xm = moment_matched_inputs(x)
    assert xm.shape == (3, 4, 4)
    torch.testing.assert_close(xm.transpose(-1, -2) @ xm / 4, x.transpose(-1, -2) @ x / 50)
    T = torch.randn(3, 2, 4, generator=g, dtype=torch.float64)
    W = torch.randn(3, 2, 4, generator=g, dtype=torch.float64, requires_grad=True)

    def loss(inputs):
        e = inputs @ (T - W).transpose(-1, -2)  # (M, rows, 2)
        return 0.5 * e.square().sum(-1).mean(-1).sum()

    full, matched = loss(x), loss(xm)
    torch.testing.assert_close(full, matched)
    g_full, = torch.autograd.grad(full, W)
    g_matched, = torch.autograd.grad(matched, W)
    torch.testing.assert_close(g_full, g_matched)
    with pytest.raises(LmechError, match="P >= n0"):
        moment_matched_inputs(x[:, :3])
