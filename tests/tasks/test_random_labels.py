"""Gaussian random labels: shapes, one stream per member, moments, bad input named."""

from __future__ import annotations

import pytest
import torch

from lmech.errors import LmechError
from lmech.tasks import gaussian_random_labels


def _gens(*seeds):
    return [torch.Generator().manual_seed(s) for s in seeds]


def test_a_member_draws_from_its_own_generator_only() -> None:
    x, y = gaussian_random_labels(7, 3, _gens(0, 1, 9), label_scale=2.0)
    alone_x, alone_y = gaussian_random_labels(7, 3, _gens(9), label_scale=2.0)
    assert x.shape == (3, 7, 3) and y.shape == (3, 7, 1)
    assert torch.equal(x[2], alone_x[0]) and torch.equal(y[2], alone_y[0])
    assert not torch.equal(x[0], x[1])


def test_moments_match_the_distribution() -> None:
    """Mean 0 and variance 1 (inputs), variance s² (labels), labels uncorrelated with the
    inputs; each bound is 5 standard errors of its estimate."""
    x, y = gaussian_random_labels(2000, 4, _gens(*range(5)), label_scale=3.0,
                                  dtype=torch.float64)
    n = x.numel()
    assert abs(x.mean().item()) < 5 / n**0.5
    assert abs(x.var().item() - 1) < 5 * (2 / n) ** 0.5
    assert abs(y.var().item() / 9 - 1) < 5 * (2 / y.numel()) ** 0.5
    assert abs((x * y).mean().item() / 3) < 5 / n**0.5


@pytest.mark.parametrize("kwargs,name", [
    (dict(n_samples=0), "n_samples"), (dict(input_dim=2.5), "input_dim"),
    (dict(generators=[]), "generators"), (dict(label_scale=0.0), "label_scale"),
])
def test_bad_input_is_named(kwargs, name) -> None:
    args = {**dict(n_samples=4, input_dim=2, generators=_gens(0)), **kwargs}
    with pytest.raises(LmechError, match=name):
        gaussian_random_labels(**args)
