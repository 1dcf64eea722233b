"""The law book at the `quick` budget, seed 0, run once: where the evidence is.

Slow (minutes): deselected by default, run by `.ci/run` with ``pytest -m slow``.
"""

from __future__ import annotations

import numpy as np
import pytest

from lmech.laws import Kind, all_laws
from lmech.run import MIN_UNITS, verify

pytestmark = pytest.mark.slow
LAWS = all_laws()


@pytest.fixture(scope="module")
def quick_book(tmp_path_factory):
    # two laws at a time in worker processes, as `lmech verify --jobs 2` on two cores
    summary = verify(LAWS, out=tmp_path_factory.mktemp("quick"), budget="quick", seed=0,
                     jobs=2)
    return {r.law: r for r in summary.results}


@pytest.mark.parametrize("law", LAWS, ids=lambda law: law.name)
def test_empirical_laws_rest_on_enough_units(law, quick_book) -> None:
    result = quick_book[law.name]
    assert result.error is None, result.error
    if law.kind is Kind.EMPIRICAL:  # every judged point (an illustration is not evidence)
        judged = ~np.isin(result.measurement.panel, law.unjudged_panels())
        units = result.measurement.units[judged]
        assert judged.any() and np.all(units >= MIN_UNITS), \
            f"{law.name}: {int(units.min())} < {MIN_UNITS} independent units at a point"
