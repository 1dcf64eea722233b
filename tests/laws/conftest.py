"""One way to run a law's pieces in tests, cached for the session (shared with the
contract checks of `lmech.testing`, so a law's smoke run happens once per session)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pytest

from lmech.laws import AbstractLaw, Series
from lmech.testing import smoke_run


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

    def run(law: AbstractLaw, seed: int, budget: str = "smoke", **overrides) -> LawRun:
        r = smoke_run(law, seed, budget, **overrides)
        return LawRun(r.params, r.prediction, r.measurement, r.foil, r.tolerance)

    return run
