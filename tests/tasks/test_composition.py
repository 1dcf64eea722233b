"""Prompts of function composition: step-by-step chains and direct answers, brute force."""

from __future__ import annotations

import torch

from lmech.tasks import function_composition


def test_step_by_step_prompts_chain_every_function(generator) -> None:
    task = function_composition(4, 7, 3, generator=generator)
    seq = task.prompts(task.compositions(3), 40, step_by_step=True, generator=generator)
    assert seq.shape == (40, 3 + 3 * 4)
    for s in seq:
        functions, state = (s[:3] - 7).tolist(), s[3:6]
        for k, f in enumerate(functions):
            state = task.maps[f][state]
            assert torch.equal(s[6 + 3 * k:9 + 3 * k], state)


def test_direct_prompts_end_with_the_answer_that_sample_gives() -> None:
    task = function_composition(3, 5, 4, generator=torch.Generator().manual_seed(0))
    pairs = task.compositions(2)
    seq = task.prompts(pairs, 30, step_by_step=False, generator=torch.Generator().manual_seed(1))
    shown, answer = task.sample(pairs, 30, generator=torch.Generator().manual_seed(1))
    assert torch.equal(seq[:, :6], shown)
    assert torch.equal(seq[:, 6:], answer)
