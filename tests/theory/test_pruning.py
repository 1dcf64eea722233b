"""theory.pruning: closed forms by hand, K(t) and its spread against Monte Carlo draws of
PyTorch's default initialisation, and bad input named."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lmech.errors import LmechError
from lmech.theory.pruning import (
    magnitude_collapse_compression,
    maximal_critical_compression,
    uniform_magnitude_kept,
    uniform_magnitude_spread,
)

SIZES, FANS = [36, 144, 36], [9, 36, 4]


def test_kept_count_by_hand() -> None:
    """t = 1/6: layer fractions 1 − √9/6 = ½, 1 − 1 = 0, 1 − 2/6 = ⅔."""
    assert uniform_magnitude_kept(1 / 6, SIZES, FANS) == pytest.approx(18 + 0 + 24)
    assert uniform_magnitude_kept(0.0, SIZES, FANS) == sum(SIZES)
    assert uniform_magnitude_kept(1.0, SIZES, FANS) == 0.0


def test_kept_count_and_spread_match_monte_carlo() -> None:
    """Independent route: draw every layer U(−1/√fan_in, 1/√fan_in) and count |w| > t;
    the mean over 4000 draws is K(t) within 5 standard errors, its std the spread."""
    gen = torch.Generator().manual_seed(0)
    t = 0.1
    counts = np.zeros(4000)
    for n, f in zip(SIZES, FANS, strict=True):
        w = (torch.rand(4000, n, generator=gen, dtype=torch.float64) * 2 - 1) / math.sqrt(f)
        counts += (w.abs() > t).sum(1).numpy()
    kept, spread = uniform_magnitude_kept(t, SIZES, FANS), uniform_magnitude_spread(t, SIZES, FANS)
    assert abs(counts.mean() - kept) < 5 * spread / math.sqrt(4000)
    assert counts.std() == pytest.approx(spread, rel=0.06)  # se of an sd: 1/√(2·4000) ≈ 1 %


def test_collapse_compression_is_total_over_kept_at_the_cut() -> None:
    """ρ_mag = N / K(1/√fan_in*), here N = 216, K(1/6) = 42."""
    assert magnitude_collapse_compression(SIZES, FANS, 36) == pytest.approx(216 / 42)
    # a cut at a smaller fan-in keeps fewer weights: a larger compression
    assert magnitude_collapse_compression(SIZES, FANS, 9) > magnitude_collapse_compression(
        SIZES, FANS, 36)


def test_maximal_critical_compression() -> None:
    assert maximal_critical_compression(300, 3) == 100.0
    assert maximal_critical_compression(7, 7) == 1.0


@pytest.mark.parametrize("call,match", [
    (lambda: uniform_magnitude_kept(0.1, [1, 2], [1]), "equal-length"),
    (lambda: uniform_magnitude_kept(0.1, [0], [1]), ">= 1"),
    (lambda: uniform_magnitude_kept(-0.1, [1], [1]), "threshold"),
    (lambda: uniform_magnitude_spread(float("nan"), [1], [1]), "threshold"),
    (lambda: magnitude_collapse_compression(SIZES, FANS, 5), "cut_fan_in"),
    (lambda: magnitude_collapse_compression([4], [1], 1), "empties every layer"),
    (lambda: maximal_critical_compression(3, 4), "shortest_path"),
    (lambda: maximal_critical_compression(3.0, 1), "integers"),
])
def test_bad_input_is_named(call, match) -> None:
    with pytest.raises(LmechError, match=match):
        call()
