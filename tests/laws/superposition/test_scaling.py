"""superposition.scaling: the decoupled decay against its definition, the margin against
the foil's gap, and one exponent for both regimes refuted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmech.ensemble.optim import FeatureNormAdam, warmup_cosine
from lmech.ensemble.optim.feature_norm import feature_norm_decay
from lmech.errors import LmechError
from lmech.laws import Curve, Series
from lmech.laws.superposition.scaling import (
    STRONG,
    WEAK,
    Scaling,
)
from lmech.run import Outcome, judge
from lmech.testing import SEED

LAW = Scaling()


def test_decay_steps_against_their_definition(generator) -> None:
    w = torch.randn(3, 4, 9, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(feature_norm_decay(w, 0.5, 0.1), w * 0.95)
    pulled = feature_norm_decay(w, -1.0, 0.1)
    for i in range(9):  # each feature column moves along itself, its norm towards 1
        col, new = w[1, :, i], pulled[1, :, i]
        r = col.norm()
        torch.testing.assert_close(new, col * (1 - 0.1 * (1 - 1 / r)))
        assert abs(new.norm() - 1) <= abs(r - 1)
    assert feature_norm_decay(w, 0.0, 0.1) is w


def test_optimiser_applies_the_decay_before_adam() -> None:
    """With zero gradients Adam does not move a parameter: only the decay acts."""
    opt = FeatureNormAdam(lr=0.1, decay={"W": -1.0, "V": 1.0},
                          schedule=warmup_cosine(1, 10))
    p = {"W": torch.full((2, 1, 3), 2.0), "V": torch.ones(2, 1, 3), "b": torch.ones(2, 3)}
    zeros = {k: torch.zeros_like(v) for k, v in p.items()}
    new, state = opt.update(zeros, opt.init(p), p)
    torch.testing.assert_close(new["W"], torch.full((2, 1, 3), 2.0 - 0.1 * 2.0 * 0.5))
    torch.testing.assert_close(new["V"], torch.full((2, 1, 3), 0.9))
    torch.testing.assert_close(new["b"], p["b"])
    assert state["step"] == 1 and opt.schedule(0) == 1.0
    assert opt.schedule(10) == pytest.approx(0.05) and opt.schedule(5) == pytest.approx(
        0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * 4 / 9)))


def _with(prediction: Series, panel: str, values) -> Series:
    return Series.from_curves(
        Curve(c.panel, c.name, c.x, values if c.panel == panel else c.y)
        for c in prediction.curves())


def test_one_exponent_for_both_regimes_is_refuted(law_run) -> None:
    """m^(−1) in the weak regime too (the foil's weak panel), the strong panel kept right.
    (At smoke the strong panel is too noisy to refute its own foil; the quick verdicts
    show its gap.)"""
    params, prediction, measurement, foil, tol = law_run(LAW, SEED)
    wrong = _with(prediction, WEAK, foil.y[foil.panel == WEAK])
    verdict = judge(wrong, measurement, foil, tol, unjudged_panels=LAW.unjudged_panels())
    assert verdict.outcome is Outcome.REFUTED, verdict


def test_margin_is_under_half_the_foil_gap() -> None:
    params = LAW.parameters("quick")
    p, f = LAW.predict(params), LAW.foil(params)
    judged = np.isin(p.panel, [STRONG, WEAK])
    tol = LAW.tolerance(params, p)[judged]
    assert np.all(tol <= 0.5 * np.abs(p.y - f.y)[judged])


def test_bad_parameters_are_named() -> None:
    with pytest.raises(LmechError, match="widths"):
        LAW.parameters("quick", {"widths": (8, 4)})
    with pytest.raises(LmechError, match="exponents"):
        LAW.parameters("quick", {"exponents": (2.0,)})
