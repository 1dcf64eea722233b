"""Accuracy of a causal sequence model that writes its own answer, token by token.

Given a prompt, the model's most likely next token is appended and fed back, until the
sequence is complete; the accuracy is the fraction of the answer's tokens (the last
`answer` positions) that equal the true ones. Intermediate tokens the model writes itself
(a step-by-step chain) are read back as written, so an early mistake propagates, as it does
when the model is used.

Source: the evaluation of Ramesh, Lubana, Khona, Dick & Tanaka, "Compositional
capabilities of autoregressive transformers", ICML 2024 (arXiv:2311.12997) §3.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from lmech.errors import LmechError

__all__ = ["greedy_accuracy"]


def greedy_accuracy(forward: Callable[[torch.Tensor], torch.Tensor], tokens: torch.Tensor,
                    prompt: int, answer: int) -> torch.Tensor:
    """``(M,)`` per member, the fraction of answer tokens right under greedy decoding.

    Positions ``prompt … T−1`` are generated: token t is the argmax of the logits at
    t − 1. Because the model is causal, one forward pass over the whole (partly written)
    sequence gives the next token's logits; positions not yet written hold 0 and are
    never read.

    Args:
        forward: tokens ``(M, B, T)`` → logits ``(M, B, T, V)``, causal.
        tokens: ``(M, B, T)`` the true sequences (the first `prompt` are given).
        prompt: tokens given, >= 1.
        answer: the last `answer` tokens are scored, 1 <= answer <= T − prompt.

    Example:
        >>> copy = lambda t: torch.nn.functional.one_hot(t, 5).float()  # predicts its input
        >>> greedy_accuracy(copy, torch.full((2, 3, 4), 1), prompt=1, answer=2).tolist()
        [1.0, 1.0]
    """
    if tokens.dim() != 3:
        raise LmechError(f"tokens must be (M, B, T), got shape {tuple(tokens.shape)}")
    length = tokens.shape[-1]
    if not 1 <= prompt < length or not 1 <= answer <= length - prompt:
        raise LmechError(f"need 1 <= prompt < T and 1 <= answer <= T - prompt, got prompt = "
                         f"{prompt}, answer = {answer}, T = {length}")
    written = tokens.clone()
    written[..., prompt:] = 0
    with torch.no_grad():
        for position in range(prompt, length):
            written[..., position] = forward(written)[..., position - 1, :].argmax(-1)
    right = written[..., -answer:] == tokens[..., -answer:]  # (M, B, answer)
    return right.float().mean((1, 2))
