"""IdP broker: login page, password check, signed Response, SSO cookie, staff
second factor, federation trust, signed AuthnRequests, metadata."""

from __future__ import annotations

import base64
import time

from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from simulator.stack import saml
from simulator.stack.keys import load_or_create
from simulator.stack.walk import login, parse_form

from stack_helpers import BASE, PUPILS, TEACHER, start_login


def _sso_page(client, location):
    r = client.get(location, follow_redirects=False)
    assert r.status_code == 200, r.text
    return parse_form(r.text)


def test_login_page_then_signed_response_with_required_attributes(client, config):
    location = start_login(client)
    assert location.startswith(f"{BASE}/idp/sso?SAMLRequest=")
    form = _sso_page(client, location)
    assert form.action == "/idp/login" and {"username", "password", "ctx"} <= set(form.fields)
    p = PUPILS[0]
    r = client.post("/idp/login", data={**form.fields, "username": p.eppn, "password": p.password})
    assert r.status_code == 200
    post = parse_form(r.text)
    assert post.action == f"{BASE}/platform/acs" and post.fields["RelayState"] == "/platform/api/me"
    assert 'onload="document.forms[0].submit()"' in r.text
    xml = etree.fromstring(base64.b64decode(post.fields["SAMLResponse"]))
    a = xml.find("saml:Assertion", saml.NS)
    sig = a.find("ds:Signature", saml.NS)
    assert sig is not None and a.index(sig) == 1  # right after Issuer (saml-core §5.4)
    assert sig.find("ds:SignedInfo/ds:SignatureMethod", saml.NS).get("Algorithm").endswith("rsa-sha256")
    assert sig.find("ds:SignedInfo/ds:CanonicalizationMethod", saml.NS).get("Algorithm") == saml.EXC_C14N
    verified = saml.verify_response(post.fields["SAMLResponse"], trusted_idps={
        e.entity_id: e for e in saml.parse_metadata(client.get("/idp/metadata").content)},
        sp_entity_id=f"{BASE}/platform", acs_url=f"{BASE}/platform/acs", now=time.time())
    assert verified.first("eduPersonPrincipalName") == p.eppn
    assert verified.first("eduPersonAffiliation") == "student"
    assert verified.first("sisSchoolUnitCode") == "12345678"
    assert verified.in_response_to and xml.get("InResponseTo") == verified.in_response_to
    cond = a.find("saml:Conditions", saml.NS)
    assert cond.get("NotBefore") and cond.get("NotOnOrAfter")
    r = client.post("/platform/acs", data=post.fields, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/platform/api/me"
    assert client.get("/platform/api/me").json()["eppn"] == p.eppn


def test_wrong_password_and_unknown_user_get_401_and_the_form_again(client):
    form = _sso_page(client, start_login(client))
    for user, pw in ((PUPILS[0].eppn, "wrong"), ("nobody@malmo.example", "x")):
        r = client.post("/idp/login", data={**form.fields, "username": user, "password": pw})
        assert r.status_code == 401 and "SAMLResponse" not in r.text and 'name="password"' in r.text


def test_sso_cookie_skips_the_password_on_a_second_request(client):
    login(client, BASE, PUPILS[0].eppn, PUPILS[0].password)
    form = _sso_page(client, start_login(client))
    assert "SAMLResponse" in form.fields  # no login page this time
    r = client.post("/platform/acs", data=form.fields, follow_redirects=False)
    assert r.status_code == 303


def test_staff_second_factor_arrives_after_the_delay(client, config):
    form = _sso_page(client, start_login(client))
    r = client.post("/idp/login", data={**form.fields, "username": TEACHER.eppn, "password": TEACHER.password},
                    follow_redirects=False)
    assert r.status_code == 202 and "Freja" in r.text
    poll = r.headers["location"]
    assert client.get(poll + "/status").json()["status"] == "pending"
    assert client.get(poll, follow_redirects=False).status_code == 202
    time.sleep(config.mfa_delay_s + 0.05)
    assert client.get(poll + "/status").json()["status"] == "approved"
    r = client.get(poll, follow_redirects=False)
    post = parse_form(r.text)
    assert r.status_code == 200 and "SAMLResponse" in post.fields
    assert saml.parse_instant  # LoA 3 context for staff:
    assert b"loa3" in base64.b64decode(post.fields["SAMLResponse"])
    assert client.get(poll, follow_redirects=False).status_code == 404  # one-time
    assert client.post("/platform/acs", data=post.fields, follow_redirects=False).status_code == 303
    assert client.get("/platform/api/me").json()["affiliation"] == "staff"


def test_idp_refuses_untrusted_sp_and_unlisted_acs(client, tmp_path):
    now = time.time()
    q = saml.encode_redirect(saml.build_authn_request("_r1", "https://evil.example/sp", f"{BASE}/idp/sso",
                                                      "https://evil.example/acs", now))
    r = client.get(f"/idp/sso?{q}")
    assert r.status_code == 403 and "untrusted-sp" in r.text
    q = saml.encode_redirect(saml.build_authn_request("_r2", f"{BASE}/platform", f"{BASE}/idp/sso",
                                                      "https://evil.example/acs", now))
    r = client.get(f"/idp/sso?{q}")
    assert r.status_code == 400 and "wrong-destination" in r.text
    assert client.get("/idp/sso?SAMLRequest=bm90LWRlZmxhdGU%3D").status_code == 400


def test_signed_authn_request_verified_against_sp_metadata(client, config):
    sp_key = load_or_create(config.data_dir, "platform", "x")  # the platform's own key
    xml = saml.build_authn_request("_signed1", f"{BASE}/platform", f"{BASE}/idp/sso", f"{BASE}/platform/acs",
                                   time.time())
    r = client.get(f"/idp/sso?{saml.encode_redirect(xml, '/platform/api/me', key=sp_key.key)}")
    assert r.status_code == 200 and 'name="password"' in r.text
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    r = client.get(f"/idp/sso?{saml.encode_redirect(xml, '/platform/api/me', key=other)}")
    assert r.status_code == 400 and "bad-signature" in r.text


def test_metadata_for_both_roles(client):
    idp = saml.parse_metadata(client.get("/idp/metadata").content)[0]
    sp = saml.parse_metadata(client.get("/platform/metadata").content)[0]
    assert idp.is_idp and idp.sso_redirect == f"{BASE}/idp/sso" and len(idp.certs) == 1
    assert sp.is_sp and sp.acs_post == (f"{BASE}/platform/acs",) and len(sp.certs) == 1
    assert idp.certs[0] != sp.certs[0]


def test_keys_generated_once_and_reused(config, tmp_path):
    from simulator.stack.app import Stack
    a, b = Stack(config), Stack(config)
    assert a.idp_keys.cert_pem == b.idp_keys.cert_pem


def test_platform_login_names_the_idp_by_entity_id_sso_or_metadata_url(client):
    for idp in (f"{BASE}/idp", f"{BASE}/idp/", f"{BASE}/idp/sso", f"{BASE}/idp/metadata"):
        assert start_login(client, idp=idp).startswith(f"{BASE}/idp/sso?")
    r = client.get("/platform/login", params={"idp": "https://unknown.example/idp"}, follow_redirects=False)
    assert r.status_code == 400
