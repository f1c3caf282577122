"""A third-party SAML IdP for tests: pysaml2 (xmlsec1) behind a login page laid out
unlike the reference IdP's (Keycloak-style ids and field names). Run:
``python pysaml2_idp.py --port P --dir D --users users.json --sp-metadata URL``.
It writes its metadata to ``D/idp-metadata.xml`` at start; the SP metadata is
fetched on the first login (the SP starts after the IdP, trusting its metadata)."""

from __future__ import annotations

import argparse
import html
import json
import secrets
import shutil
import sys
import urllib.parse
import urllib.request
from pathlib import Path

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_TRANSIENT
from saml2.server import Server
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

LOGIN = """<!DOCTYPE html><html><head><title>Sign in to Test Federation</title></head><body>
<div id="kc-content"><form id="kc-form-login" action="/idp/login-actions/authenticate?session_code={code}"
 method="post"><label for="j_username">Username</label><input id="j_username" name="j_username" type="text">
<label for="j_password">Password</label><input id="j_password" name="j_password" type="password">
<input type="hidden" name="AuthState" value="{state}"><input type="checkbox" name="rememberMe">
<input type="submit" name="login" id="kc-login" value="Sign In"></form>{error}</div></body></html>"""


PASSWORD = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
LOA3 = "http://id.elegnamnden.se/loa/1.0/loa3"  # Freja eID+ (staff)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--users", required=True)
    p.add_argument("--sp-metadata", required=True)
    a = p.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from simulator.stack.keys import load_or_create

    base = f"http://127.0.0.1:{a.port}"
    entity_id, sso = f"{base}/idp", f"{base}/idp/SSO/Redirect"
    d = Path(a.dir)
    kp = load_or_create(d / "keys", "idp", entity_id)
    users = json.loads(Path(a.users).read_text())
    conf = {"entityid": entity_id, "xmlsec_binary": shutil.which("xmlsec1"), "key_file": str(kp.key_path),
            "cert_file": str(kp.cert_path),
            # like a school IdP in Skolfederation: its EPPN scope and the e-leg assurance (staff sign in at LoA 3)
            "assurance_certification": ["https://fidus.skolverket.se/authentication/e-leg"],
            "service": {"idp": {"endpoints": {"single_sign_on_service": [(sso, BINDING_HTTP_REDIRECT)]},
                                "scope": sorted({u.split("@", 1)[1] for u in users if "@" in u}),
                                "name_id_format": [NAMEID_FORMAT_TRANSIENT],
                                "policy": {"default": {"lifetime": {"minutes": 5}, "name_form": NAME_FORMAT_URI,
                                                       "attribute_restrictions": None}}}}}
    (d / "idp-metadata.xml").write_text(str(entity_descriptor(IdPConfig().load(dict(conf)))))
    pending: dict[str, tuple[str, str]] = {}
    server: list[Server] = []

    def idp() -> Server:
        if not server:
            sp_md = d / "sp-metadata.xml"
            with urllib.request.urlopen(a.sp_metadata, timeout=10) as r:
                sp_md.write_bytes(r.read())
            server.append(Server(config=IdPConfig().load({**conf, "metadata": {"local": [str(sp_md)]}})))
        return server[0]

    def page(state: str, error: str = "", status: int = 200) -> HTMLResponse:
        err = f'<div class="alert-error">{html.escape(error)}</div>' if error else ""
        return HTMLResponse(LOGIN.format(code=secrets.token_hex(4), state=state, error=err), status)

    def sso_redirect(request: Request) -> Response:
        q = request.query_params
        state = secrets.token_urlsafe(12)
        pending[state] = (q["SAMLRequest"], q.get("RelayState", ""))
        return page(state)

    async def authenticate(request: Request) -> Response:
        form = dict(urllib.parse.parse_qsl((await request.body()).decode()))
        state = form.get("AuthState", "")
        if state not in pending:
            return HTMLResponse("<p>unknown state</p>", 400)
        user = users.get(form.get("j_username", ""))
        if user is None or user["password"] != form.get("j_password"):
            return page(state, "Invalid username or password.", 401)
        saml_request, relay = pending.pop(state)
        srv = idp()
        req = srv.parse_authn_request(saml_request, BINDING_HTTP_REDIRECT)
        resp = srv.create_authn_response(
            identity={"eduPersonPrincipalName": [form["j_username"]], "eduPersonAffiliation": [user["affiliation"]]},
            in_response_to=req.message.id, destination=req.message.assertion_consumer_service_url,
            sp_entity_id=req.message.issuer.text, userid=form["j_username"], name_id_policy=req.message.name_id_policy,
            authn={"class_ref": LOA3 if user["affiliation"] in ("staff", "employee", "faculty") else PASSWORD},
            sign_assertion=True, sign_response=False, sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256)
        http_args = srv.apply_binding(BINDING_HTTP_POST, str(resp), req.message.assertion_consumer_service_url,
                                      relay, response=True)
        return HTMLResponse(http_args["data"])

    async def health(request: Request) -> Response:
        return Response("ok")

    app = Starlette(routes=[Route("/idp/SSO/Redirect", sso_redirect), Route("/health", health),
                            Route("/idp/login-actions/authenticate", authenticate, methods=["POST"])])
    import uvicorn
    uvicorn.run(app, host="127.0.0.1", port=a.port, log_level="warning", lifespan="off")


if __name__ == "__main__":
    main()
