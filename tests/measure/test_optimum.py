"""measure.optimum: a parabola's vertex exactly, the h/2 bound, ends and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from lmech.errors import LmechError
from lmech.measure.optimum import parabolic_minimum


def test_a_sampled_parabola_gives_its_vertex_exactly() -> None:
    x = np.linspace(-10, -2, 9)
    found = parabolic_minimum(x, 0.3 * (x + 5.37) ** 2 + 2.0)
    assert found.bracketed and found.index == 5
    assert found.x == pytest.approx(-5.37, abs=1e-12)


def test_vertex_stays_within_half_a_step_of_the_lowest_sample() -> None:
    """Any values: the vertex lies within h/2 of the lowest sample (y_i is the lowest of
    its three), and matches the brute-force minimum of the fitted parabola on a fine grid."""
    rng = np.random.default_rng(0)
    x = np.arange(9) * 0.5
    for _ in range(200):
        y = rng.normal(size=9)
        found = parabolic_minimum(x, y)
        i = int(np.argmin(y))
        assert abs(found.x - x[i]) <= 0.25 + 1e-12
        if found.bracketed:
            coeff = np.polyfit(x[i - 1:i + 2], y[i - 1:i + 2], 2)
            fine = np.linspace(x[i] - 0.25, x[i] + 0.25, 20001)
            assert found.x == pytest.approx(fine[np.argmin(np.polyval(coeff, fine))],
                                            abs=1e-4)


def test_an_unbracketed_minimum_is_the_grid_end() -> None:
    found = parabolic_minimum([1, 2, 3], [3.0, 2.0, 1.0])
    assert (found.x, found.index, found.bracketed) == (3.0, 2, False)


@pytest.mark.parametrize("x,y,match", [
    ([0, 1], [1.0, 0.0], ">= 3 points"),
    ([0, 1, 2], [1.0, 0.0], "one y per x"),
    ([0, 1, 3], [1.0, 0.0, 1.0], "evenly spaced"),
    ([2, 1, 0], [1.0, 0.0, 1.0], "evenly spaced"),
    ([0, 1, 2], [1.0, np.inf, 1.0], "finite"),
])
def test_bad_input_is_named(x, y, match) -> None:
    with pytest.raises(LmechError, match=match):
        parabolic_minimum(x, y)
