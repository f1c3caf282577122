"""The access gateway role: a SAML 2.0 proxy between the test platform and the
school IdPs, as the DNP chain has it ("Provtjänstens åtkomstgateway", run by
SUNET/eduID; skolverket/dnp-access-management): an SP towards the school IdPs
and an IdP towards the platform (saml-core-2.0-os §3.4.1.5 proxying).

Endpoints (under ``/gateway``, only with ``examday stack --gateway``):

- ``GET /gateway/sp/metadata`` — the SP side (entityID
  ``https://skolverket.eduid.se/dnp/sp/`` by default, unsigned AuthnRequests,
  ACS ``/gateway/acs``): give this to a school's staging IdP.
- ``GET /gateway/idp/metadata`` — the IdP side (entityID ``BASE/gateway/idp``,
  SSO ``/gateway/sso``), which the platform trusts.
- ``GET /gateway/sso?SAMLRequest=…`` — an AuthnRequest from a trusted SP; the
  school IdP is the one named in ``Scoping/IDPList`` (if trusted), else the
  reference IdP. 302 to it with a fresh, unsigned AuthnRequest carrying
  ``ForceAuthn="true"``; the downstream request is bound to the browser (signed
  cookie ``examday_gw_req``, as the platform does).
- ``POST /gateway/acs`` — the school IdP's Response, verified like the
  platform's ACS (signature, audience = the gateway SP, replay, the browser
  binding). As the real gateway, an EPPN outside the IdP's ``shibmd:Scope`` is
  dropped (the platform then refuses the login as ``unknown-user``), and an
  e-leg AuthnContextClassRef passes on only from an IdP whose metadata carries
  the assurance attribute. Answers with a new assertion, signed by the
  gateway, to the downstream SP's ACS (auto-submitting form).
"""

from __future__ import annotations

import logging
import time

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from . import saml
from .limits import read_form
from .platform import PendingRequests, binding_redirect, staff_assurance_ok

__all__ = ["routes", "GATEWAY_SP_ENTITY_ID", "REQUEST_COOKIE"]

log = logging.getLogger("examday.stack.gateway")
GATEWAY_SP_ENTITY_ID = "https://skolverket.eduid.se/dnp/sp/"
REQUEST_COOKIE = "examday_gw_req"
PASSWORD = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
_FRIENDLY = {oid: name for name, oid in saml.ATTR.items()}


def _refuse(reason: str, detail: str, status: int = 400) -> Response:
    log.warning("gateway refused: %s: %s", reason, detail)
    return PlainTextResponse(f"gateway: {reason}\n", status, headers={"X-Examday-Reject": reason})


def routes(stack) -> list[Route]:
    if not stack.config.gateway:
        return []
    cfg, keys = stack.config, stack.gateway_keys
    sp_id, acs_url = stack.gateway_sp_id, stack.gateway_acs_url
    idp_id, sso_url = stack.gateway_idp_id, stack.gateway_sso_url
    pending = PendingRequests(stack.state, stack.secret, "gw-req", REQUEST_COOKIE, "/gateway",
                              cfg.url.startswith("https://"))

    async def sso(request: Request) -> Response:
        """IdP side: take the platform's AuthnRequest, ask the school IdP with ForceAuthn."""
        try:
            req = saml.decode_redirect(request.url.query, stack.trusted_sps)
        except saml.SamlRejected as err:
            return _refuse(err.reason, err.detail, 403 if "untrusted" in err.reason else 400)
        if req.destination and req.destination != sso_url:
            return _refuse("wrong-destination", req.destination)
        upstream = next((stack.trusted_idps[p] for p in req.idp_list
                         if p in stack.trusted_idps and p != idp_id), None) or stack.trusted_idps[stack.idp_entity_id]
        if not upstream.sso_redirect:
            return _refuse("unknown-idp", f"{upstream.entity_id} has no HTTP-Redirect SSO endpoint")
        up_id, now = saml.new_id(), time.time()
        xml = saml.build_authn_request(up_id, sp_id, upstream.sso_redirect, acs_url, now, force_authn=True)
        query = saml.encode_redirect(xml)  # the DNP gateway does not sign its AuthnRequests
        resp = binding_redirect(upstream.sso_redirect, query)
        pending.remember(request, resp, up_id, now, {"id": req.id, "sp": req.issuer, "acs": req.acs_url,
                                                      "rs": req.relay_state, "idp": upstream.entity_id})
        return resp

    async def acs(request: Request) -> Response:
        """SP side: verify the school IdP's Response, then answer the platform as the gateway IdP."""
        form = await read_form(request)
        if not form.get("SAMLResponse"):
            return _refuse("malformed", "no SAMLResponse")
        now = time.time()
        upstream_idps = {k: v for k, v in stack.trusted_idps.items() if k != idp_id}  # never its own assertions
        try:
            a, down = pending.accept(request, form["SAMLResponse"], upstream_idps, sp_id, acs_url, now,
                                     cfg.clock_skew_s)
        except saml.SamlRejected as err:
            return _refuse(err.reason, err.detail, 403 if err.reason == "untrusted-issuer" else 400)
        if not isinstance(down, dict) or down.get("idp") != a.issuer:
            return _refuse("wrong-issuer", f"asked {down.get('idp') if isinstance(down, dict) else '?'}, "
                                           f"answered by {a.issuer}")
        sp = stack.trusted_sps.get(down["sp"])
        if sp is None or down["acs"] not in sp.acs_post:
            return _refuse("untrusted-sp", f"{down['sp']} is no longer trusted", 403)
        upstream = stack.trusted_idps[a.issuer]
        attributes = {k: list(v) for k, v in a.attributes.items() if k}
        eppn_oid = saml.ATTR["eduPersonPrincipalName"]
        outside = [e for e in attributes.get(eppn_oid, []) if not stack.scope_ok(upstream, e)]
        if outside:
            log.warning("gateway dropped EPPN %r: outside %s's shibmd:Scope", outside[0], a.issuer)
            del attributes[eppn_oid]
        context = a.authn_context or PASSWORD
        if context in saml.LOA3_OR_ABOVE and not staff_assurance_ok(upstream, context):
            log.warning("gateway: %s asserted %s without the e-leg assurance attribute", a.issuer, context)
            context = PASSWORD
        xml = saml.build_response(
            issuer=idp_id, destination=down["acs"], audience=down["sp"], in_response_to=down["id"],
            name_id=saml.new_id(), name_id_format=saml.NAMEID_TRANSIENT, key=keys.key, cert_pem=keys.cert_pem,
            now=now, lifetime_s=cfg.assertion_lifetime_s, authn_context=context, attributes=attributes,
            friendly_names={oid: _FRIENDLY.get(oid, oid) for oid in attributes})
        resp = HTMLResponse(saml.post_form(down["acs"], xml, down.get("rs", "")))
        pending.forget(request, resp, a.in_response_to, now)
        return resp

    async def sp_metadata(request: Request) -> Response:
        return Response(saml.sp_metadata(sp_id, acs_url, keys.cert_b64), media_type="application/samlmetadata+xml")

    async def idp_metadata(request: Request) -> Response:
        return Response(stack.gateway_idp_metadata(), media_type="application/samlmetadata+xml")

    return [Route("/gateway/sso", sso), Route("/gateway/acs", acs, methods=["POST"]),
            Route("/gateway/sp/metadata", sp_metadata), Route("/gateway/idp/metadata", idp_metadata)]

