"""Panels that only illustrate (`Panel.illustrates`): stored and drawn, never judged."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fake_laws import PICTURE, CorrectLaw, IllustratedLaw, OnlyIllustrationLaw
from lmech.errors import LmechError
from lmech.laws import Curve, Panel, Series
from lmech.report import law_figure
from lmech.run import Outcome, Store, judge, verify
from lmech.run.combine import pooled_measurement
from lmech.testing import check_law, run_check


def _series(*curves: Curve) -> Series:
    return Series.from_curves(curves)


def test_an_unjudged_panel_wildly_off_leaves_the_verdict_alone() -> None:
    """The judged panel alone decides: the same statistics as without the picture."""
    law, plain = IllustratedLaw(), CorrectLaw()
    params = law.parameters("quick")
    args = [(x.predict(params), x.measure(params, 0), x.foil(params)) for x in (law, plain)]
    with_picture = judge(*args[0], law.tolerance(params, args[0][0]), min_units=8,
                         unjudged_panels=law.unjudged_panels())
    without = judge(*args[1], plain.tolerance(params, args[1][0]), min_units=8)
    assert with_picture.outcome is Outcome.CONFIRMED
    def stats(v):
        return {k: x for k, x in v.statistics().items() if x == x}  # NaN: not applicable
    assert stats(with_picture) == stats(without)  # n, units, agreement, foil, power
    with pytest.raises(LmechError, match="not on the prediction's points"):
        judge(*args[0], law.tolerance(params, args[0][0]))  # judged, it could not be


def test_only_unjudged_points_are_refused() -> None:
    c = Curve(PICTURE, "c", [1.0], [1.0])
    m = Curve(PICTURE, "c", [1.0], [1.0], [0.1], 10)
    with pytest.raises(LmechError, match="no point to judge"):
        judge(_series(c), _series(m), _series(c), np.array([0.1]), unjudged_panels=[PICTURE])
    with pytest.raises(LmechError, match="at least one judged panel"):
        OnlyIllustrationLaw().unjudged_panels()
    with pytest.raises(AssertionError, match="every panel illustrates"):
        run_check(OnlyIllustrationLaw(), "identity")


def test_a_law_with_an_illustration_passes_the_contract() -> None:
    check_law(IllustratedLaw())


def test_the_runner_pools_stores_and_draws_an_illustration(tmp_path) -> None:
    summary = verify([IllustratedLaw()], out=tmp_path, budget="quick", seed=[0, 1])
    store = Store(tmp_path)
    results = store.run_results(summary.run_id)
    assert set(results["verdict"]) == {"CONFIRMED"}
    assert set(results["n_points"]) == {20}  # the picture's points count nowhere
    points = store.points(summary.run_id, "fake.illustrated")
    pooled = points[(points["seed"] == -1) & (points["kind"] == "measurement")]
    cloud = pooled[pooled["curve"] == "cloud"]
    assert len(cloud) == 24  # single networks gathered from both seeds, never averaged
    assert sorted(cloud["y"]) == sorted(list(np.arange(12.0)) * 2)
    far = pooled[pooled["curve"] == "far off"]
    assert len(far) == 3 and set(far["units"]) == {2}  # means pooled as means
    panels = json.loads(results["panels"].iloc[0])
    assert panels[1]["illustrates"] == "a test picture"
    fig = law_figure("fake.illustrated", "CONFIRMED", points, panels)
    line_ax, picture_ax = fig.axes
    assert picture_ax.get_title() == f"{PICTURE} (not judged)"
    assert line_ax.get_title() == "line"
    assert picture_ax.collections, "the cloud is drawn as a scatter"
    labels = [t.get_text() for t in picture_ax.get_legend().get_texts()]
    assert "theory only" in labels and "measured ± s.e." in labels


def test_a_stored_panel_from_before_illustrations_still_loads() -> None:
    old = {"name": "p", "xlabel": "x", "ylabel": "y", "xscale": "linear",
           "yscale": "linear", "no_foil": ""}
    assert Panel(**old).judged


def test_pooling_gathers_only_clouds_on_unjudged_panels() -> None:
    def seed(y: float) -> Series:
        return _series(Curve("a", "c", [1.0, 1.0], [y, y], [0.1, 0.1], 4),
                       Curve("b", "c", [1.0, 1.0], [y, y + 1], [0.1, 0.1], 4))
    pooled = pooled_measurement([seed(0.0), seed(2.0)], ["b"])
    a = pooled.panel == "a"
    np.testing.assert_allclose(pooled.y[a], [1.0, 1.0])  # judged: averaged, as ever
    assert sorted(pooled.y[~a]) == [0.0, 1.0, 2.0, 3.0]  # the cloud: gathered
