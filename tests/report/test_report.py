"""The report: one figure per law and a self-contained page with the verdict statistics."""

from __future__ import annotations

import re

from fake_laws import CorrectLaw, RaisingLaw, WrongLaw
from lmech.report import law_figure, render_report
from lmech.run import Store, verify


def test_report_has_every_law_its_statistics_and_figures(tmp_path) -> None:
    verify([CorrectLaw(), WrongLaw(), RaisingLaw()], out=tmp_path, budget="smoke")
    page = render_report(tmp_path).read_text()
    for law, verdict in (("fake.correct", "CONFIRMED"), ("fake.wrong", "REFUTED"),
                         ("fake.raising", "ERROR")):
        assert re.search(rf'id="{law.replace(".", "-")}".*?{verdict}', page, re.S)
    assert page.count("data:image/png;base64,") == 2  # no figure for the ERROR law
    assert "ZeroDivisionError" in page and "y grows as slope·x" in page
    assert "band reach" in page and "Bonferroni" in page and "detectable" in page
    assert (tmp_path / "fake-correct.png").stat().st_size > 1000
    assert "http://" not in page and "https://" not in page  # self-contained


def test_figure_draws_prediction_measurement_and_foil(tmp_path) -> None:
    summary = verify([CorrectLaw()], out=tmp_path, budget="smoke")
    points = Store(tmp_path).points(summary.run_id, "fake.correct")
    fig = law_figure("fake.correct", "CONFIRMED", points,
                     [{"name": "line", "xlabel": "x", "ylabel": "y"}])
    ax = fig.axes[0]
    styles = {line.get_linestyle() for line in ax.get_lines()}
    assert "-" in styles and "--" in styles  # theory solid, foil dashed
    assert ax.containers, "measurement drawn with error bars"
    assert "CONFIRMED" in fig._suptitle.get_text()
