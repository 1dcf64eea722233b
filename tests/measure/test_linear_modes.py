"""lmech.measure.linear_modes: the end-to-end map, mode strengths and level crossings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmech.errors import LmechError
from lmech.measure import crossing_times, end_to_end_map, mode_strengths


def test_end_to_end_map_and_mode_strengths() -> None:
    g = torch.Generator().manual_seed(0)
    p = {"a": torch.randn(2, 5, 3, generator=g), "b": torch.randn(2, 4, 5, generator=g)}
    w = end_to_end_map(p, ["a", "b"])
    torch.testing.assert_close(w, p["b"] @ p["a"])
    U = torch.linalg.qr(torch.randn(2, 4, 2, generator=g))[0]
    V = torch.linalg.qr(torch.randn(2, 3, 2, generator=g))[0]
    u = mode_strengths(w, U, V)
    for m in range(2):
        for a in range(2):
            assert float(u[m, a]) == pytest.approx(float(U[m, :, a] @ w[m] @ V[m, :, a]),
                                                   rel=1e-5)
    with pytest.raises(LmechError):
        end_to_end_map(p, [])


def test_crossing_is_exact_for_a_logistic_and_nan_when_never_reached() -> None:
    """A logistic trajectory has linear log-odds, so the interpolated crossing is exact."""
    s = np.array([2.0, 1.0, 3.0])
    t = np.arange(0, 60) * 0.1
    t_half = np.array([1.234, 3.21, 100.0])  # the third never gets there
    u = s / (1 + np.exp(-2 * s * (t[:, None] - t_half)))
    got = crossing_times(u, s / 2, s, 0.1)
    np.testing.assert_allclose(got[:2], t_half[:2], rtol=1e-10)
    assert np.isnan(got[2])
    already = crossing_times(np.full((4, 1), 0.9), 0.5, 1.0, 0.1)
    assert float(already[0]) == 0.0  # at or past the level at step 0
    with pytest.raises(LmechError, match="0 < level < s"):
        crossing_times(u, s, s, 0.1)
