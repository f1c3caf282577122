"""The access-gateway role (``--gateway``): platform → gateway (IdP side) →
school IdP (ForceAuthn, unsigned, entityID https://skolverket.eduid.se/dnp/sp/)
→ gateway ACS → platform ACS. With the reference IdP and platform on either
side, with pysaml2 as the school IdP behind it (a staging IdP put behind the
reference gateway through metadata) and with pysaml2 as the SP in front of it."""

from __future__ import annotations

import base64
import urllib.parse
import zlib

import pytest
from lxml import etree
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import IdPConfig, SPConfig
from saml2.server import Server
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256
from starlette.testclient import TestClient

from simulator.stack import saml
from simulator.stack.app import build_app
from simulator.stack.walk import login, parse_form
from stack_helpers import BASE, PUPILS, TEACHER, make_config, provision
from test_stack_pysaml2 import IDP_ID, IDP_SSO, PASSWORD, SP_ACS, SP_ID, _idp_conf, _sp_conf, _write_metadata

GATEWAY_SP = "https://skolverket.eduid.se/dnp/sp/"


def _request_of(location: str):
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    return etree.fromstring(zlib.decompress(base64.b64decode(q["SAMLRequest"][0]), -15)), q


@pytest.fixture
def gw(tmp_path):
    with TestClient(build_app(make_config(tmp_path, gateway=True)), base_url=BASE) as c:
        provision(c)
        yield c


def test_login_through_the_gateway_with_the_walk_helper(gw):
    t = login(gw, BASE, PUPILS[0].eppn, PUPILS[0].password)
    assert t["hops"] >= 4  # platform → gateway → IdP, IdP → gateway ACS → platform ACS
    assert gw.get("/platform/api/me").json()["eppn"] == PUPILS[0].eppn
    t = login(gw, BASE, TEACHER.eppn, TEACHER.password)  # staff: LoA 3 passes through the gateway
    assert gw.get("/platform/api/me").json()["affiliation"] == "staff"


def test_gateway_asks_the_school_idp_as_the_dnp_gateway_does(gw):
    r = gw.get("/platform/login", follow_redirects=False)
    assert r.headers["location"].startswith(f"{BASE}/gateway/sso?")
    r = gw.get(r.headers["location"], follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"].startswith(f"{BASE}/idp/sso?")
    req, q = _request_of(r.headers["location"])
    assert req.get("ForceAuthn") == "true" and "Signature" not in q
    assert req.findtext("saml:Issuer", namespaces=saml.NS) == GATEWAY_SP
    assert req.get("AssertionConsumerServiceURL") == f"{BASE}/gateway/acs"
    md = saml.parse_metadata(gw.get("/gateway/sp/metadata").content)[0]
    assert md.entity_id == GATEWAY_SP and md.acs_post == (f"{BASE}/gateway/acs",) and not md.authn_requests_signed


def test_force_authn_asks_for_the_password_despite_the_idp_session(gw):
    login(gw, BASE, PUPILS[0].eppn, PUPILS[0].password)
    r = gw.get(gw.get("/platform/login", follow_redirects=False).headers["location"], follow_redirects=False)
    page = gw.get(r.headers["location"], follow_redirects=False)
    assert 'name="password"' in page.text and "SAMLResponse" not in page.text


def test_gateway_acs_binds_the_response_to_the_browser(gw):
    """A genuine school-IdP Response for the gateway, posted by another browser, is refused there."""
    other = TestClient(gw.app, base_url=BASE)
    r = other.get(other.get("/platform/login", follow_redirects=False).headers["location"], follow_redirects=False)
    page = parse_form(other.get(r.headers["location"]).text)
    form = parse_form(other.post("/idp/login", data={**page.fields, "username": PUPILS[1].eppn,
                                                     "password": PUPILS[1].password}).text)
    assert form.action == f"{BASE}/gateway/acs"
    r = gw.post("/gateway/acs", data=form.fields, follow_redirects=False)  # gw: a browser that never asked
    assert r.status_code == 400 and r.headers["x-examday-reject"] == "unknown-in-response-to"
    r = other.post("/gateway/acs", data=form.fields, follow_redirects=False)  # its own browser: fine
    assert r.status_code == 200 and parse_form(r.text).action == f"{BASE}/platform/acs"


def _staging(tmp_path, scope: str):
    """A stack with the gateway, trusting a pysaml2 'staging IdP', and that IdP trusting the gateway SP."""
    idp_md = _write_metadata(_idp_conf(tmp_path, None, scope), tmp_path / "staging-idp.xml", IdPConfig)
    client = TestClient(build_app(make_config(tmp_path, gateway=True, trust_metadata=(idp_md,))), base_url=BASE)
    client.__enter__()
    provision(client)
    gw_md = tmp_path / "gateway-sp.xml"
    gw_md.write_bytes(client.get("/gateway/sp/metadata").content)
    return client, Server(config=IdPConfig().load(_idp_conf(tmp_path, str(gw_md), scope)))


def _staging_login(client, idp: Server, person):
    r = client.get("/platform/login", params={"idp": IDP_ID}, follow_redirects=False)
    r = client.get(r.headers["location"], follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"].startswith(IDP_SSO + "?")
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(r.headers["location"]).query)
    req = idp.parse_authn_request(q["SAMLRequest"][0], BINDING_HTTP_REDIRECT)  # pysaml2 reads our request
    assert req.message.force_authn == "true" and req.message.issuer.text == GATEWAY_SP
    response = idp.create_authn_response(
        identity={"eduPersonPrincipalName": [person.eppn], "eduPersonAffiliation": [person.affiliation]},
        in_response_to=req.message.id, destination=req.message.assertion_consumer_service_url,
        sp_entity_id=GATEWAY_SP, userid=person.eppn, name_id_policy=req.message.name_id_policy,
        authn={"class_ref": PASSWORD}, sign_assertion=True, sign_response=False, sign_alg=SIG_RSA_SHA256,
        digest_alg=DIGEST_SHA256)
    r = client.post("/gateway/acs", data={"SAMLResponse": base64.b64encode(str(response).encode()).decode()})
    assert r.status_code == 200, r.text
    form = parse_form(r.text)
    assert form.action == f"{BASE}/platform/acs"
    return client.post(form.action, data=form.fields, follow_redirects=False)


def test_a_staging_idp_behind_the_reference_gateway(tmp_path):
    client, idp = _staging(tmp_path, "malmo.example")
    try:
        r = _staging_login(client, idp, PUPILS[2])
        assert r.status_code == 303, r.headers.get("x-examday-reject")
        assert client.get("/platform/api/me").json()["eppn"] == PUPILS[2].eppn
    finally:
        client.__exit__(None, None, None)


def test_gateway_drops_an_eppn_outside_the_idps_scope(tmp_path):
    client, idp = _staging(tmp_path, "other-city.example")
    try:
        r = _staging_login(client, idp, PUPILS[2])
        assert r.status_code == 403 and r.headers["x-examday-reject"] == "unknown-user"
    finally:
        client.__exit__(None, None, None)


def test_pysaml2_sp_in_front_of_the_gateway(tmp_path):
    sp_md = _write_metadata(_sp_conf(tmp_path, None), tmp_path / "pysaml2-sp.xml", SPConfig)
    with TestClient(build_app(make_config(tmp_path, gateway=True, trust_metadata=(sp_md,))), base_url=BASE) as c:
        provision(c)
        gw_md = tmp_path / "gateway-idp.xml"
        gw_md.write_bytes(c.get("/gateway/idp/metadata").content)
        sp = Saml2Client(SPConfig().load(_sp_conf(tmp_path, str(gw_md))))
        req_id, info = sp.prepare_for_authenticate(entityid=f"{BASE}/gateway/idp", binding=BINDING_HTTP_REDIRECT,
                                                   relay_state="/after")
        r = c.get(dict(info["headers"])["Location"], follow_redirects=False)
        assert r.headers["location"].startswith(f"{BASE}/idp/sso?")
        page = parse_form(c.get(r.headers["location"]).text)
        p = PUPILS[0]
        form = parse_form(c.post("/idp/login", data={**page.fields, "username": p.eppn, "password": p.password}).text)
        assert form.action == f"{BASE}/gateway/acs"
        form = parse_form(c.post(form.action, data=form.fields).text)
        assert form.action == SP_ACS and form.fields["RelayState"] == "/after"
        resp = sp.parse_authn_request_response(form.fields["SAMLResponse"], BINDING_HTTP_POST,
                                               outstanding={req_id: "/after"})
        assert resp.issuer() == f"{BASE}/gateway/idp"
        ava = resp.get_identity()
        assert ava["eduPersonPrincipalName"] == [p.eppn] and ava["sisSchoolUnitCode"] == ["12345678"]
        assert SP_ID  # the pysaml2 SP's entity
