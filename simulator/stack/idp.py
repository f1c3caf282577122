"""The IdP broker: SAML 2.0 Web Browser SSO identity provider (saml-profiles-2.0-os §4.1).

Endpoints (under ``/idp``):

- ``GET /idp/metadata`` — IdP metadata (saml-metadata-2.0-os).
- ``GET /idp/sso?SAMLRequest=…&RelayState=…[&SigAlg=…&Signature=…]`` —
  HTTP-Redirect binding. With a valid SSO cookie the answer is the
  auto-submitting Response form at once; otherwise a login page.
- ``POST /idp/login`` (``username``, ``password``, ``ctx``) — checks the
  argon2id hash; pupils get the Response form, staff a Freja eID+ stand-in
  approval page.
- ``GET /idp/mfa/{id}`` — polls the second factor: 202 + refresh page while
  pending, then the Response form. ``GET /idp/mfa/{id}/status`` — JSON.

Only SPs whose metadata the IdP trusts get assertions, and only at an ACS URL
listed in that metadata.
"""

from __future__ import annotations

import hashlib
import html
import hmac
import logging
import secrets
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from . import saml, tokens
from .limits import read_form
from .saml import AuthnRequestInfo, SamlRejected

__all__ = ["routes", "LOA3"]

log = logging.getLogger("examday.stack.idp")
LOA3 = "http://id.elegnamnden.se/loa/1.0/loa3"
PASSWORD = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
SSO_COOKIE = "examday_idp_sso"
#: A random value per browser, also inside every login context (``ctx``) the IdP hands out: a credentials POST
#: carrying another browser's ctx is refused, so an attacker's cross-site form cannot log a victim's browser into
#: the attacker's IdP session (login CSRF / session fixation at the IdP; Shibboleth binds its login flow to a
#: conversation cookie the same way).
FLOW_COOKIE = "examday_idp_flow"


def _page(title: str, body: str, status: int = 200, refresh: str = "") -> HTMLResponse:
    meta = f'<meta http-equiv="refresh" content="{refresh}">' if refresh else ""
    return HTMLResponse(f'<!DOCTYPE html><html><head><meta charset="utf-8">{meta}<title>{title}</title></head>'
                        f"<body><h1>{title}</h1>{body}</body></html>", status_code=status)


def _login_form(ctx: str, error: str = "", status: int = 200) -> HTMLResponse:
    err = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return _page("Logga in", f'{err}<form method="post" action="/idp/login">'
                 f'<label>Användarnamn <input name="username" autocomplete="username"></label>'
                 f'<label>Lösenord <input name="password" type="password" autocomplete="current-password"></label>'
                 f'<input type="hidden" name="ctx" value="{ctx}"><button type="submit">Logga in</button></form>',
                 status)


def routes(stack) -> list[Route]:
    cfg, keys, directory, state = stack.config, stack.idp_keys, stack.directory, stack.state
    secret = stack.secret
    entity_id = stack.idp_entity_id
    hasher = PasswordHasher(time_cost=cfg.hasher_cost.time_cost, memory_cost=cfg.hasher_cost.memory_cost,
                            parallelism=cfg.hasher_cost.parallelism)
    dummy = hasher.hash("dummy")  # unknown users cost a full verify too (no user-enumeration by timing)

    def respond(info: dict, user) -> HTMLResponse:
        """Sign a Response for ``user`` to the request in ``info`` and set the SSO cookie."""
        sp = stack.trusted_sps.get(info["issuer"])
        if sp is None:  # trust withdrawn between request and login
            return _page("Okänd tjänst", "<p>The service is not trusted.</p>", 403)
        fmt = info.get("fmt") or saml.NAMEID_TRANSIENT
        if fmt == saml.NAMEID_PERSISTENT:
            name_id = hmac.new(secret, f"{info['issuer']}|{user.id}".encode(), hashlib.sha256).hexdigest()[:40]
        else:
            fmt, name_id = saml.NAMEID_TRANSIENT, "_" + secrets.token_hex(16)
        now = time.time()
        xml = saml.build_response(
            issuer=entity_id, destination=info["acs"], audience=info["issuer"], in_response_to=info["id"],
            name_id=name_id, name_id_format=fmt, key=keys.key, cert_pem=keys.cert_pem, now=now,
            lifetime_s=cfg.assertion_lifetime_s, authn_context=LOA3 if user.affiliation == "staff" else PASSWORD,
            attributes={"eduPersonPrincipalName": [user.user_name], "eduPersonAffiliation": [user.affiliation],
                        "sisSchoolUnitCode": [user.school_unit_code] if user.school_unit_code else []})
        resp = HTMLResponse(saml.post_form(info["acs"], xml, info.get("rs", "")))
        tokens.set_cookie(resp, SSO_COOKIE, tokens.sign({"u": user.user_name}, secret, cfg.session_lifetime_s,
                                                        "idp-sso"), int(cfg.session_lifetime_s), "/idp", samesite="lax")
        return resp

    async def sso(request: Request) -> Response:
        try:
            req: AuthnRequestInfo = saml.decode_redirect(request.url.query, stack.trusted_sps)
        except SamlRejected as err:
            log.warning("AuthnRequest rejected: %s", err)
            return _page("Felaktig begäran", f"<p>{html.escape(err.reason)}</p>", 403 if "untrusted" in err.reason
                         else 400)
        if req.destination and req.destination != stack.idp_sso_url:
            log.warning("AuthnRequest rejected: wrong-destination %s", req.destination)
            return _page("Felaktig begäran", "<p>wrong-destination</p>", 400)
        info = {"id": req.id, "issuer": req.issuer, "acs": req.acs_url, "rs": req.relay_state,
                "fmt": req.name_id_format}
        sso_session = tokens.unsign(request.cookies.get(SSO_COOKIE), secret, "idp-sso")
        if sso_session and not req.force_authn:  # ForceAuthn (saml-core §3.4.1): ask for the password again
            user = directory.user_by_name(sso_session["u"])
            if user is not None:
                return respond(info, user)
        flow = request.cookies.get(FLOW_COOKIE, "")
        if not (16 <= len(flow) <= 64 and flow.replace("-", "").replace("_", "").isalnum()):
            flow = secrets.token_urlsafe(16)
        resp = _login_form(tokens.sign({**info, "b": flow}, secret, 1800, "idp-ctx"))
        tokens.set_cookie(resp, FLOW_COOKIE, flow, 1800, "/idp", samesite="lax")
        return resp

    inline_hash = cfg.hash_cost == "cheap"  # ~40 µs: cheaper than a thread hop; costly hashes go to threads

    def _verify(user, password: str) -> bool:
        try:
            hasher.verify(user.password_hash if user and user.password_hash else dummy, password)
            return user is not None and bool(user.password_hash)
        except (VerificationError, InvalidHashError):
            return False

    async def login(request: Request) -> Response:
        form = await read_form(request)
        info = tokens.unsign(form.get("ctx"), secret, "idp-ctx")
        if info is None:
            return _page("Sessionen har gått ut", "<p>Start the login again from the service.</p>", 400)
        if not hmac.compare_digest(str(info.get("b", "")).encode(), request.cookies.get(FLOW_COOKIE, "").encode()) \
                or not info.get("b"):
            log.warning("login refused: the login context belongs to another browser")
            return _page("Sessionen har gått ut", "<p>unbound-login: start the login again from the service.</p>",
                         400)
        username, password = str(form.get("username", "")), str(form.get("password", ""))
        user = directory.user_by_name(username)
        ok = _verify(user, password) if inline_hash else await stack.hash_call(_verify, user, password)
        if not ok:
            log.info("login failed for %r", username)
            return _login_form(form.get("ctx"), "Fel användarnamn eller lösenord.", 401)
        if hasher.check_needs_rehash(user.password_hash):  # stack restarted with another cost
            new_hash = await stack.hash_call(hasher.hash, password)
            await run_in_threadpool(directory.set_password_hash, user.id, new_hash)
        if user.affiliation == "staff":
            mfa_id = secrets.token_urlsafe(16)
            with state.tx() as c:  # unused approvals expire with the login context (30 min): purge them
                c.execute("DELETE FROM mfa WHERE approve_at < ?", (time.time() - 1800,))
                c.execute("INSERT INTO mfa VALUES(?,?,?,?)", (mfa_id, user.user_name, time.time() + cfg.mfa_delay_s,
                                                              tokens.sign(info, secret, 1800, "idp-ctx")))
            return _mfa_pending(mfa_id)
        return respond(info, user)

    def _mfa_pending(mfa_id: str) -> Response:
        resp = _page("Legitimera dig med Freja eID+", f'<p>Öppna Freja eID+ och godkänn inloggningen.</p>'
                     f'<p><a href="/idp/mfa/{mfa_id}">Fortsätt</a></p>', 202, refresh=f"1;url=/idp/mfa/{mfa_id}")
        resp.headers["Retry-After"] = "1"
        resp.headers["Location"] = f"/idp/mfa/{mfa_id}"
        return resp

    def _mfa_row(mfa_id: str):
        rows = state.query("SELECT user_name, approve_at, ctx FROM mfa WHERE id=?", (mfa_id,))
        return rows[0] if rows else None

    async def mfa(request: Request) -> Response:
        mfa_id = request.path_params["mfa_id"]
        row = _mfa_row(mfa_id)
        if row is None:
            return _page("Okänd inloggning", "<p>Unknown or already used approval.</p>", 404)
        if time.time() < row["approve_at"]:
            return _mfa_pending(mfa_id)
        with state.tx() as c:  # one-time: a second poll cannot mint a second assertion
            if c.execute("DELETE FROM mfa WHERE id=?", (mfa_id,)).rowcount != 1:
                return _page("Okänd inloggning", "<p>Already used.</p>", 404)
        info, user = tokens.unsign(row["ctx"], secret, "idp-ctx"), directory.user_by_name(row["user_name"])
        if info is None or user is None:
            return _page("Sessionen har gått ut", "<p>Start again.</p>", 400)
        return respond(info, user)

    async def mfa_status(request: Request) -> Response:
        row = _mfa_row(request.path_params["mfa_id"])
        if row is None:
            return JSONResponse({"status": "unknown"}, 404)
        pending = time.time() < row["approve_at"]
        return JSONResponse({"status": "pending" if pending else "approved"}, 202 if pending else 200,
                            headers={"Retry-After": "1"} if pending else None)

    async def metadata(request: Request) -> Response:
        return Response(stack.idp_metadata(), media_type="application/samlmetadata+xml")

    return [Route("/idp/metadata", metadata), Route("/idp/sso", sso), Route("/idp/login", login, methods=["POST"]),
            Route("/idp/mfa/{mfa_id}", mfa), Route("/idp/mfa/{mfa_id}/status", mfa_status)]
