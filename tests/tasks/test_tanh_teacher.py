"""The tanh teacher: its formula against a loop over hidden units, order-one outputs at any
size, named errors."""

from __future__ import annotations

import math

import pytest
import torch

from lmech.errors import LmechError
from lmech.tasks.tanh_teacher import tanh_teacher


def test_teacher_is_the_soft_committee_sum() -> None:
    t = tanh_teacher(5, 3, generator=torch.Generator().manual_seed(0))
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    by_hand = sum(t.a[j] * torch.tanh(x @ t.w[j] / math.sqrt(5)) for j in range(3)) / math.sqrt(3)
    torch.testing.assert_close(t(x)[:, 0], by_hand)
    assert t.n_in == 5


@pytest.mark.parametrize("n_in,hidden", [(4, 8), (256, 512)])
def test_outputs_are_of_order_one_at_any_size(n_in, hidden) -> None:
    t = tanh_teacher(n_in, hidden, generator=torch.Generator().manual_seed(2))
    x = torch.randn(4000, n_in, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert 0.1 < t(x).std().item() < 1.0  # tanh of unit-variance arguments, shrunk below 1


def test_bad_sizes_are_named() -> None:
    with pytest.raises(LmechError, match="n_in >= 1 and hidden >= 1"):
        tanh_teacher(0, 3, generator=torch.Generator())
