"""The digits loader: shapes, standardisation, labels, no randomness."""

from __future__ import annotations

import torch

from lmech.tasks import digits


def test_digits() -> None:
    d = digits()
    assert d.x.shape == (1797, 1, 8, 8) and d.x.dtype == torch.float32
    assert d.y.shape == (1797,) and set(d.y.tolist()) == set(range(10))
    assert abs(float(d.x.mean())) < 1e-5 and abs(float(d.x.std()) - 1) < 1e-4
    flat = digits(flatten=True, dtype=torch.float64)
    assert flat.x.shape == (1797, 64)
    assert torch.equal(flat.x.float().reshape(-1, 1, 8, 8), d.x)
