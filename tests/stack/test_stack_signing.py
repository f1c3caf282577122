"""The IdP's and gateway's own XML-DSig signer (``saml.sign_assertion``: lxml exclusive c14n + RSA-SHA256
from cryptography) produces standard enveloped signatures: two independent verifiers accept them — xmlsec1
(the command-line tool of the XML Security Library, which pysaml2 calls) and
signxml — and both refuse the document after any signed byte is changed."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from lxml import etree
from signxml import XMLVerifier
from signxml.exceptions import InvalidDigest, InvalidSignature

from simulator.stack import saml
from simulator.stack.keys import load_or_create

XMLSEC = shutil.which("xmlsec1")
ASSERTION = f"{{{saml.NS['saml']}}}Assertion"


def _response(tmp_path, **attrs) -> tuple[bytes, object]:
    kp = load_or_create(tmp_path, "idp", "https://idp.example/idp")
    xml = saml.build_response(
        issuer="https://idp.example/idp", destination="https://sp.example/acs", audience="https://sp.example/sp",
        in_response_to="_req1", name_id="_n1", name_id_format=saml.NAMEID_TRANSIENT, key=kp.key,
        cert_pem=kp.cert_pem, now=time.time(),
        attributes=attrs or {"eduPersonPrincipalName": ["p1@malmo.example"], "eduPersonAffiliation": ["student"],
                             "sisSchoolUnitCode": ["12345678"]})
    return xml, kp


def _xmlsec_verify(tmp_path, xml: bytes, cert_path) -> subprocess.CompletedProcess:
    assert XMLSEC, "xmlsec1 missing: run scripts/system-packages.sh (apt-get install xmlsec1)"
    doc = tmp_path / "response.xml"
    doc.write_bytes(xml)
    return subprocess.run([XMLSEC, "--verify", "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
                           "--pubkey-cert-pem", str(cert_path), "--enabled-reference-uris", "same-doc", str(doc)],
                          capture_output=True, text=True)


def test_xmlsec1_verifies_the_signed_assertion_and_refuses_a_changed_one(tmp_path):
    xml, kp = _response(tmp_path)
    ok = _xmlsec_verify(tmp_path, xml, kp.cert_path)
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stderr
    forged = xml.replace(b"p1@malmo.example", b"p2@malmo.example")
    assert forged != xml
    bad = _xmlsec_verify(tmp_path, forged, kp.cert_path)
    assert bad.returncode != 0 and "FAIL" in bad.stderr


def test_xmlsec1_refuses_a_signature_by_another_key(tmp_path):
    xml, _ = _response(tmp_path)
    other = load_or_create(tmp_path / "other", "idp", "https://other.example/idp")
    assert _xmlsec_verify(tmp_path, xml, other.cert_path).returncode != 0


def test_signxml_verifies_it_and_sees_the_whole_assertion(tmp_path):
    xml, kp = _response(tmp_path)
    assertion = etree.fromstring(xml).find("saml:Assertion", saml.NS)
    result = XMLVerifier().verify(etree.tostring(assertion), x509_cert=kp.cert,
                                  expect_config=saml._VERIFY_CONFIG)
    signed = result.signed_xml
    assert signed.tag == ASSERTION and signed.get("ID") == assertion.get("ID")
    # everything but the signature itself is covered: subject, conditions, attributes
    names = [a.get("Name") for a in signed.findall("saml:AttributeStatement/saml:Attribute", saml.NS)]
    assert names == [saml.ATTR["eduPersonPrincipalName"], saml.ATTR["eduPersonAffiliation"],
                     saml.ATTR["sisSchoolUnitCode"]]
    assert signed.find("saml:Conditions/saml:AudienceRestriction/saml:Audience", saml.NS).text == \
        "https://sp.example/sp"
    # the signature sits right after the Issuer (saml-core §5.4.1) and names the assertion's ID
    assert assertion[1].tag == f"{{{saml.NS['ds']}}}Signature"
    ref = assertion.find("ds:Signature/ds:SignedInfo/ds:Reference", saml.NS)
    assert ref.get("URI") == "#" + assertion.get("ID")


@pytest.mark.parametrize("change", [
    (b"NotOnOrAfter=\"", b"NotOnOrAfter=\"2"),  # a signed attribute value
    (b"<saml:Audience>https://sp.example/sp", b"<saml:Audience>https://evil.example/sp"),  # signed text
])
def test_signxml_refuses_a_changed_assertion(tmp_path, change):
    xml, kp = _response(tmp_path)
    old, new = change
    forged = xml.replace(old, new, 1)
    assert forged != xml
    assertion = etree.fromstring(forged).find("saml:Assertion", saml.NS)
    with pytest.raises((InvalidDigest, InvalidSignature)):
        XMLVerifier().verify(etree.tostring(assertion), x509_cert=kp.cert, expect_config=saml._VERIFY_CONFIG)


def test_xsi_type_namespace_declarations_survive_signing(tmp_path):
    """Exclusive c14n drops ``xmlns:xs`` (only an attribute value uses it); the sent document must keep it, so
    a schema-aware SP can still resolve ``xsi:type="xs:string"``."""
    xml, _ = _response(tmp_path)
    value = etree.fromstring(xml).find(".//saml:AttributeValue", saml.NS)
    assert value.nsmap.get("xs") == "http://www.w3.org/2001/XMLSchema"
