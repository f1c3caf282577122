"""A real browser walks the SAML login against the reference stack on loopback.

Debian's headless Chromium, driven by Selenium through Debian's chromedriver
(``scripts/system-packages.sh`` installs both; Selenium Manager is never asked
to download a driver): ``GET /platform/login?idp=…`` → 302 to the IdP's login
page → the pupil types username and password and submits → the IdP's
auto-submitting ``SAMLResponse`` form (``<body onload=…submit()>``) posts
itself to the ACS → 303 to the RelayState with the ``examday_dnp`` cookie →
the browser reads ``/platform/api/me`` and the group's manifest. A wrong
password leaves the browser on the IdP's error and without a platform session.

The browser being absent is a failure, not a skip: this test is the only one
that runs the stack's HTML and JavaScript in a browser.
"""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from simulator.stack.egil_client import push_roster
from simulator.stack.process import running_stack
from simulator.stack.walk import login
from stack_helpers import PUPILS, SMOKE, TEACHER

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync")
WAIT_S = 30  # bound on each WebDriverWait (a page change), not on the test


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """A stack with SMOKE provisioned and group 9A's session opened by its teacher."""
    data = tmp_path_factory.mktemp("stack")
    with running_stack(data, mfa_delay="0.2 s", quiet=False, log_path=data / "stack.log") as urls:
        result = push_roster(SMOKE, urls.scim_url, urls.scim_token)
        assert not result.failed and result.created == len(SMOKE)
        with httpx.Client() as teacher:
            login(teacher, urls.base, TEACHER.eppn, TEACHER.password)
            r = teacher.post(f"{urls.base}/platform/api/teacher/groups/g-9a/open")
            assert r.status_code == 200 and r.json()["state"] == "open", r.text
        yield urls


@pytest.fixture
def browser(tmp_path):
    for path in (CHROMIUM, CHROMEDRIVER):
        assert Path(path).exists(), f"{path} missing: run scripts/system-packages.sh (apt: chromium chromium-driver)"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    service = Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver, condition, what: str):
    return WebDriverWait(driver, WAIT_S, poll_frequency=0.05).until(condition, message=what)


def _path(driver) -> str:
    return urllib.parse.urlsplit(driver.current_url).path


def _json_page(driver) -> dict:
    """The JSON document the browser shows (Chromium wraps it in a <pre>)."""
    try:
        text = driver.find_element(By.TAG_NAME, "pre").text
    except NoSuchElementException:
        text = driver.find_element(By.TAG_NAME, "body").text
    return json.loads(text)


def _login_page(driver, stack, nxt: str):
    """Open the platform's login with the reference IdP; wait for the IdP's login form."""
    q = urllib.parse.urlencode({"idp": stack.idp_url, "next": nxt})
    driver.get(f"{stack.platform_url}/login?{q}")
    _wait(driver, lambda d: _path(d) == "/idp/sso" and d.find_elements(By.NAME, "username"),
          f"IdP login page (at {driver.current_url})")
    assert driver.current_url.startswith(f"{stack.idp_url}/sso?SAMLRequest=")
    assert driver.title == "Logga in"


def _type_credentials(driver, username: str, password: str) -> None:
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()


def test_browser_logs_in_pupil_through_auto_submit_form(stack, browser):
    pupil = PUPILS[0]
    _login_page(browser, stack, "/platform/api/me")
    assert browser.get_cookie("examday_dnp") is None

    _type_credentials(browser, pupil.eppn, pupil.password)
    # POST /idp/login answers with the auto-submitting SAMLResponse form; only the browser running its
    # onload handler gets us to the ACS, whose 303 lands on the RelayState.
    _wait(browser, lambda d: _path(d) == "/platform/api/me", f"landing on /platform/api/me (at {browser.current_url})")
    me = _json_page(browser)
    assert me["eppn"] == pupil.eppn and me["affiliation"] == "student" and me["user"] == pupil.id

    cookie = browser.get_cookie("examday_dnp")
    assert cookie is not None and cookie["path"] == "/platform" and cookie["httpOnly"]
    assert cookie["sameSite"] == "Lax"
    acs_posts = [ln for ln in (Path(stack.data_dir) / "stack.log").read_text().splitlines()
                 if '"POST /platform/acs HTTP/1.1" 303' in ln]
    assert acs_posts, "the ACS saw no POST answered with 303"

    browser.get(f"{stack.platform_url}/api/manifest")
    manifest = _json_page(browser)
    assert (manifest["group"], manifest["activity"], manifest["test"], manifest["state"]) == (
        "g-9a", "a-1", "smoke-test", "open")
    assert [p["name"] for p in manifest["parts"]] == ["manifest", "questions", "audio"]

    # The IdP's SSO cookie now answers a second login at once: straight through the auto-submit form again.
    browser.delete_cookie("examday_dnp")
    browser.get(f"{stack.platform_url}/api/me")
    assert _json_page(browser)["error"] == "not logged in"
    browser.get(f"{stack.platform_url}/login?" + urllib.parse.urlencode(
        {"idp": stack.idp_url, "next": "/platform/api/manifest"}))
    _wait(browser, lambda d: _path(d) == "/platform/api/manifest", f"SSO re-login (at {browser.current_url})")
    assert _json_page(browser)["test"] == "smoke-test"


def test_browser_wrong_password_shows_idp_error_and_no_session(stack, browser):
    pupil = PUPILS[1]
    _login_page(browser, stack, "/platform/api/me")
    _type_credentials(browser, pupil.eppn, pupil.password + "-wrong")

    error = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "p.error[role=alert]"),
                  f"the IdP's error (at {browser.current_url})")
    assert error[0].text == "Fel användarnamn eller lösenord."
    assert _path(browser) == "/idp/login" and browser.find_elements(By.NAME, "password")
    assert not browser.find_elements(By.NAME, "SAMLResponse")
    assert browser.get_cookie("examday_idp_sso") is None

    browser.get(f"{stack.platform_url}/api/me")
    assert _json_page(browser)["error"] == "not logged in"
    assert browser.get_cookie("examday_dnp") is None
    browser.get(f"{stack.platform_url}/api/manifest")
    assert browser.get_cookie("examday_dnp") is None
    assert _json_page(browser)["error"] == "not-logged-in"
