"""The seed scheme: one stream per (seed, purpose, member), no collisions, errors that name
the bad argument; per-member streams for training steps."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from lmech.ensemble import PURPOSES, MemberStreams, derive, generator, member_seed
from lmech.errors import LmechError


def test_collision_free_over_many_triples() -> None:
    """Every (seed, purpose, member) for seeds and members 0..59 and every purpose, plus
    seeds and members around 2³² and 2⁶⁴, gives its own derived seed."""
    small = range(60)
    large = [2**32 - 1, 2**32, 2**32 + 5, 2**63, 2**64 - 1]
    triples = list(itertools.product(small, PURPOSES, small))
    triples += list(itertools.product([*large, 0, 1, 5], PURPOSES, [*large, 0, 1, 5]))
    values = [derive(s, p, m) for s, p, m in triples]
    assert len(set(values)) == len(set(triples))
    assert all(0 <= v < 2**63 for v in values)


def test_swapped_seed_and_member_differ() -> None:
    for p in PURPOSES:
        assert derive(1000, p, 0) != derive(0, p, 1000)
    assert len({derive(1000, p, 0) for p in PURPOSES}) == len(PURPOSES)


def test_the_old_schemes_structural_collision_is_gone() -> None:
    """Letting NumPy split a large seed into words made seed 5 + 2³², member 1, "init" hash
    like seed 5, member 1, "data" (entropy [5, 1, 1, 0] ≡ [5, 1, 1])."""
    old = [np.random.SeedSequence(e).generate_state(1, dtype=np.uint64)[0]
           for e in ([5 + 2**32, 1, 0], [5, 1, 1])]
    assert old[0] == old[1]  # the collision the registry's encoding avoids
    assert derive(5 + 2**32, "init", 1) != derive(5, "data", 1)


def test_small_seeds_keep_the_earlier_init_and_data_streams() -> None:
    """Below 2³², "init" and "data" are the earlier scheme's SeedSequence([seed, member, 0|1]),
    so initial weights and minibatch orders of existing runs are unchanged."""
    for seed, member in [(0, 0), (3, 17), (2**32 - 1, 9)]:
        for purpose, pid in (("init", 0), ("data", 1)):
            state = np.random.SeedSequence([seed, member, pid]).generate_state(
                1, dtype=np.uint64)[0]
            assert derive(seed, purpose, member) == int(state >> np.uint64(1))
    assert member_seed(3, 17, "init") == derive(3, "init", 17)


def test_generator_is_seeded_by_derive() -> None:
    a = torch.randn(5, generator=generator(4, "noise", 2))
    b = torch.randn(5, generator=torch.Generator().manual_seed(derive(4, "noise", 2)))
    assert torch.equal(a, b)
    assert not torch.equal(a, torch.randn(5, generator=generator(4, "dropout", 2)))


@pytest.mark.parametrize("args,name", [
    ((0, "weights"), "purpose"),
    ((-1, "init"), "seed"),
    ((2**64, "init"), "seed"),
    ((1.5, "init"), "seed"),
    ((True, "init"), "seed"),
    ((0, "init", -3), "member"),
])
def test_bad_arguments_are_named(args, name) -> None:
    with pytest.raises(LmechError, match=name):
        derive(*args)


def test_unknown_purpose_lists_the_known_ones() -> None:
    with pytest.raises(LmechError) as err:
        derive(0, "weights")
    assert all(p in str(err.value) for p in PURPOSES)


def test_member_streams_do_not_depend_on_the_other_members() -> None:
    big = MemberStreams(seed=3, member_ids=[0, 1, 2, 7])
    alone = MemberStreams(seed=3, member_ids=[7])
    for _ in range(2):  # the streams advance identically
        for draw in ("randn", "rand"):
            a = getattr(big, draw)("noise", 4, 2, dtype=torch.float64)
            b = getattr(alone, draw)("noise", 4, 2, dtype=torch.float64)
            assert a.shape == (4, 4, 2) and torch.equal(a[3], b[0])
        assert torch.equal(big.randint("batch", 10, 6)[3], alone.randint("batch", 10, 6)[0])
        assert torch.equal(big.randperm("data", 9)[3], alone.randperm("data", 9)[0])


def test_member_streams_of_different_purposes_are_independent() -> None:
    """Drawing dropout masks does not shift the noise stream."""
    a = MemberStreams(seed=0, member_ids=[0, 1])
    b = MemberStreams(seed=0, member_ids=[0, 1])
    a.rand("dropout", 100)
    noise = b.randn("noise", 3)
    assert torch.equal(a.randn("noise", 3), noise)
    assert not torch.equal(noise[0], noise[1])  # members draw from different streams
