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


PICTURE = "picture"


class IllustratedLaw(_Line, AbstractLaw):
    """The correct line, plus a panel that only illustrates and is wildly off: a measured
    curve far from its theory, a theory-only curve, a cloud of single networks, and a
    foil that equals the prediction. None of it may move the verdict."""

    name = "fake.illustrated"
    panels = (Panel("line", "x", "y"),
              Panel(PICTURE, "x", "y", xscale="log", illustrates="a test picture"))

    def _picture(self, kind, params):
        x = np.array([1.0, 10.0, 100.0])
        if kind == "measurement":
            return [Curve(PICTURE, "far off", x, 1e3 * x, 0.1 * x, 1),
                    Curve(PICTURE, "cloud", np.repeat(x, 4), np.arange(12.0), None, 1)]
        return [Curve(PICTURE, "far off", x, x),  # prediction and foil alike
                Curve(PICTURE, "theory only", x[:2], [5.0, 6.0])]

    def _with_picture(self, kind, params, series):
        return Series.from_curves([*series.curves(), *self._picture(kind, params)])

    def predict(self, params):
        return self._with_picture("prediction", params,
                                  self._series(params, params.slope * self._x(params)))

    def measure(self, params, seed, *, device="cpu", progress=lambda f: None):
        return self._with_picture("measurement", params,
                                  super().measure(params, seed, device=device,
                                                  progress=progress))

    def foil(self, params):
        return self._with_picture("foil", params, super().foil(params))

    def tolerance(self, params, prediction):
        return np.where(prediction.panel == PICTURE, 0.0, TOLERANCE)


class OnlyIllustrationLaw(_Line, AbstractLaw):
    """Its one panel only illustrates: it has nothing to judge and is refused."""

    name = "fake.only_illustration"
    panels = (Panel("line", "x", "y", illustrates="a line"),)

    def predict(self, params):
        return self._series(params, params.slope * self._x(params))


class AnnounceFinished:
    """A `verify` observer that prints ``FINISHED <law>`` as each law finishes (for tests
    that watch a run from outside its process)."""

    def law_started(self, law):
        pass

    def law_progress(self, law, fraction):
        pass

    def law_finished(self, law, result):
        print("FINISHED", law.name, flush=True)
