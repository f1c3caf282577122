"""The test platform's access gateway: a SAML 2.0 service provider
(saml-profiles-2.0-os §4.1; saml-bindings-2.0-os §3.4 for the request, §3.5
for the response).

Endpoints (under ``/platform``):

- ``GET /platform/metadata`` — SP metadata.
- ``GET /platform/login[?idp=ENTITY_ID][&next=/platform/...]`` — 302 to the
  IdP's SSO URL with a deflated ``SAMLRequest`` (``RelayState`` = next).
  The request ID is bound to the browser: it goes into a signed cookie
  (``examday_sp_req``, the last 5 IDs, 15 min), nothing is stored server-side,
  so unauthenticated requests cannot grow any table. The ACS accepts an
  ``InResponseTo`` only from that browser's cookie and only once (consumed
  IDs are kept in ``saml.db`` until they expire, then purged).
- ``POST /platform/acs`` (``SAMLResponse``, ``RelayState``) — verifies the
  Response; on success sets the ``examday_dnp`` session cookie and 303s to
  RelayState (default ``/platform/api/me``). Every refusal is a 4xx with
  ``X-Examday-Reject: <reason>`` and a log line. Reasons: ``malformed``,
  ``status``, ``wrapped``, ``unsigned``, ``bad-signature``,
  ``untrusted-issuer``, ``wrong-issuer``, ``wrong-destination``,
  ``wrong-audience``, ``expired``, ``not-yet-valid``, ``replayed``,
  ``unknown-in-response-to`` (not requested from this browser: login CSRF),
  ``reused-in-response-to``, ``bad-relay-state`` (not a path under ``/platform/``
  of at most 80 bytes), ``multi-valued``, ``wrong-scope`` (EPPN scope not
  in the IdP's ``shibmd:Scope``), ``insufficient-assurance`` (staff without
  LoA 3+ from an IdP carrying the e-leg assurance attribute), ``unknown-user``.
- ``GET /platform/api/me`` — who the session is.

The test itself (manifest, content, answers, teacher) is in ``exam.py``.
"""

from __future__ import annotations

import logging
import re
import time
import urllib.parse

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from . import saml, tokens
from .limits import read_form
from .saml import SamlRejected

__all__ = ["routes", "SESSION_COOKIE", "REQUEST_COOKIE", "session_of", "REQUEST_TTL_S", "PendingRequests",
           "staff_assurance_ok", "binding_redirect"]

log = logging.getLogger("examday.stack.platform")
SESSION_COOKIE = "examday_dnp"
REQUEST_COOKIE = "examday_sp_req"
REQUEST_TTL_S = 900.0  # an AuthnRequest ID is honoured for 15 min
MAX_PENDING = 5  # outstanding logins per browser (tabs)


class PendingRequests:
    """AuthnRequest IDs bound to the browser that started the login (a signed cookie), consumed once.

    Used by the platform's SP and the gateway's SP side alike; ``purpose`` keeps their cookies apart."""

    def __init__(self, state, secret: bytes, purpose: str, cookie: str, path: str, secure: bool):
        self.state, self.secret, self.purpose, self.cookie, self.path, self.secure = \
            state, secret, purpose, cookie, path, secure
        self._inserts = 0

    def _ids(self, request: Request, now: float) -> list:
        """[[id, issued, data], …] still valid, from this browser's cookie (checked and decoded once per
        request: ``accept`` and ``forget`` both need it)."""
        memo = request.scope.setdefault("examday.pending", {})
        if (self.purpose, now) in memo:
            return memo[self.purpose, now]
        held = tokens.unsign(request.cookies.get(self.cookie), self.secret, self.purpose) or {}
        ids = held.get("ids")
        memo[self.purpose, now] = valid = [
            x for x in ids if isinstance(x, list) and len(x) == 3 and isinstance(x[1], (int, float))
            and x[1] > now - REQUEST_TTL_S][-(MAX_PENDING - 1):] if isinstance(ids, list) else []
        return valid

    def _set(self, response: Response, ids: list) -> None:
        if not ids:
            tokens.set_cookie(response, self.cookie, "", 0, self.path, secure=self.secure)
            return
        tokens.set_cookie(response, self.cookie, tokens.sign({"ids": ids}, self.secret, REQUEST_TTL_S, self.purpose),
                          int(REQUEST_TTL_S), self.path, secure=self.secure, samesite="none" if self.secure else None)

    def remember(self, request: Request, response: Response, req_id: str, now: float, data=None) -> None:
        """Bind ``req_id`` (and what the caller needs back at the ACS, ``data``) to this browser."""
        self._set(response, self._ids(request, now) + [[req_id, now, data]])

    def accept(self, request: Request, saml_response: str, trusted_idps: dict, sp_entity_id: str, acs_url: str,
               now: float, skew_s: float) -> tuple[saml.VerifiedAssertion, object]:
        """Verify a Response for this SP, check it answers a login of this browser, and burn its assertion
        ID and request ID: (assertion, the data remembered with the request); ``SamlRejected`` with the reason
        otherwise. The bookkeeping is one transaction: nothing is burnt unless all of it holds, so a login-CSRF
        attempt (someone else's genuine Response) cannot spoil the genuine login."""
        a = saml.verify_response(saml_response, trusted_idps=trusted_idps, sp_entity_id=sp_entity_id,
                                 acs_url=acs_url, now=now, skew_s=skew_s)
        if not a.in_response_to:
            raise SamlRejected("unknown-in-response-to", "unsolicited response (no InResponseTo)")
        mine = next((x for x in self._ids(request, now) if x[0] == a.in_response_to), None)
        with self.state.tx() as c:  # a SamlRejected inside rolls it all back
            if c.execute("INSERT OR IGNORE INTO seen_assertions VALUES(?,?)",
                         (a.assertion_id, a.not_on_or_after + skew_s)).rowcount == 0:
                raise SamlRejected("replayed", f"assertion {a.assertion_id} already consumed")
            if mine is None or c.execute("INSERT OR IGNORE INTO used_requests VALUES(?,?)",
                                         (a.in_response_to, now + REQUEST_TTL_S)).rowcount == 0:
                used = mine is not None or c.execute("SELECT 1 FROM used_requests WHERE id=?",
                                                     (a.in_response_to,)).fetchone()
                raise SamlRejected("reused-in-response-to" if used else "unknown-in-response-to",
                                   f"{a.in_response_to} (not an open login of this browser)")
            self._inserts += 1
            if self._inserts % 256 == 1:  # expired IDs can no longer be presented: purge them
                c.execute("DELETE FROM used_requests WHERE expires < ?", (now,))
                c.execute("DELETE FROM seen_assertions WHERE expires < ?", (now - 3600,))
        return a, mine[2]

    def forget(self, request: Request, response: Response, req_id: str, now: float) -> None:
        self._set(response, [x for x in self._ids(request, now) if x[0] != req_id])


MAX_RELAY_STATE = 80  # saml-bindings-2.0-os §3.4.3, §3.5.3: RelayState "MUST NOT exceed 80 bytes"
_NEXT = re.compile(r"/platform/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*")


def safe_next(path: str) -> bool:
    """A same-site path under ``/platform/`` for the post-login redirect: at most 80 bytes, URL characters
    only (no scheme, ``\\``, CR/LF or spaces), no empty, ``.`` or ``..`` segments (none percent-encoded) —
    the open-redirect and path tricks Shibboleth's ``relayStateLimit`` refuses."""
    if len(path) > MAX_RELAY_STATE or not _NEXT.fullmatch(path):
        return False
    segments = path.split("?", 1)[0].lower().replace("%2e", ".").replace("%2f", "/").split("/")[2:]
    return not any(seg in (".", "..") or (not seg and i < len(segments) - 1) for i, seg in enumerate(segments))


def binding_redirect(sso_url: str, query: str) -> Response:
    """302 to an IdP's SSO URL with an HTTP-Redirect binding query (``saml.encode_redirect``, already
    percent-encoded). Sent as is when it is plain printable ASCII, sparing Starlette's re-quoting of the
    whole URL (a Python loop over ~700 characters, twice per login)."""
    location = sso_url + ("&" if "?" in sso_url else "?") + query
    if location.isascii() and location.isprintable() and " " not in location:
        return Response(status_code=302, headers={"location": location})
    return RedirectResponse(location, 302)


def staff_assurance_ok(idp, authn_context: str) -> bool:
    """Staff need e-legitimation at LoA 3+ from an IdP whose metadata carries the FIDUS assurance attribute."""
    return authn_context in saml.LOA3_OR_ABOVE and idp.has_entity_attribute(saml.ASSURANCE_CERTIFICATION,
                                                                             saml.EID_ASSURANCE)


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
    pending = PendingRequests(state, stack.secret, "sp-req", REQUEST_COOKIE, "/platform",
                              cfg.url.startswith("https://"))

    async def login(request: Request) -> Response:
        idp_id = request.query_params.get("idp") or stack.idp_entity_id
        idp = _find_idp(stack.trusted_idps, idp_id)
        if idp is None or not idp.sso_redirect:
            return PlainTextResponse(f"unknown IdP {idp_id!r}", 400)
        hint: tuple[str, ...] = ()
        if cfg.gateway and idp.entity_id != stack.gateway_idp_id:  # the DNP chain: always through the gateway
            idp, hint = stack.trusted_idps[stack.gateway_idp_id], (idp.entity_id,)
        nxt = request.query_params.get("next") or "/platform/api/me"
        if not safe_next(nxt):
            return PlainTextResponse("next must be a path under /platform/ of at most 80 bytes\n", 400,
                                     headers={"X-Examday-Reject": "bad-relay-state"})
        req_id, now = saml.new_id(), time.time()
        query = saml.encode_redirect(saml.build_authn_request(req_id, sp_id, idp.sso_redirect, acs_url, now,
                                                              idp_list=hint), nxt)
        resp = binding_redirect(idp.sso_redirect, query)
        pending.remember(request, resp, req_id, now)
        return resp

    async def acs(request: Request) -> Response:
        form = await read_form(request)
        # inline: ~1 ms of CPU (signature check) and WAL commits without fsync; a thread hop costs more
        return _acs(request, form.get("SAMLResponse", ""), form.get("RelayState", ""))

    def _reject(reason: str, detail: str) -> Response:
        log.warning("ACS rejected: %s: %s", reason, detail)
        return PlainTextResponse(f"SAML response rejected: {reason}\n", 403 if reason in (
            "untrusted-issuer", "unknown-user", "wrong-scope", "insufficient-assurance") else 400,
            headers={"X-Examday-Reject": reason})

    def _acs(request: Request, saml_response: str, relay_state: str) -> Response:
        if not saml_response:
            return _reject("malformed", "no SAMLResponse")
        if relay_state and not safe_next(relay_state):  # refused before anything is consumed
            return _reject("bad-relay-state", f"RelayState {relay_state[:80]!r} is not a path under /platform/")
        now = time.time()
        try:
            a, _ = pending.accept(request, saml_response, stack.trusted_idps, sp_id, acs_url, now, cfg.clock_skew_s)
        except SamlRejected as err:
            return _reject(err.reason, err.detail)
        idp = stack.trusted_idps[a.issuer]
        eppn = a.first("eduPersonPrincipalName")
        if eppn and not stack.scope_ok(idp, eppn):
            return _reject("wrong-scope", f"EPPN {eppn!r} is outside {a.issuer}'s shibmd:Scope")
        user = directory.user_by_name(eppn) if eppn else None
        if user is None:
            return _reject("unknown-user", f"EPPN {eppn!r} is not provisioned")
        if user.affiliation == "staff" and not staff_assurance_ok(idp, a.authn_context):
            return _reject("insufficient-assurance", f"staff login with {a.authn_context!r} from {a.issuer}")
        resp = RedirectResponse(relay_state or "/platform/api/me", 303)
        pending.forget(request, resp, a.in_response_to, now)
        tokens.set_cookie(resp, SESSION_COOKIE, tokens.sign({"u": user.id, "e": user.user_name, "a": user.affiliation},
                                                            stack.secret, cfg.session_lifetime_s, "dnp"),
                          int(cfg.session_lifetime_s), "/platform", samesite="lax")
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
