"""One device's walk: its browser, one trace row per step attempt, retries, and the SAML sign-in.

``Walk.attempt`` is one try of one step (one row); ``Walk.step`` retries it
with the device profile's ``http.retry`` (exponential backoff with jitter,
at least ``Retry-After``); ``Walk.login`` / ``Walk.assertion`` are the two
sign-in steps (the bounded redirect / SAML-form chain, saml-bindings-2.0-os
§3.4 HTTP-Redirect and §3.5 HTTP-POST). Only imported inside a Locust process.
"""

from __future__ import annotations

import json
import math
import urllib.parse

import gevent

from . import forms
from .context import RunContext, StepFailed
from .http import Browser, HttpError, OffTarget, Response
from .schedule import backoff_delay

__all__ = ["Walk", "check", "retry_after", "origin", "RETRYABLE", "MAX_HOPS"]

RETRYABLE = {408, 425, 429, 500, 502, 503, 504}
MFA_POLLS = 120
MAX_HOPS = 8  # auto-submitting SAML forms in one sign-in (platform -> gateway -> IdP -> gateway -> platform: 2)


def retry_after(resp: Response) -> float | None:
    v = resp.header("retry-after")
    try:
        return float(v) if v else None
    except ValueError:
        return None


def check(resp: Response, what: str, ok=(200,)) -> Response:
    if resp.status in ok:
        return resp
    detail = ""
    if resp.body and len(resp.body) < 2000:
        reject = resp.header("x-examday-reject")
        if reject:
            detail = f": {reject}"
        else:
            try:
                detail = f": {json.loads(resp.body).get('error', '')}"
            except (ValueError, AttributeError):
                detail = ""
    raise StepFailed(f"{what}: http {resp.status}{detail.rstrip(': ')}", resp.status in RETRYABLE,
                     retry_after(resp))


class Walk:
    """One device's walk: its browser, its trace rows, its retries."""

    def __init__(self, ctx: RunContext, device, kind: str, profile=None):
        self.ctx, self.device, self.kind, self.profile = ctx, device, kind, profile
        self.retry = (profile.http.retry if profile is not None else None) or _DefaultRetry
        self.browser: Browser = ctx.browser(profile)

    def close(self) -> None:
        self.ctx.release(self.browser)

    def attempt(self, step: str, planned_s: float, fn, attempt: int = 1, started_s: float | None = None):
        """One attempt of ``step`` (one trace row): (ok, result, error, end_s).

        ``fn`` returns (result, bytes, ttfb_s, queue_s). A ``--max-rps`` wait for
        the step's first request happens before ``start_s`` (start lag, not
        service time); limiter waits of its later requests are its ``queue_s``.
        """
        ctx, b = self.ctx, self.browser
        if started_s is None:
            if ctx.limiter.interval:
                ctx.limiter.acquire()
                b.prepaid = 1
            start = ctx.clock.now()
        else:
            start = started_s
        b.limited_s = 0.0
        try:
            result, nbytes, ttfb, queue = fn()
        except gevent.GreenletExit:
            ctx.row(self.device, self.kind, step, planned_s, start, ctx.clock.now(), 0, False, "stopped",
                    math.nan, attempt)
            raise
        except Exception as err:  # noqa: BLE001 - every attempt leaves a row, whatever went wrong
            end = ctx.clock.now()
            if not isinstance(err, (StepFailed, HttpError, OffTarget, forms.PageMismatch)):
                err = StepFailed(f"internal error: {type(err).__name__}: {err}")
            ctx.row(self.device, self.kind, step, planned_s, start, end, 0, False, err.reason, math.nan, attempt)
            return False, None, err, end
        finally:
            b.prepaid = 0
        end = ctx.clock.now()
        if ctx.limiter.interval:
            queue = min(b.limited_s, end - start)  # parallel part requests wait side by side
        ctx.row(self.device, self.kind, step, planned_s, start, end, nbytes, True, "", ttfb, attempt, queue)
        return True, result, None, end

    def again(self, attempt: int, err, end: float) -> float | None:
        """Planned time of the next attempt after a failed one, or None when the walk gives up."""
        if not getattr(err, "retryable", False) or attempt >= self.retry.attempts or self.ctx.stop.is_set():
            return None
        return end + backoff_delay(attempt, self.retry, self.ctx.rng, getattr(err, "retry_after", None))

    def step(self, step: str, planned_s: float, fn, started_s: float | None = None) -> object | None:
        """Run ``fn()`` as ``step`` with the profile's retries; the result, or None when it failed."""
        planned = planned_s
        for attempt in range(1, self.retry.attempts + 1):
            if attempt > 1 and not self.ctx.clock.sleep_until(planned, self.ctx.stop):
                return None
            ok, result, err, end = self.attempt(step, planned, fn, attempt, started_s if attempt == 1 else None)
            if ok:
                return result
            planned = self.again(attempt, err, end)
            if planned is None:
                return None
        return None

    # ------------------------------------------------------------ SAML
    def login(self) -> tuple:
        """``login`` step body: platform -> (gateways ->) IdP -> credentials -> SAMLResponse form for the platform.

        A bounded chain: redirects (the browser's, each egress-checked), up to
        ``MAX_HOPS`` auto-submitting SAML forms (``SAMLRequest`` or a
        ``SAMLResponse`` for an intermediate SP such as the access gateway),
        the second-factor page polled, the credentials POSTed once and only to
        the IdP target's origin. It ends at the ``SAMLResponse`` form whose
        action is under ``targets.platform`` (the ``assertion`` step posts it).
        """
        t = self.ctx.targets
        lf = t["login_form"]
        b = self.browser
        platform = t["platform"].rstrip("/") + "/"
        start = platform + "login?" + urllib.parse.urlencode({"idp": t["idp"]})
        resp = b.request("GET", start, name="login: platform")
        nbytes, hops, polls, sent = resp.nbytes, 0, 0, False
        while True:
            if resp.status in (400, 401, 403):
                try:
                    err = forms.page_error(forms.parse(resp.body)) or f"http {resp.status}"
                except forms.PageMismatch:
                    err = f"http {resp.status}"
                raise StepFailed(f"login rejected: {err}")
            if resp.status not in (200, 202):
                check(resp, "login")
            doc = forms.parse(resp.body)
            saml = forms.saml_form(doc, resp.url)
            if saml is not None:
                if saml.value("SAMLResponse") is not None and saml.action.startswith(platform):
                    return saml, nbytes, math.nan, math.nan
                hops += 1
                if hops > MAX_HOPS:
                    raise StepFailed(f"login: more than {MAX_HOPS} SAML hops")
                resp = b.request(saml.method or "POST", saml.action, saml.encoded(),
                                 {"Content-Type": "application/x-www-form-urlencoded", "Origin": origin(resp.url)},
                                 name="login: saml hop")
                nbytes += resp.nbytes
                continue
            refresh = forms.meta_refresh(doc, resp.url)
            if refresh and polls < MFA_POLLS:  # second factor pending (Freja eID+ stand-in)
                polls += 1
                gevent.sleep(retry_after(resp) or 1.0)
                resp = b.request("GET", refresh, name="login: second factor")
                nbytes += resp.nbytes
                continue
            if sent:
                raise StepFailed(f"login rejected: {forms.page_error(doc) or 'no SAMLResponse form after sign-in'}")
            form = forms.login_form(resp.body, resp.url, lf["form"], lf["username"], lf["password"], doc=doc)
            b.egress.endpoint(form.action)  # off-target first: nothing is contacted
            if not b.egress.credentials_ok(form.action):
                raise StepFailed(f"login: refusing to send credentials to {origin(form.action)}, "
                                 "not the IdP target's origin")
            form.set(lf["username"], self.device.eppn)
            form.set(lf["password"], self.device.password)
            resp = b.request(form.method, form.action, form.encoded(),
                             {"Content-Type": "application/x-www-form-urlencoded", "Origin": origin(resp.url),
                              "Referer": resp.url}, name="login: credentials")
            nbytes += resp.nbytes
            sent = True

    def assertion(self, form: forms.Form) -> tuple:
        """``assertion`` step body: POST the SAMLResponse to the ACS, hold a session."""
        resp = self.browser.request(form.method or "POST", form.action, form.encoded(),
                                    {"Content-Type": "application/x-www-form-urlencoded"}, name="assertion: acs")
        check(resp, "assertion")
        return True, resp.nbytes, math.nan, math.nan


class _DefaultRetry:
    attempts, backoff, max_backoff, jitter = 3, 1.0, 30.0, 0.5


def origin(url: str) -> str:
    p = urllib.parse.urlsplit(url)
    return f"{p.scheme}://{p.netloc}"
