"""lmech.tasks.sparse_features: sparse uniform features, per member and from one generator."""

from __future__ import annotations

import pytest
import torch

from lmech.ensemble.streams import MemberStreams
from lmech.errors import LmechError
from lmech.tasks import sparse_feature_batch, sparse_features


def test_statistics_of_one_set(generator) -> None:
    """P(x_i ≠ 0) = p_i, a non-zero value uniform on [0, scale]: mean p·scale/2."""
    active = torch.tensor([1.0, 0.5, 0.1, 0.0])
    x = sparse_features(generator, 200_000, active, scale=2.0)
    assert x.shape == (200_000, 4)
    assert float(x.min()) >= 0 and float(x.max()) <= 2.0
    on = (x != 0).double().mean(0)
    torch.testing.assert_close(on, active.double(), atol=0.004, rtol=0)  # sd ≤ 0.0011
    torch.testing.assert_close(x.double().mean(0), active.double(), atol=0.006, rtol=0)
    nonzero = x[:, 1][x[:, 1] != 0]
    assert float(nonzero.mean()) == pytest.approx(1.0, abs=0.01)  # U[0, 2]: mean 1, sd 0.004


def test_batches_come_from_each_members_own_stream() -> None:
    active = torch.full((3,), 0.5)
    a = sparse_feature_batch(MemberStreams(seed=3, member_ids=[0, 1]), 64, active)
    b = sparse_feature_batch(MemberStreams(seed=3, member_ids=[1]), 64, active)
    assert a.shape == (2, 64, 3)
    torch.testing.assert_close(a[1], b[0])  # member 1's batch does not depend on member 0
    assert not torch.equal(a[0], a[1])


def test_per_member_probabilities() -> None:
    active = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    x = sparse_feature_batch(MemberStreams(seed=0, member_ids=[4, 5]), 256, active)
    assert bool((x[0, :, 1] == 0).all()) and bool((x[1, :, 0] == 0).all())
    assert bool((x[0, :, 0] > 0).all()) and bool((x[1, :, 1] > 0).all())


def test_bad_probabilities_are_named(generator) -> None:
    with pytest.raises(LmechError, match="active probabilities"):
        sparse_features(generator, 4, torch.tensor([1.5, 0.2]))
    with pytest.raises(LmechError, match="active probabilities"):
        sparse_feature_batch(MemberStreams(seed=0, member_ids=[0]), 4, torch.tensor([-0.1]))
