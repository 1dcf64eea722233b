"""init.universality: the premature asymptote and class-blind answers are refuted."""

from __future__ import annotations

import numpy as np
import pytest

from lmech.laws import Curve, Series, get_law
from lmech.run import Outcome, judge
from lmech.testing import SEED

LAW = get_law("init.universality")
K0 = "K*=0 class: w = V/K²"


@pytest.fixture(scope="module")
def smoke(law_run):
    return law_run(LAW, SEED)


def test_the_large_depth_asymptote_at_moderate_depth_is_refuted(smoke) -> None:
    """A plausible mistake: w = (2/3)l (the l → ∞ form) instead of the universal curve."""
    _, prediction, measurement, foil, tol = smoke
    curves = [Curve(c.panel, c.name, c.x, 2 / 3 * np.asarray(c.x) if c.panel == K0 else c.y)
              for c in prediction.curves()]
    wrong = Series.from_curves(curves)
    assert judge(wrong, measurement, foil, tol).outcome is Outcome.REFUTED


def test_members_share_one_prediction(smoke) -> None:
    _, prediction, *_ = smoke
    for panel in set(prediction.panel):
        curves = [c for c in prediction.curves() if c.panel == panel]
        assert len(curves) == 3
        for c in curves[1:]:
            np.testing.assert_array_equal(c.y, curves[0].y)
