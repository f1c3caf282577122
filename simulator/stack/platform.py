"""The test platform's access gateway: a SAML 2.0 service provider
(saml-profiles-2.0-os §4.1; saml-bindings-2.0-os §3.4 for the request, §3.5
for the response).

Endpoints (under ``/platform``):

- ``GET /platform/metadata`` — SP metadata.
- ``GET /platform/login[?idp=ENTITY_ID][&next=/platform/...]`` — 302 to the
  IdP's SSO URL with a deflated ``SAMLRequest`` (``RelayState`` = next).
  The request ID is remembered (``saml.db``) until used once.
- ``POST /platform/acs`` (``SAMLResponse``, ``RelayState``) — verifies the
  Response; on success sets the ``examday_dnp`` session cookie and 303s to
  RelayState (default ``/platform/api/me``). Every refusal is a 4xx with
  ``X-Examday-Reject: <reason>`` and a log line. Reasons: ``malformed``,
  ``status``, ``wrapped``, ``unsigned``, ``bad-signature``,
  ``untrusted-issuer``, ``wrong-issuer``, ``wrong-destination``,
  ``wrong-audience``, ``expired``, ``not-yet-valid``, ``replayed``,
  ``unknown-in-response-to``, ``reused-in-response-to``, ``unknown-user``.
- ``GET /platform/api/me`` — who the session is.

The test itself (manifest, content, answers, teacher) is in ``exam.py``.
"""

from __future__ import annotations

import logging
import time
import urllib.parse

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from . import saml, tokens
from .forms import read_form
from .saml import SamlRejected

__all__ = ["routes", "SESSION_COOKIE", "session_of", "REQUEST_TTL_S"]

log = logging.getLogger("examday.stack.platform")
SESSION_COOKIE = "examday_dnp"
REQUEST_TTL_S = 900.0  # an AuthnRequest ID is honoured for 15 min


def session_of(stack, request: Request) -> dict | None:
    """The platform session (``{"u": user id, "e": eppn, "a": affiliation}``) or None."""
    return tokens.unsign(request.cookies.get(SESSION_COOKIE), stack.secret, "dnp")


def _find_idp(trusted: dict, wanted: str):
    """A trusted IdP by entityID, or by its SSO or metadata URL (what a load script may have at hand)."""
    if wanted in trusted:
        return trusted[wanted]
    w = wanted.rstrip("/")
    for ent in trusted.values():
        if w in (ent.entity_id.rstrip("/"), ent.sso_redirect.rstrip("/"), ent.entity_id.rstrip("/") + "/metadata"):
            return ent
    return None


def routes(stack) -> list[Route]:
    cfg, state, directory = stack.config, stack.state, stack.directory
    sp_id, acs_url = stack.sp_entity_id, stack.acs_url

    async def login(request: Request) -> Response:
        idp_id = request.query_params.get("idp") or stack.idp_entity_id
        idp = _find_idp(stack.trusted_idps, idp_id)
        if idp is None or not idp.sso_redirect:
            return PlainTextResponse(f"unknown IdP {idp_id!r}", 400)
        nxt = request.query_params.get("next") or "/platform/api/me"
        if not nxt.startswith("/platform/"):
            nxt = "/platform/api/me"
        req_id, now = saml.new_id(), time.time()
        with state.tx() as c:
            c.execute("INSERT INTO sp_requests VALUES(?,?,0)", (req_id, now))
        query = saml.encode_redirect(saml.build_authn_request(req_id, sp_id, idp.sso_redirect, acs_url, now), nxt)
        sep = "&" if "?" in idp.sso_redirect else "?"
        return RedirectResponse(idp.sso_redirect + sep + query, 302)

    async def acs(request: Request) -> Response:
        form = await read_form(request)
        # inline: ~1 ms of CPU (signature check) and WAL commits without fsync; a thread hop costs more
        return _acs(form.get("SAMLResponse", ""), form.get("RelayState", ""))

    def _reject(reason: str, detail: str) -> Response:
        log.warning("ACS rejected: %s: %s", reason, detail)
        return PlainTextResponse(f"SAML response rejected: {reason}\n", 403 if reason in (
            "untrusted-issuer", "unknown-user") else 400, headers={"X-Examday-Reject": reason})

    def _acs(saml_response: str, relay_state: str) -> Response:
        if not saml_response:
            return _reject("malformed", "no SAMLResponse")
        now = time.time()
        try:
            a = saml.verify_response(saml_response, trusted_idps=stack.trusted_idps, sp_entity_id=sp_id,
                                     acs_url=acs_url, now=now, skew_s=cfg.clock_skew_s)
        except SamlRejected as err:
            return _reject(err.reason, err.detail)
        with state.tx() as c:
            if c.execute("INSERT OR IGNORE INTO seen_assertions VALUES(?,?)",
                         (a.assertion_id, a.not_on_or_after + cfg.clock_skew_s)).rowcount == 0:
                replay = True
            else:
                replay = False
                c.execute("DELETE FROM seen_assertions WHERE expires < ?", (now - 3600,))
        if replay:
            return _reject("replayed", f"assertion {a.assertion_id} already consumed")
        if not a.in_response_to:
            return _reject("unknown-in-response-to", "unsolicited response (no InResponseTo)")
        with state.tx() as c:
            used = c.execute("UPDATE sp_requests SET used=1 WHERE id=? AND used=0 AND created>?",
                             (a.in_response_to, now - REQUEST_TTL_S)).rowcount
            known = used or c.execute("SELECT 1 FROM sp_requests WHERE id=?", (a.in_response_to,)).fetchone()
        if not used:
            return _reject("reused-in-response-to" if known else "unknown-in-response-to", a.in_response_to)
        eppn = a.first("eduPersonPrincipalName")
        user = directory.user_by_name(eppn) if eppn else None
        if user is None:
            return _reject("unknown-user", f"EPPN {eppn!r} is not provisioned")
        nxt = relay_state if relay_state.startswith("/platform/") else "/platform/api/me"
        resp = RedirectResponse(nxt, 303)
        resp.set_cookie(SESSION_COOKIE, tokens.sign({"u": user.id, "e": user.user_name, "a": user.affiliation},
                                                    stack.secret, cfg.session_lifetime_s, "dnp"),
                        max_age=int(cfg.session_lifetime_s), path="/platform", httponly=True, samesite="lax")
        log.info("login %s (%s) via %s", user.user_name, user.affiliation, a.issuer)
        return resp

    async def me(request: Request) -> Response:
        s = session_of(stack, request)
        if s is None:
            return JSONResponse({"error": "not logged in", "login": "/platform/login"}, 401)
        return JSONResponse({"user": s["u"], "eppn": s["e"], "affiliation": s["a"]})

    async def metadata(request: Request) -> Response:
        return Response(saml.sp_metadata(sp_id, acs_url, stack.sp_keys.cert_b64),
                        media_type="application/samlmetadata+xml")

    return [Route("/platform/metadata", metadata), Route("/platform/login", login),
            Route("/platform/acs", acs, methods=["POST"]), Route("/platform/api/me", me)]


def login_url(base: str, idp: str = "", nxt: str = "") -> str:
    q = {k: v for k, v in (("idp", idp), ("next", nxt)) if v}
    return f"{base}/platform/login" + (f"?{urllib.parse.urlencode(q)}" if q else "")
