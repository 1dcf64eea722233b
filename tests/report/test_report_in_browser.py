"""report.html in a real browser: every figure loads and the page logs no error.

Skipped where no headless Chromium and chromedriver are installed (Debian: apt-get install
chromium chromium-driver; `.ci/run` installs them) or selenium is missing.
"""

from __future__ import annotations

import shutil

import pytest

from fake_laws import CorrectLaw, RaisingLaw, WrongLaw
from lmech.laws import Kind
from lmech.report import render_report
from lmech.run import verify

webdriver = pytest.importorskip("selenium.webdriver")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="headless Chromium with chromedriver not installed")


class Identity(CorrectLaw):
    name = "fake.identity_in_browser"
    kind = Kind.IDENTITY


@pytest.fixture
def browser():
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


@pytest.mark.slow  # a browser start (~15 s); run by .ci/run with -m slow
def test_every_figure_loads_and_nothing_is_logged(tmp_path, browser) -> None:
    verify([CorrectLaw(), WrongLaw(), RaisingLaw(), Identity()], out=tmp_path,
           budget="smoke", seed=(0, 1))
    page = render_report(tmp_path)
    browser.get(page.as_uri())
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])")
    assert sorted(alt for alt, *_ in images) == sorted(
        ["fake.correct", "fake.wrong", "fake.identity_in_browser"])
    assert all(complete and width > 100 for _, complete, width in images), images
    sections = browser.execute_script("return document.querySelectorAll('section').length")
    assert sections == 4
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert not errors, errors
    assert browser.execute_script(
        "return performance.getEntriesByType('resource').filter("
        "e => !e.name.startsWith('data:')).length") == 0  # one self-contained file
