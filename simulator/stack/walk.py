"""The browser's side of the login, for tests, benchmarks and load generators.

``parse_form`` reads the HTML forms the IdP sends (login page, the HTTP-POST
binding's auto-submit form; saml-bindings-2.0-os §3.5.4). ``login`` walks the
whole Web Browser SSO flow with an ``httpx.Client`` (or anything with the
same ``get``/``post(..., follow_redirects=False)`` interface and ``r.url``),
through the access gateway too (``/gateway/sso`` → IdP → ``/gateway/acs`` →
platform ACS) when the stack runs with ``--gateway``:

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
          max_polls: int = 600, poll_s: float = 0.1, max_hops: int = 8) -> dict:
    """Walk the SSO flow, through any SAML proxies (the access gateway) on the way: follows redirects and
    auto-submitting SAML forms (at most ``max_hops``), sends the credentials once, polls the second factor,
    and stops at the platform ACS's 303. Returns timings ``{"login_s", "assertion_s", "hops"}`` (login: up to
    the first SAMLResponse form; assertion: the rest). Raises ``LoginFailed``."""
    t0 = time.perf_counter()
    q = {k: v for k, v in (("next", nxt), ("idp", idp)) if v}
    url = f"{base}/platform/login" + (f"?{urllib.parse.urlencode(q)}" if q else "")
    r = client.get(url, follow_redirects=False)
    if r.status_code != 302:
        raise LoginFailed("redirect", r.status_code, r.text[:200])
    acs = f"{base}/platform/acs"
    t1, sent, hops, step = None, False, 0, "sso"
    while True:
        if r.status_code in (301, 302, 303, 307):
            if str(r.url) == acs or str(r.url).startswith(acs + "?"):
                break  # the platform's ACS accepted the assertion
            hops += 1
            if hops > max_hops:
                raise LoginFailed(step, r.status_code, f"more than {max_hops} hops")
            url = urllib.parse.urljoin(str(r.url), r.headers["location"])
            r = client.get(url, follow_redirects=False)
            continue
        polls = 0
        while r.status_code == 202 and polls < max_polls:  # second factor pending
            polls += 1
            time.sleep(poll_s)
            r = client.get(urllib.parse.urljoin(str(r.url), r.headers["location"]), follow_redirects=False)
        if r.status_code != 200:
            reason = r.headers.get("x-examday-reject", r.text[:200])
            raise LoginFailed("acs" if str(r.url).endswith("/acs") else ("password" if sent else step),
                              r.status_code, reason)
        form = parse_form(r.text)
        if form is None:
            raise LoginFailed("password" if sent else step, r.status_code, "no form")
        action = urllib.parse.urljoin(str(r.url), form.action)
        if "SAMLResponse" in form.fields or "SAMLRequest" in form.fields:
            if t1 is None and "SAMLResponse" in form.fields:
                t1 = time.perf_counter()
            hops += 1
            if hops > max_hops:
                raise LoginFailed("acs", r.status_code, f"more than {max_hops} hops")
            step = "acs"
            r = client.post(action, data=form.fields, follow_redirects=False)
            continue
        if sent:
            raise LoginFailed("password", r.status_code, "no SAMLResponse form")
        sent, step = True, "password"
        r = client.post(action, follow_redirects=False, data={**form.fields, "username": username,
                                                             "password": password})
    t1 = t1 or time.perf_counter()
    return {"login_s": t1 - t0, "assertion_s": time.perf_counter() - t1, "hops": hops}
