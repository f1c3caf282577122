"""report.html renders in a real browser: Debian's headless Chromium loads it from disk with no console
errors, and every embedded plot decodes (naturalWidth > 0). The browser being absent is a failure, not a skip."""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from simulator.report import write_report

import synth

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    for path in (CHROMIUM, CHROMEDRIVER):
        assert Path(path).exists(), f"{path} missing: run scripts/system-packages.sh (apt: chromium chromium-driver)"
    tmp = tmp_path_factory.mktemp("chromium")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp / 'profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER, log_output=str(tmp / "driver.log")),
                              options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _render(driver, html: Path) -> dict:
    driver.get(html.resolve().as_uri())
    driver.get_log("browser")  # drain anything from before this page
    driver.refresh()
    state = driver.execute_script("""
        const imgs = Array.from(document.images);
        return {ready: document.readyState, title: document.title,
                images: imgs.map(i => ({alt: i.alt, complete: i.complete, w: i.naturalWidth, h: i.naturalHeight})),
                h1: document.querySelector('h1') && document.querySelector('h1').textContent,
                first: document.body.children[1] && document.body.children[1].className};""")
    state["console"] = [e for e in driver.get_log("browser") if e.get("level") in ("SEVERE", "WARNING")]
    return state


def _check(state: dict, plots: int) -> None:
    assert state["ready"] == "complete" and state["title"].startswith("examday report")
    assert state["console"] == [], state["console"]
    assert len(state["images"]) == plots > 0
    for img in state["images"]:
        assert img["complete"] and img["w"] > 0 and img["h"] > 0, img


def test_city_report_renders(browser, starved_run):
    plots = len(list((starved_run / "plots").glob("*.png")))
    _check(_render(browser, starved_run / "report.html"), plots)


def test_incomplete_school_report_renders(browser, tmp_path):
    run = synth.school(tmp_path / "capped", 40, engine="live", status="capped",
                       planned={"devices": 60, "pupils": 60, "rooms": {"ak9/9A": 20, "ak9/9B": 20, "ak9/9C": 20}})
    res = write_report(run)
    state = _render(browser, res.html_path)
    _check(state, len(res.plot_paths))
    assert state["first"] == "incomplete"  # the reason it is not a pass comes first


def test_the_check_catches_a_broken_image(browser, tmp_path):
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><head><title>examday report: x</title></head><body><h1>x</h1>"
                    "<img alt='bad' src='data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB'></body></html>")
    state = _render(browser, page)
    assert state["images"][0]["w"] == 0
    with pytest.raises(AssertionError):
        _check(state, 1)
