"""Interoperability with a third-party SAML library (pysaml2, xmlsec1 backend):
pysaml2 as SP accepts our IdP's Responses; our platform accepts a Response
that pysaml2, acting as IdP with the platform's metadata, produces. Each side
trusts the other only through ``--trust-metadata``."""

from __future__ import annotations

import base64
import shutil
import urllib.parse

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import IdPConfig, SPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_TRANSIENT
from saml2.server import Server
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256
from starlette.testclient import TestClient

from simulator.stack.app import build_app
from simulator.stack.keys import load_or_create
from simulator.stack.walk import parse_form
from stack_helpers import BASE, PUPILS, make_config, provision

XMLSEC = shutil.which("xmlsec1")
SP_ID, SP_ACS = "https://pysaml2-sp.example/sp", "https://pysaml2-sp.example/acs"
IDP_ID, IDP_SSO = "https://pysaml2-idp.example/idp", "https://pysaml2-idp.example/sso"


def test_xmlsec1_is_installed():
    assert XMLSEC, "xmlsec1 missing: run scripts/system-packages.sh (apt-get install xmlsec1)"


def _sp_conf(tmp_path, idp_metadata: str | None) -> dict:
    kp = load_or_create(tmp_path / "pysaml2-sp", "sp", SP_ID)
    conf = {"entityid": SP_ID, "xmlsec_binary": XMLSEC, "key_file": str(kp.key_path), "cert_file": str(kp.cert_path),
            "allow_unknown_attributes": True,
            "service": {"sp": {"endpoints": {"assertion_consumer_service": [(SP_ACS, BINDING_HTTP_POST)]},
                               "want_assertions_signed": True, "want_response_signed": False,
                               "allow_unsolicited": False, "authn_requests_signed": False,
                               "name_id_format": NAMEID_FORMAT_TRANSIENT}}}
    if idp_metadata:
        conf["metadata"] = {"local": [idp_metadata]}
    return conf


def _idp_conf(tmp_path, sp_metadata: str | None) -> dict:
    kp = load_or_create(tmp_path / "pysaml2-idp", "idp", IDP_ID)
    conf = {"entityid": IDP_ID, "xmlsec_binary": XMLSEC, "key_file": str(kp.key_path), "cert_file": str(kp.cert_path),
            "service": {"idp": {"endpoints": {"single_sign_on_service": [(IDP_SSO, BINDING_HTTP_REDIRECT)]},
                                "name_id_format": [NAMEID_FORMAT_TRANSIENT],
                                "policy": {"default": {"lifetime": {"minutes": 5}, "name_form": NAME_FORMAT_URI,
                                                       "attribute_restrictions": None}}}}}
    if sp_metadata:
        conf["metadata"] = {"local": [sp_metadata]}
    return conf


def _write_metadata(conf: dict, path, config_cls) -> str:
    path.write_text(str(entity_descriptor(config_cls().load(conf))))
    return str(path)


def test_pysaml2_sp_accepts_our_idp(tmp_path):
    sp_md = _write_metadata(_sp_conf(tmp_path, None), tmp_path / "pysaml2-sp.xml", SPConfig)
    config = make_config(tmp_path, trust_metadata=(sp_md,))
    with TestClient(build_app(config), base_url=BASE) as client:
        provision(client)
        idp_md = tmp_path / "our-idp.xml"
        idp_md.write_bytes(client.get("/idp/metadata").content)
        sp = Saml2Client(SPConfig().load(_sp_conf(tmp_path, str(idp_md))))
        req_id, info = sp.prepare_for_authenticate(entityid=f"{BASE}/idp", binding=BINDING_HTTP_REDIRECT,
                                                   relay_state="/after")
        location = dict(info["headers"])["Location"]
        assert location.startswith(f"{BASE}/idp/sso?")
        login = parse_form(client.get(location).text)
        p = PUPILS[0]
        r = client.post("/idp/login", data={**login.fields, "username": p.eppn, "password": p.password})
        form = parse_form(r.text)
        assert form.action == SP_ACS and form.fields["RelayState"] == "/after"
        resp = sp.parse_authn_request_response(form.fields["SAMLResponse"], BINDING_HTTP_POST,
                                               outstanding={req_id: "/after"})
        assert resp is not None and resp.in_response_to == req_id
        ava = resp.get_identity()
        assert ava["eduPersonPrincipalName"] == [p.eppn]
        assert ava["eduPersonAffiliation"] == ["student"]
        assert resp.assertion.signature is not None  # the assertion itself is signed
        # the same pysaml2 SP is refused by an IdP that does not trust its metadata
        untrusted = make_config(tmp_path / "other")
        with TestClient(build_app(untrusted), base_url=BASE) as other:
            assert other.get(location).status_code == 403


def test_platform_accepts_pysaml2_idp(tmp_path):
    idp_md = _write_metadata(_idp_conf(tmp_path, None), tmp_path / "pysaml2-idp.xml", IdPConfig)
    config = make_config(tmp_path, trust_metadata=(idp_md,))
    with TestClient(build_app(config), base_url=BASE) as client:
        provision(client)
        sp_md = tmp_path / "our-sp.xml"
        sp_md.write_bytes(client.get("/platform/metadata").content)
        idp = Server(config=IdPConfig().load(_idp_conf(tmp_path, str(sp_md))))
        r = client.get("/platform/login", params={"idp": IDP_ID, "next": "/platform/api/me"}, follow_redirects=False)
        assert r.status_code == 302 and r.headers["location"].startswith(IDP_SSO + "?")
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(r.headers["location"]).query)
        req = idp.parse_authn_request(q["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
        p = PUPILS[1]
        response = idp.create_authn_response(
            identity={"eduPersonPrincipalName": [p.eppn], "eduPersonAffiliation": ["student"]},
            in_response_to=req.message.id, destination=req.message.assertion_consumer_service_url,
            sp_entity_id=req.message.issuer.text, userid=p.eppn, name_id_policy=req.message.name_id_policy,
            authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"},
            sign_assertion=True, sign_response=False, sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256)
        r = client.post("/platform/acs", data={"SAMLResponse": base64.b64encode(str(response).encode()).decode(),
                                               "RelayState": q["RelayState"][0]}, follow_redirects=False)
        assert r.status_code == 303, r.headers.get("x-examday-reject")
        assert client.get("/platform/api/me").json()["eppn"] == p.eppn
        # a platform that does not trust the pysaml2 IdP refuses the same kind of response
        with TestClient(build_app(make_config(tmp_path / "other")), base_url=BASE) as other:
            r = other.post("/platform/acs", data={"SAMLResponse": base64.b64encode(str(response).encode()).decode()},
                           follow_redirects=False)
            assert r.status_code == 403 and r.headers["x-examday-reject"] == "untrusted-issuer"
