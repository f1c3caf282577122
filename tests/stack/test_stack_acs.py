"""The platform's ACS refuses every forged, wrapped, replayed, expired and
mis-addressed Response, each with its own reason (and a log line)."""

from __future__ import annotations

import base64
import copy
import logging
import time

import pytest
from lxml import etree

from simulator.stack import saml
from simulator.stack.keys import load_or_create
from stack_helpers import BASE, PUPILS, TEACHER, request_id_from_redirect, start_login

NS = saml.NS
ACS = f"{BASE}/platform/acs"


def _q(tag: str) -> str:
    prefix, local = tag.split(":")
    return f"{{{NS[prefix]}}}{local}"


def make(config, client, *, key=None, in_response_to=None, eppn=None, **kw) -> bytes:
    kp = load_or_create(config.data_dir, "idp", "unused")
    rid = in_response_to if in_response_to is not None else request_id_from_redirect(start_login(client))
    args = dict(issuer=f"{BASE}/idp", destination=ACS, audience=f"{BASE}/platform", in_response_to=rid,
                name_id="_n1", name_id_format=saml.NAMEID_TRANSIENT, key=kp.key, cert_pem=kp.cert_pem,
                attributes={"eduPersonPrincipalName": [eppn or PUPILS[0].eppn], "eduPersonAffiliation": ["student"]},
                now=time.time())
    args.update(kw)
    if key is not None:
        args["key"], args["cert_pem"] = key.key, key.cert_pem
    return saml.build_response(**args)


def post(client, xml: bytes):
    return client.post("/platform/acs", data={"SAMLResponse": base64.b64encode(xml).decode(),
                                              "RelayState": "/platform/api/me"}, follow_redirects=False)


def rejected(client, xml: bytes, caplog) -> str:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="examday.stack.platform"):
        r = post(client, xml)
    assert 400 <= r.status_code < 500, r.text
    reason = r.headers["x-examday-reject"]
    assert f"ACS rejected: {reason}" in caplog.text  # the reason is logged
    assert reason in r.text
    return reason


def edit(xml: bytes, fn) -> bytes:
    root = etree.fromstring(xml)
    fn(root)
    return etree.tostring(root)


def test_a_good_response_is_accepted(client, config):
    r = post(client, make(config, client))
    assert r.status_code == 303 and "examday_dnp" in r.headers["set-cookie"]


def test_forged_signature_other_key(client, config, tmp_path, caplog):
    mallory = load_or_create(tmp_path / "mallory", "idp", "mallory")
    assert rejected(client, make(config, client, key=mallory), caplog) == "bad-signature"


def test_tampered_after_signing(client, config, caplog):
    def swap_eppn(root):
        v = root.find(".//saml:Attribute[@FriendlyName='eduPersonPrincipalName']/saml:AttributeValue", NS)
        v.text = PUPILS[1].eppn
    assert rejected(client, edit(make(config, client), swap_eppn), caplog) == "bad-signature"


def test_unsigned_assertion(client, config, caplog):
    def strip(root):
        sig = root.find("saml:Assertion/ds:Signature", NS)
        sig.getparent().remove(sig)
    assert rejected(client, edit(make(config, client), strip), caplog) == "unsigned"


def _evil_from(original: etree._Element) -> etree._Element:
    evil = copy.deepcopy(original)
    evil.set("ID", "_evil")
    evil.find(".//saml:Attribute[@FriendlyName='eduPersonPrincipalName']/saml:AttributeValue", NS).text = \
        PUPILS[2].eppn
    return evil


def test_wrapping_signed_assertion_moved_into_extensions(client, config, caplog):
    def wrap(root):
        original = root.find("saml:Assertion", NS)
        evil = _evil_from(original)
        evil.remove(evil.find("ds:Signature", NS))
        ext = etree.Element(_q("samlp:Extensions"))
        root.replace(original, evil)
        root.insert(1, ext)
        ext.append(original)
    assert rejected(client, edit(make(config, client), wrap), caplog) == "wrapped"


def test_wrapping_original_hidden_in_signature_object(client, config, caplog):
    def wrap(root):
        original = root.find("saml:Assertion", NS)
        evil = _evil_from(original)
        obj = etree.SubElement(evil.find("ds:Signature", NS), _q("ds:Object"))
        root.replace(original, evil)
        obj.append(original)
    assert rejected(client, edit(make(config, client), wrap), caplog) == "wrapped"


def test_wrapping_single_assertion_reusing_the_signature(client, config, caplog):
    def wrap(root):  # the evil assertion keeps the original signature, whose Reference now dangles
        original = root.find("saml:Assertion", NS)
        root.replace(original, _evil_from(original))
    assert rejected(client, edit(make(config, client), wrap), caplog) == "bad-signature"


def test_replayed_assertion(client, config, caplog):
    xml = make(config, client)
    assert post(client, xml).status_code == 303
    assert rejected(client, xml, caplog) == "replayed"


def test_expired(client, config, caplog):
    now = time.time()
    xml = make(config, client, not_before=now - 7200, not_on_or_after=now - 3600)
    assert rejected(client, xml, caplog) == "expired"


def test_not_yet_valid(client, config, caplog):
    now = time.time()
    xml = make(config, client, not_before=now + 3600, not_on_or_after=now + 7200)
    assert rejected(client, xml, caplog) == "not-yet-valid"


def test_wrong_audience(client, config, caplog):
    assert rejected(client, make(config, client, audience="https://other-sp.example"), caplog) == "wrong-audience"


def test_untrusted_issuer(client, config, caplog):
    assert rejected(client, make(config, client, issuer="https://rogue-idp.example"), caplog) == "untrusted-issuer"


def test_response_issuer_differs_from_assertion_issuer(client, config, caplog):
    def relabel(root):
        root.find("saml:Issuer", NS).text = "https://rogue-idp.example"
    assert rejected(client, edit(make(config, client), relabel), caplog) == "wrong-issuer"


def test_wrong_destination(client, config, caplog):
    xml = make(config, client, destination="https://other-sp.example/acs")
    assert rejected(client, xml, caplog) == "wrong-destination"


def test_wrong_recipient_with_right_destination(client, config, caplog):
    xml = edit(make(config, client, destination="https://other-sp.example/acs"), lambda r: r.set("Destination", ACS))
    assert rejected(client, xml, caplog) == "wrong-destination"


def test_unknown_in_response_to(client, config, caplog):
    assert rejected(client, make(config, client, in_response_to="_never-issued"), caplog) == "unknown-in-response-to"


def test_unsolicited_response(client, config, caplog):
    assert rejected(client, make(config, client, in_response_to=""), caplog) == "unknown-in-response-to"


def test_reused_in_response_to(client, config, caplog):
    rid = request_id_from_redirect(start_login(client))
    assert post(client, make(config, client, in_response_to=rid)).status_code == 303
    assert rejected(client, make(config, client, in_response_to=rid), caplog) == "reused-in-response-to"


def test_not_provisioned_user(client, config, caplog):
    assert rejected(client, make(config, client, eppn="ghost@malmo.example"), caplog) == "unknown-user"


@pytest.mark.parametrize("payload", [b"not xml at all", b"<foo/>",
                                     b'<!DOCTYPE x [<!ENTITY a "b">]><samlp:Response/>'])
def test_malformed(client, payload, caplog):
    assert rejected(client, payload, caplog) == "malformed"


def test_missing_response(client, caplog):
    r = client.post("/platform/acs", data={}, follow_redirects=False)
    assert r.status_code == 400 and r.headers["x-examday-reject"] == "malformed"


# ---------------------------------------------------------------- holes closed in issue 12

def test_login_csrf_response_from_another_browser_is_refused(app, config, caplog):
    """A genuine, unused Response posted by a browser that never started that login (no request cookie)."""
    from starlette.testclient import TestClient
    from stack_helpers import provision
    with TestClient(app, base_url=BASE) as victim, TestClient(app, base_url=BASE) as attacker:
        provision(victim)
        xml = make(config, victim)  # the request ID is bound to the victim's browser
        assert rejected(attacker, xml, caplog) == "unknown-in-response-to"
        assert post(victim, xml).status_code == 303  # still good in its own browser


def _utf16_with_dtd(xml: bytes, entity: bool) -> bytes:
    body = xml.decode()
    dtd = '<!DOCTYPE samlp:Response [<!ENTITY e "x">]>' if entity else "<!DOCTYPE samlp:Response []>"
    if entity:
        body = body.replace("<saml:Issuer>", "<saml:Issuer>&e;", 1)
    return ('<?xml version="1.0" encoding="UTF-16"?>' + dtd + body).encode("utf-16")


def test_dtd_refused_in_utf16_too(client, config, caplog):
    xml = make(config, client)
    assert rejected(client, _utf16_with_dtd(xml, entity=False), caplog) == "malformed"
    assert rejected(client, _utf16_with_dtd(xml, entity=True), caplog) == "malformed"


def test_entity_reference_with_a_trusted_issuer_is_a_400_not_a_500(client, config, caplog):
    xml = make(config, client).replace(b"<saml:Issuer>", b"<saml:Issuer>&e;", 1)
    doc = b'<!DOCTYPE r [<!ENTITY e "">]>' + xml
    assert rejected(client, doc, caplog) == "malformed"
    assert rejected(client, xml, caplog) == "malformed"  # undeclared entity: not well-formed


def test_friendly_name_does_not_identify_an_attribute(client, config, caplog):
    """A trusted IdP's extra attribute ``urn:example:nickname`` with FriendlyName eduPersonPrincipalName
    must not become the EPPN (saml-core §2.7.3.1)."""
    xml = make(config, client, attributes={"urn:example:nickname": [TEACHER.eppn],
                                           "eduPersonAffiliation": ["staff"]},
               friendly_names={"urn:example:nickname": "eduPersonPrincipalName"})
    assert b'Name="urn:example:nickname" FriendlyName="eduPersonPrincipalName"' in xml
    assert rejected(client, xml, caplog) == "unknown-user"  # no EPPN by Name: nobody is logged in


def test_eppn_with_two_values_is_refused(client, config, caplog):
    xml = make(config, client, attributes={"eduPersonPrincipalName": [PUPILS[0].eppn, PUPILS[1].eppn]})
    assert rejected(client, xml, caplog) == "multi-valued"


def test_staff_via_an_idp_without_assurance_attribute_are_refused(tmp_path, caplog):
    """Our own IdP carries the e-leg attribute; a password-only staff assertion (no LoA 3) is refused."""
    from starlette.testclient import TestClient
    from simulator.stack.app import build_app
    from stack_helpers import make_config, provision
    config = make_config(tmp_path)
    with TestClient(build_app(config), base_url=BASE) as c:
        provision(c)
        xml = make(config, c, eppn=TEACHER.eppn)  # PasswordProtectedTransport
        assert rejected(c, xml, caplog) == "insufficient-assurance"
        xml = make(config, c, eppn=TEACHER.eppn, authn_context="http://id.elegnamnden.se/loa/1.0/loa3")
        assert post(c, xml).status_code == 303


def test_metadata_declares_scopes_and_assurance(client):
    idp = saml.parse_metadata(client.get("/idp/metadata").content)[0]
    assert idp.scopes == (("malmo.example", False),)
    assert idp.has_entity_attribute(saml.ASSURANCE_CERTIFICATION, saml.EID_ASSURANCE)


def test_sis_school_unit_code_oid():
    """Skolfederation attribute profile: sisSchoolUnitCode 1.2.752.194.10.2.4 (…10.2.2 is sisSchoolGrade)."""
    assert saml.ATTR["sisSchoolUnitCode"] == "urn:oid:1.2.752.194.10.2.4"


def test_comment_injection_does_not_truncate_the_eppn(client, config):
    """A comment inside a signed text (the signature still verifies: comments are not in exclusive c14n)
    must not split the value the SP reads (Duo Labs, CVE-2017-11427 family): the whole EPPN, or nothing."""
    eppn = PUPILS[0].eppn
    local, domain = eppn.split("@")
    xml = make(config, client).replace(eppn.encode(), f"{local}@<!-- x -->{domain}".encode(), 1)
    assert b"<!-- x -->" in xml
    r = post(client, xml)
    assert r.status_code == 303
    assert client.get("/platform/api/me").json()["eppn"] == eppn
