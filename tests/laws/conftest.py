"""One way to run a law's pieces in tests, cached for the session."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pytest

from lmech.laws import AbstractLaw, Series


class LawRun(NamedTuple):
    """What a law produces for one budget and seed (unpacks as a 5-tuple)."""

    params: Any
    prediction: Series
    measurement: Series
    foil: Series
    tolerance: np.ndarray


@pytest.fixture(scope="session")
def law_run():
    """``law_run(law, seed, budget="smoke", **overrides)``: predict, measure, foil, tolerance.

    Runs are cached by (law, budget, seed, overrides), so tests of one law share them.
    """
    cache: dict[tuple, LawRun] = {}

    def run(law: AbstractLaw, seed: int, budget: str = "smoke", **overrides) -> LawRun:
        key = (law.name, budget, seed, repr(sorted(overrides.items())))
        if key not in cache:
            params = law.parameters(budget, overrides)
            prediction = law.predict(params)
            cache[key] = LawRun(params, prediction, law.measure(params, seed),
                                law.foil(params), law.tolerance(params, prediction))
        return cache[key]

    return run
