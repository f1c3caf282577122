"""The browser's side of the login, for tests, benchmarks and load generators.

``parse_form`` reads the HTML forms the IdP sends (login page, the HTTP-POST
binding's auto-submit form; saml-bindings-2.0-os §3.5.4). ``login`` walks the
whole Web Browser SSO flow with an ``httpx.Client`` (or anything with the
same ``get``/``post(..., follow_redirects=False)`` interface):

1. ``GET  /platform/login``            → 302 to ``/idp/sso?SAMLRequest=…``
2. ``GET  /idp/sso?…``                 → 200 login form (``ctx`` hidden field),
   or the auto-submit form at once when the SSO cookie is valid
3. ``POST /idp/login`` username, password, ctx → 200 auto-submit form
   (staff: 202 + ``Location: /idp/mfa/ID``; poll it until 200)
4. ``POST /platform/acs`` SAMLResponse, RelayState → 303 + ``examday_dnp`` cookie
"""

from __future__ import annotations

import time
import urllib.parse
from dataclasses import dataclass

__all__ = ["Form", "parse_form", "login", "LoginFailed"]


class LoginFailed(Exception):
    def __init__(self, step: str, status: int, detail: str = ""):
        self.step, self.status, self.detail = step, status, detail
        super().__init__(f"{step}: HTTP {status} {detail}".strip())


@dataclass(frozen=True, slots=True)
class Form:
    action: str
    fields: dict


def parse_form(page: str) -> Form | None:
    """The page's first form (the live engine's parser, ``simulator.live.forms``: one reading of HTML forms)."""
    from ..live.forms import first_form

    f = first_form(page.encode())
    return None if f is None else Form(f.action, dict(f.fields))


def login(client, base: str, username: str, password: str, *, nxt: str = "", idp: str = "",
          max_polls: int = 600, poll_s: float = 0.1) -> dict:
    """Walk the SSO flow; returns timings ``{"login_s", "assertion_s"}``. Raises ``LoginFailed``."""
    t0 = time.perf_counter()
    q = {k: v for k, v in (("next", nxt), ("idp", idp)) if v}
    r = client.get(f"{base}/platform/login" + (f"?{urllib.parse.urlencode(q)}" if q else ""),
                   follow_redirects=False)
    if r.status_code != 302:
        raise LoginFailed("redirect", r.status_code, r.text[:200])
    r = client.get(urllib.parse.urljoin(base, r.headers["location"]), follow_redirects=False)
    if r.status_code != 200:
        raise LoginFailed("sso", r.status_code, r.text[:200])
    form = parse_form(r.text)
    if form is not None and "SAMLResponse" not in form.fields:
        r = client.post(urllib.parse.urljoin(base, form.action), follow_redirects=False,
                        data={**form.fields, "username": username, "password": password})
        for _ in range(max_polls):
            if r.status_code != 202:
                break
            time.sleep(poll_s)
            r = client.get(urllib.parse.urljoin(base, r.headers["location"]), follow_redirects=False)
        if r.status_code != 200:
            raise LoginFailed("password", r.status_code, r.text[:200])
        form = parse_form(r.text)
    if form is None or "SAMLResponse" not in form.fields:
        raise LoginFailed("password", r.status_code, "no SAMLResponse form")
    t1 = time.perf_counter()
    r = client.post(urllib.parse.urljoin(base, form.action), data=form.fields, follow_redirects=False)
    if r.status_code != 303:
        raise LoginFailed("acs", r.status_code, r.headers.get("x-examday-reject", r.text[:200]))
    return {"login_s": t1 - t0, "assertion_s": time.perf_counter() - t1}
