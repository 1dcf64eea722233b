"""Greedy decoding accuracy against brute force on hand-made causal models."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lmech.errors import LmechError
from lmech.measure.greedy_decoding import greedy_accuracy


def _next_is(rule, vocab: int):
    """A causal 'model' whose logits at t favour rule(prefix up to t)."""

    def forward(tokens: torch.Tensor) -> torch.Tensor:
        nxt = torch.stack([rule(tokens[..., : t + 1]) for t in range(tokens.shape[-1])], -1)
        return F.one_hot(nxt, vocab).float()

    return forward


def test_a_model_that_adds_one_is_right_on_counting_sequences() -> None:
    tokens = (torch.arange(6) + torch.arange(8)[:, None]).remainder(9).expand(2, 8, 6)
    forward = _next_is(lambda p: (p[..., -1] + 1) % 9, 9)
    assert greedy_accuracy(forward, tokens.clone(), prompt=2, answer=3).tolist() == [1.0, 1.0]


def test_an_early_mistake_propagates_as_brute_force_says(generator) -> None:
    """A model that writes +2 once then +1: every later token is off by one."""
    tokens = torch.randint(9, (1, 50, 1), generator=generator)
    tokens = (tokens + torch.arange(5)).remainder(9)  # counting from a random start

    def rule(p):
        step = 2 if p.shape[-1] == 2 else 1  # the mistake: at the first written token
        return (p[..., -1] + step) % 9
    acc = greedy_accuracy(_next_is(rule, 9), tokens, prompt=2, answer=2)
    assert acc.tolist() == [0.0]


def test_a_constant_model_scores_the_share_of_that_token(generator) -> None:
    tokens = torch.randint(4, (3, 200, 5), generator=generator)
    acc = greedy_accuracy(_next_is(lambda p: torch.zeros_like(p[..., -1]), 4), tokens,
                          prompt=3, answer=2)
    torch.testing.assert_close(acc, (tokens[..., 3:] == 0).float().mean((1, 2)))


def test_bad_arguments_are_named() -> None:
    with pytest.raises(LmechError, match="prompt"):
        greedy_accuracy(lambda t: t, torch.zeros(1, 2, 4, dtype=torch.long), prompt=4, answer=1)
    with pytest.raises(LmechError, match="tokens"):
        greedy_accuracy(lambda t: t, torch.zeros(2, 4, dtype=torch.long), prompt=1, answer=1)
