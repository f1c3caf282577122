"""Interoperability with a third-party SAML library (pysaml2, xmlsec1 backend):
pysaml2 as SP accepts our IdP's Responses and reads every attribute under its
own name (sisSchoolUnitCode through an attribute map the SP configures, since
pysaml2 ships only SIS .1/.2); our platform accepts a Response that pysaml2,
acting as IdP with the platform's metadata, produces, and applies its scope
and staff-assurance rules to it. Each side trusts the other only through
``--trust-metadata``."""

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
from stack_helpers import BASE, PUPILS, TEACHER, make_config, provision

XMLSEC = shutil.which("xmlsec1")
SP_ID, SP_ACS = "https://pysaml2-sp.example/sp", "https://pysaml2-sp.example/acs"
IDP_ID, IDP_SSO = "https://pysaml2-idp.example/idp", "https://pysaml2-idp.example/sso"
PASSWORD = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
LOA3 = "http://id.elegnamnden.se/loa/1.0/loa3"
#: The SP's attribute map: pysaml2's URI map plus sisSchoolUnitCode at the Skolfederation attribute
#: profile's OID (pysaml2 knows SIS .1 and .2 only). This is the SP's configuration, not the stack's.
SIS_MAP = """
from saml2.attributemaps.saml_uri import MAP as _BASE
MAP = {"identifier": _BASE["identifier"],
       "fro": {**_BASE["fro"], "urn:oid:1.2.752.194.10.2.4": "sisSchoolUnitCode"},
       "to": {**_BASE["to"], "sisSchoolUnitCode": "urn:oid:1.2.752.194.10.2.4"}}
"""


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
    maps = tmp_path / "pysaml2-maps"
    maps.mkdir(exist_ok=True)
    (maps / "examday_sis_uri.py").write_text(SIS_MAP)
    conf["attribute_map_dir"] = str(maps)
    return conf


def _idp_conf(tmp_path, sp_metadata: str | None, scope: str = "malmo.example", eleg: bool = False) -> dict:
    kp = load_or_create(tmp_path / "pysaml2-idp", "idp", IDP_ID)
    conf = {"entityid": IDP_ID, "xmlsec_binary": XMLSEC, "key_file": str(kp.key_path), "cert_file": str(kp.cert_path),
            **({"assurance_certification": ["https://fidus.skolverket.se/authentication/e-leg"]} if eleg else {}),
            "service": {"idp": {"endpoints": {"single_sign_on_service": [(IDP_SSO, BINDING_HTTP_REDIRECT)]},
                                "scope": [scope],
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
        assert ava["sisSchoolUnitCode"] == ["12345678"]  # SU.code, under the SP's own name for …10.2.4
        assert resp.assertion.signature is not None  # the assertion itself is signed
        # the same pysaml2 SP is refused by an IdP that does not trust its metadata
        untrusted = make_config(tmp_path / "other")
        with TestClient(build_app(untrusted), base_url=BASE) as other:
            assert other.get(location).status_code == 403


def _pysaml2_login(tmp_path, person, *, scope="malmo.example", eleg=False, class_ref=PASSWORD, check=None):
    """A platform trusting a pysaml2 IdP; returns the ACS answer to pysaml2's Response for ``person``."""
    idp_md = _write_metadata(_idp_conf(tmp_path, None, scope, eleg), tmp_path / "pysaml2-idp.xml", IdPConfig)
    config = make_config(tmp_path, trust_metadata=(idp_md,))
    with TestClient(build_app(config), base_url=BASE) as client:
        provision(client)
        sp_md = tmp_path / "our-sp.xml"
        sp_md.write_bytes(client.get("/platform/metadata").content)
        idp = Server(config=IdPConfig().load(_idp_conf(tmp_path, str(sp_md), scope, eleg)))
        r = client.get("/platform/login", params={"idp": IDP_ID, "next": "/platform/api/me"}, follow_redirects=False)
        assert r.status_code == 302 and r.headers["location"].startswith(IDP_SSO + "?")
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(r.headers["location"]).query)
        req = idp.parse_authn_request(q["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
        response = idp.create_authn_response(
            identity={"eduPersonPrincipalName": [person.eppn], "eduPersonAffiliation": [person.affiliation]},
            in_response_to=req.message.id, destination=req.message.assertion_consumer_service_url,
            sp_entity_id=req.message.issuer.text, userid=person.eppn, name_id_policy=req.message.name_id_policy,
            authn={"class_ref": class_ref}, sign_assertion=True, sign_response=False, sign_alg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256)
        saml_response = base64.b64encode(str(response).encode()).decode()
        r = client.post("/platform/acs", data={"SAMLResponse": saml_response, "RelayState": q["RelayState"][0]},
                        follow_redirects=False)
        if check is not None:
            check(client, r, saml_response)
        return r.status_code, r.headers.get("x-examday-reject")


def test_platform_accepts_pysaml2_idp(tmp_path):
    def check(client, r, saml_response):
        assert r.status_code == 303, r.headers.get("x-examday-reject")
        assert client.get("/platform/api/me").json()["eppn"] == PUPILS[1].eppn
        # a platform that does not trust the pysaml2 IdP refuses the same kind of response
        with TestClient(build_app(make_config(tmp_path / "other")), base_url=BASE) as other:
            r = other.post("/platform/acs", data={"SAMLResponse": saml_response}, follow_redirects=False)
            assert r.status_code == 403 and r.headers["x-examday-reject"] == "untrusted-issuer"
    _pysaml2_login(tmp_path, PUPILS[1], check=check)


def test_eppn_outside_the_idps_scope_is_refused(tmp_path):
    """A trusted IdP may only assert EPPNs in its own shibmd:Scope (the DNP gateway drops the others)."""
    assert _pysaml2_login(tmp_path, PUPILS[1], scope="other-city.example") == (403, "wrong-scope")


def test_staff_need_loa3_from_an_idp_with_the_eleg_assurance_attribute(tmp_path):
    assert _pysaml2_login(tmp_path / "a", TEACHER, class_ref=PASSWORD, eleg=True) == (403, "insufficient-assurance")
    assert _pysaml2_login(tmp_path / "b", TEACHER, class_ref=LOA3, eleg=False) == (403, "insufficient-assurance")
    assert _pysaml2_login(tmp_path / "c", TEACHER, class_ref=LOA3, eleg=True) == (303, None)
