"""Small deterministic laws for testing the verdict, runner, store and CLI machinery.

They live outside ``lmech.laws`` so the registry never finds them.
"""

from __future__ import annotations

import threading
import time

import numpy as np
from pydantic import Field

from lmech.laws import AbstractLaw, Curve, LawParams, Panel, Pillar, Series, ToleranceBasis

UNITS = 30
TOLERANCE = 0.1


class LineParams(LawParams):
    slope: float = Field(2.0, description="true slope")
    n: int = Field(20, ge=2, description="points")
    noise: float = Field(0.01, gt=0, description="measurement standard error")


class _Line:
    """y = slope·x measured with Gaussian noise of known standard error, from 30 units."""

    claim = "y grows as slope·x"
    source = "test"
    pillar = Pillar.SIMPLE_LAWS
    tolerance_basis = ToleranceBasis.computed("a test law: 0.1 absolute")
    Params = LineParams
    budgets = {"smoke": {"n": 8}, "quick": {}, "full": {"n": 50}}
    panels = (Panel("line", "x", "y"),)

    def _x(self, params):
        return np.linspace(0, 1, params.n)

    def _series(self, params, y, se=None):
        units = None if se is None else UNITS
        return Series.from_curves([Curve("line", "y", self._x(params), y, se, units)])

    def measure(self, params, seed, *, device="cpu", progress=lambda f: None):
        rng = np.random.default_rng(seed)
        x = self._x(params)
        progress(1.0)
        y = params.slope * x + params.noise * rng.standard_normal(x.size)
        return self._series(params, y, np.full(x.size, params.noise))

    def foil(self, params):
        return self._series(params, np.zeros(params.n))

    def tolerance(self, params, prediction):
        return np.full(len(prediction), TOLERANCE)


class CorrectLaw(_Line, AbstractLaw):
    name = "fake.correct"

    def predict(self, params):
        return self._series(params, params.slope * self._x(params))


class WrongLaw(_Line, AbstractLaw):
    """Predicts a slope 10 % too small: 0.2·x misses by up to 20 standard errors."""

    name = "fake.wrong"

    def predict(self, params):
        return self._series(params, 0.9 * params.slope * self._x(params))


class FoilIsPredictionLaw(_Line, AbstractLaw):
    """Its foil equals its (correct) prediction: the experiment cannot tell them apart."""

    name = "fake.foil_is_prediction"

    def predict(self, params):
        return self._series(params, params.slope * self._x(params))

    def foil(self, params):
        return self.predict(params)


class RaisingLaw(_Line, AbstractLaw):
    name = "fake.raising"

    def predict(self, params):
        return self._series(params, params.slope * self._x(params))

    def measure(self, params, seed, *, device="cpu", progress=lambda f: None):
        raise ZeroDivisionError("the experiment broke")


class BlockingLaw(_Line, AbstractLaw):
    """Never finishes measuring: stands in for a law in flight when a run is killed."""

    name = "fake.blocking"

    def predict(self, params):
        return self._series(params, params.slope * self._x(params))

    def measure(self, params, seed, *, device="cpu", progress=lambda f: None):
        print("STARTED fake.blocking", flush=True)
        threading.Event().wait()
        raise AssertionError("unreachable")


class SlowLaw(_Line, AbstractLaw):
    """A correct law whose measurement takes `SLOW_SECONDS`: lets two runs interleave."""

    name = "fake.slow"

    def predict(self, params):
        return self._series(params, params.slope * self._x(params))

    def measure(self, params, seed, *, device="cpu", progress=lambda f: None):
        time.sleep(SLOW_SECONDS)
        return super().measure(params, seed, device=device, progress=progress)


SLOW_SECONDS = 0.3
