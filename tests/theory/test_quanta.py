"""lmech.theory.quanta against docs/theory/scaling.md's reference values and its own limits."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from lmech.errors import LmechError
from lmech.theory.quanta import (
    quanta_data_exponent,
    quanta_frequencies,
    quanta_loss,
    quanta_parameter_exponent,
)


def test_hurwitz_tail_against_the_table_and_its_asymptote() -> None:
    np.testing.assert_allclose(quanta_loss([10, 100, 1000], 1.4, 1.0),
                               [0.31422, 0.12733, 0.050783], rtol=2e-4)
    assert special.zeta(1.4) == pytest.approx(3.10555, rel=1e-5)
    n = 1e5
    approx = n**-0.4 / (0.4 * special.zeta(1.4))
    assert quanta_loss(n, 1.4, 1.0) == pytest.approx(approx, rel=1e-3)


def test_truncated_law_matches_brute_force() -> None:
    p = quanta_frequencies(50, 1.4)
    assert p.sum() == pytest.approx(1.0) and np.all(np.diff(p) < 0)
    for n in (0, 1, 7, 49, 50):
        assert quanta_loss(n, 1.4, 2.0, n_quanta=50) == pytest.approx(2.0 * p[n:].sum(),
                                                                      abs=1e-12)


def test_code_alpha_is_paper_alpha_plus_one() -> None:
    """The official code's alpha = 1.4 is the paper's α = 0.4."""
    assert quanta_parameter_exponent(1.4) == pytest.approx(0.4)
    assert quanta_data_exponent(1.4) == pytest.approx(0.4 / 1.4)
    a_n = quanta_parameter_exponent(2.0)
    assert quanta_data_exponent(2.0) == pytest.approx(a_n / (a_n + 1))


def test_data_scaling_from_counting(rng) -> None:
    """Quanta seen >= τ times in D samples: L(D) falls with exponent α/(α+1) (exact sums)."""
    p = np.arange(1, 10**6 + 1) ** -1.4 / special.zeta(1.4)  # the untruncated law
    d = np.geomspace(1e5, 1e8, 7)
    n_learned = np.array([np.sum(p * di >= 10) for di in d])
    # truncating the law at 1e6 quanta would steepen the slope to ≈ 0.33 here
    slope = np.polyfit(np.log(d), np.log(quanta_loss(n_learned, 1.4)), 1)[0]
    assert -slope == pytest.approx(quanta_data_exponent(1.4), rel=0.05)


def test_bad_exponent() -> None:
    with pytest.raises(LmechError, match="zipf_exponent must be > 1"):
        quanta_parameter_exponent(0.4)
