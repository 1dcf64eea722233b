"""Concept space, function composition and multitask sparse parity: brute-force checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmech.errors import LmechError
from lmech.tasks import (
    concept_distance,
    concept_space,
    function_composition,
    multitask_sparse_parity,
)


def test_sparse_parity_labels_and_frequencies(generator) -> None:
    tasks = multitask_sparse_parity(6, 10, 3, 1.4, generator=generator)
    x, y, t = tasks.sample(20_000, generator=generator)
    assert x.shape == (20_000, 16) and torch.all(x[:, :6].argmax(1) == t)
    bits = x[:, 6:].long()
    for i in range(len(t))[:200]:
        assert y[i] == bits[i, tasks.subsets[t[i]]].sum() % 2
    counts = torch.bincount(t, minlength=6).double() / len(t)
    expected = np.arange(1, 7) ** -1.4 / np.sum(np.arange(1, 7) ** -1.4)
    np.testing.assert_allclose(counts, expected, atol=0.01)  # binomial se <= 0.0035
    assert float(y.float().mean()) == pytest.approx(0.5, abs=0.02)


def test_concept_space_split_render_and_distance(generator) -> None:
    space = concept_space(3, 2, 32, generator=generator)
    every = space.classes()
    held = torch.tensor([[1, 1, 0], [1, 1, 1]])
    train, test = space.split(held)
    assert len(train) == 6 and not any(
        (train == h).all(-1).any() for h in held)
    # brute force: Hamming distance to the nearest training class
    for c in test:
        brute = min(int((c != tr).sum()) for tr in train)
        assert concept_distance(c[None], train).item() == brute
    assert concept_distance(every, every).sum() == 0
    x = space.render(every)
    manual = space.prototypes[0, every[:, 0]] + space.prototypes[1, every[:, 1]] + \
        space.prototypes[2, every[:, 2]]
    torch.testing.assert_close(x, manual)
    with pytest.raises(LmechError, match="shape"):
        space.render(torch.zeros(4, 2, dtype=torch.long))


def test_composition_applies_functions_in_order(generator) -> None:
    task = function_composition(3, 7, 5, generator=generator)
    train, test = task.split(2, 0.3, generator=generator)
    assert len(train) + len(test) == 9
    assert not (train[:, None] == test[None]).all(-1).any()
    seq, target = task.sample(test, 50, generator=generator)
    for s, y in zip(seq, target, strict=True):
        f1, f2 = int(s[0]) - 7, int(s[1]) - 7
        assert (test == torch.tensor([f1, f2])).all(-1).any()
        assert torch.equal(y, task.maps[f2][task.maps[f1][s[2:]]])


def test_seeded_and_bad_input() -> None:
    a = multitask_sparse_parity(4, 8, 2, 1.0, generator=torch.Generator().manual_seed(5))
    b = multitask_sparse_parity(4, 8, 2, 1.0, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.subsets, b.subsets)
    with pytest.raises(LmechError, match="k must be"):
        multitask_sparse_parity(4, 8, 9, 1.0, generator=torch.Generator())
    with pytest.raises(LmechError, match="tasks must have shape"):
        a.sample(10, generator=torch.Generator(), tasks=torch.zeros(5, dtype=torch.long))
    with pytest.raises(LmechError, match="subtask indices"):
        a.sample(2, generator=torch.Generator(), tasks=torch.tensor([0, 4]))


def test_sparse_parity_subsets_are_distinct() -> None:
    # all C(8, 2) = 28 subsets: drawn with replacement, collisions would be near certain
    tasks = multitask_sparse_parity(28, 8, 2, 1.0, generator=torch.Generator().manual_seed(0))
    assert len({frozenset(s.tolist()) for s in tasks.subsets}) == 28
    with pytest.raises(LmechError, match="at most C"):
        multitask_sparse_parity(29, 8, 2, 1.0, generator=torch.Generator())
