"""One seed scheme: every random stream derived from (seed, purpose, member).

A run has one integer seed. Each use of randomness names its purpose (the network's
initial weights, the data, a dropout mask, …) and, inside an ensemble, the member id i it
belongs to; `derive` turns the triple into an independent 63-bit seed, and `generator`
into a seeded `torch.Generator`. Member i's streams therefore depend only on (seed, i):
the member is the same network, trained on the same data, alone or in an ensemble of any
size. Two purposes never share a stream, so drawing more noise does not shift the data.

The triple is hashed by NumPy's `SeedSequence` (a well-mixed hash of the entropy words to
a 128-bit pool; O'Neill's design, the one NumPy recommends for parallel streams). The
entropy words are an injective encoding of the triple: ``[seed, member, purpose id]`` when
seed and member are below 2³² (three fixed words), else ``[seed_lo, seed_hi, member_lo,
member_hi, purpose id, 1]`` (six words; SeedSequence treats trailing zero words within its
4-word pool as absent, so the 3-word form never equals a 6-word one, whose last word is 1).
Distinct triples therefore give distinct entropy, and equal derived seeds need a hash
coincidence (odds about 2⁻⁶⁴ for a given pair).

Purpose ids are fixed forever (a new purpose takes the next id, never a used one): "init"
is 0 and "data" 1, and the 3-word form is the earlier scheme's, so initial weights and data
orders drawn from seeds and members below 2³² are unchanged by the registry. (The earlier
scheme let NumPy split a large seed into a variable number of words, which is not
injective: seed 5 + 2³² with member 1 of "init" hashed like seed 5, member 1 of "data".)

Source: NumPy's `SeedSequence` documentation (numpy.random, "Parallel random number
generation"), after M. E. O'Neill's seed_seq alternative (pcg-random.org, 2015).
"""

from __future__ import annotations

import numpy as np
import torch

from lmech.errors import LmechError

__all__ = ["PURPOSES", "derive", "generator"]

PURPOSES: dict[str, int] = {
    "init": 0,  # initial weights
    "data": 1,  # a data set, and the per-epoch order of minibatches
    "noise": 2,  # noise added to inputs, outputs, labels or gradients
    "dropout": 3,  # dropout masks
    "teacher": 4,  # a teacher network or target function
    "foil": 5,  # what a law's foil draws
    "pilot": 6,  # pilot runs that set a tolerance (never the verdict's seeds)
    "batch": 7,  # fresh batches drawn every step
    "eval": 8,  # held-out evaluation data
    "probe": 9,  # random probe vectors (Hutchinson, Lanczos start vectors)
    "prune": 10,  # random pruning scores
    "resample": 11,  # bootstrap resamples of a law's units
}
"""Known purposes and their fixed ids (append only: an id is never reused or changed)."""

_WORD = 2**32
_LIMIT = 2**64


def _check_index(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or \
            not 0 <= int(value) < _LIMIT:
        raise LmechError(f"{name} must be an integer in [0, 2**64), got {value!r}")
    return int(value)


def _purpose_id(purpose: str) -> int:
    if purpose not in PURPOSES:
        raise LmechError(f"unknown seed purpose {purpose!r}; known: {', '.join(PURPOSES)}")
    return PURPOSES[purpose]


def derive(seed: int, purpose: str, member: int = 0) -> int:
    """A 63-bit seed that depends only on (seed, purpose, member), one per distinct triple.

    Args:
        seed: the run's seed, an integer in [0, 2⁶⁴).
        purpose: a name in `PURPOSES`.
        member: the member id i inside an ensemble (0 outside one), in [0, 2⁶⁴).

    Raises:
        LmechError: an unknown purpose (the message lists the known ones), or a seed or
            member that is not an integer in [0, 2⁶⁴).

    Example:
        >>> derive(0, "init", 1000) != derive(1000, "init", 0)
        True
        >>> derive(7, "dropout", 3) == derive(7, "dropout", 3)
        True
    """
    s, m = _check_index(seed, "seed"), _check_index(member, "member")
    pid = _purpose_id(purpose)
    if s < _WORD and m < _WORD:
        words = [s, m, pid]
    else:
        words = [s % _WORD, s // _WORD, m % _WORD, m // _WORD, pid, 1]
    state = np.random.SeedSequence(words).generate_state(1, dtype=np.uint64)[0]
    return int(state >> np.uint64(1))


def generator(seed: int, purpose: str, member: int = 0,
              device: str | torch.device = "cpu") -> torch.Generator:
    """A `torch.Generator` on `device` seeded with ``derive(seed, purpose, member)``.

    Example:
        >>> a = torch.rand(3, generator=generator(0, "noise", 2))
        >>> torch.equal(a, torch.rand(3, generator=generator(0, "noise", 2)))
        True
    """
    return torch.Generator(device=device).manual_seed(derive(seed, purpose, member))
