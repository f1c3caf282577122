"""The IdP's and gateway's own XML-DSig signer (``saml.sign_assertion``: lxml exclusive c14n + RSA-SHA256
from cryptography) produces standard enveloped signatures: two independent verifiers accept them — xmlsec1
(the command-line tool of the XML Security Library, which pysaml2 calls) and
signxml — and both refuse the document after any signed byte is changed."""

from __future__ import annotations

import base64
import copy
import hashlib
import shutil
import subprocess
import time

import pytest
from lxml import etree
from signxml import XMLVerifier
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput, InvalidSignature
from signxml.verifier import SignatureConfiguration

from simulator.stack import saml, xmldsig
from simulator.stack.keys import load_or_create

XMLSEC = shutil.which("xmlsec1")
ASSERTION = f"{{{saml.NS['saml']}}}Assertion"
SIGNXML_CONFIG = SignatureConfiguration(location="./", expect_references=1)  # signxml on the Assertion itself


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
                                  expect_config=SIGNXML_CONFIG)
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
        XMLVerifier().verify(etree.tostring(assertion), x509_cert=kp.cert, expect_config=SIGNXML_CONFIG)


def test_xsi_type_namespace_declarations_survive_signing(tmp_path):
    """Exclusive c14n drops ``xmlns:xs`` (only an attribute value uses it); the sent document must keep it, so
    a schema-aware SP can still resolve ``xsi:type="xs:string"``."""
    xml, _ = _response(tmp_path)
    value = etree.fromstring(xml).find(".//saml:AttributeValue", saml.NS)
    assert value.nsmap.get("xs") == "http://www.w3.org/2001/XMLSchema"


# ---------------------------------------------------------------- the strict verifier (saml -> xmldsig.py)
# Cross-check: on a corpus of genuine and forged Responses, ``xmldsig.verify_enveloped`` on the Response's
# first Assertion child gives the verdict two independent XML-DSig implementations give for "a valid
# signature, by the trusted key, that covers exactly that Assertion": signxml (the whole document, the
# Signature expected as a child of that Assertion, one Reference, then the signed element must be it) and
# the xmlsec1 tool (the whole document, IDs registered on Assertion, started at that Assertion's Signature,
# same-document references only, the trusted certificate's key; its Reference must name the Assertion).
DSNS = saml.NS["ds"]
SAMLNS = saml.NS["saml"]
SIGNXML_AT_ASSERTION = SignatureConfiguration(location=f"./{{{SAMLNS}}}Assertion/", expect_references=1)
SIG_XPATH = (f"/*/*[local-name()='Assertion' and namespace-uri()='{SAMLNS}'][1]"
             f"/*[local-name()='Signature' and namespace-uri()='{DSNS}']")


def _resign(assertion_xml: bytes, key, *, sig_alg=xmldsig.RSA_SHA256, digest_alg=xmldsig.SHA256,
            prefixes: str = "", method_prefixes: bool = True, refs: int = 1, pretty: bool = False) -> bytes:
    """An assertion signed by a test-side signer (any algorithm, prefix list, reference count, layout), for
    the corpus entries our own signer never produces. Digest and SignedInfo are canonicalised by lxml."""
    root = etree.fromstring(assertion_xml)
    sig = root.find("ds:Signature", saml.NS)
    if sig is not None:
        root.remove(sig)
    if pretty:  # digested with the text that will follow the Signature
        root[0].tail = "\n  "
    incl = f'<ec:InclusiveNamespaces xmlns:ec="{xmldsig.EXC_C14N}" PrefixList="{prefixes}"/>' if prefixes else ""
    plist = prefixes.split() or None
    hash_fn = {xmldsig.SHA256: hashlib.sha256, "http://www.w3.org/2000/09/xmldsig#sha1": hashlib.sha1}[digest_alg]
    digest = base64.b64encode(hash_fn(etree.tostring(root, method="c14n", exclusive=True,
                                                     inclusive_ns_prefixes=plist)).digest()).decode()
    nl = "\n  " if pretty else ""
    ref = (f'{nl}<ds:Reference URI="#{root.get("ID")}"><ds:Transforms>{nl}'
           f'<ds:Transform Algorithm="{xmldsig.ENVELOPED}"/>{nl}'
           f'<ds:Transform Algorithm="{xmldsig.EXC_C14N}">{incl}</ds:Transform></ds:Transforms>{nl}'
           f'<ds:DigestMethod Algorithm="{digest_alg}"/><ds:DigestValue>{digest}</ds:DigestValue></ds:Reference>')
    m_incl, m_plist = (incl, plist) if method_prefixes else ("", None)
    si = (f'<ds:SignedInfo xmlns:ds="{DSNS}">{nl}<ds:CanonicalizationMethod Algorithm="{xmldsig.EXC_C14N}">{m_incl}'
          f'</ds:CanonicalizationMethod>{nl}<ds:SignatureMethod Algorithm="{sig_alg}"/>{ref * refs}{nl}</ds:SignedInfo>')
    si_c14n = etree.tostring(etree.fromstring(si), method="c14n", exclusive=True, inclusive_ns_prefixes=m_plist)
    alg = hashes.SHA256() if sig_alg == xmldsig.RSA_SHA256 else hashes.SHA1()
    value = base64.b64encode(key.sign(si_c14n, padding.PKCS1v15(), alg)).decode()
    inner = si.replace(f' xmlns:ds="{DSNS}"', "", 1)
    sig = etree.fromstring(f'<ds:Signature xmlns:ds="{DSNS}">{nl}{inner}{nl}'
                           f'<ds:SignatureValue>{value}</ds:SignatureValue>{nl}</ds:Signature>')
    root.insert(1, sig)
    if pretty:
        root[0].tail, sig.tail = None, "\n  "
    return etree.tostring(root)


IDP, MALLORY = "idp", "mallory"
#: Entries outside what a judge checks, and why (each is still judged by the other one and the expectation).
NOT_JUDGED_BY = {
    "signed ID also on samlp:Status": ("xmlsec1", "IDs registered on Assertion only (--id-attr)"),
    "re-signed with RSA-SHA1 (weak algorithm)": ("xmlsec1", "the tool accepts every algorithm it knows"),
    "re-signed with a SHA-1 digest (weak algorithm)": ("xmlsec1", "the tool accepts every algorithm it knows"),
    "re-signed with two References": ("xmlsec1", "the tool verifies every Reference, does not count them"),
    # xml-exc-c14n §3 allows it there; signxml's bundled schema has no declaration for it (strict wildcard)
    "re-signed with InclusiveNamespaces PrefixList=xs in the Transform and CanonicalizationMethod":
        ("signxml", "its XSD refuses InclusiveNamespaces under CanonicalizationMethod"),
}


def _corpus(tmp_path) -> tuple[list[tuple[str, bytes, "str | None"]], object, object]:
    """(name, Response document, whose key makes its signature valid over the Assertion: IDP, MALLORY or
    None) entries; the genuine IdP's and the attacker's key pairs."""
    xml, kp = _response(tmp_path)
    mallory = load_or_create(tmp_path / "mallory", "idp", "https://idp.example/idp")
    evil_xml, _ = _response(tmp_path / "mallory")
    head, rest = xml.split(b"<saml:Assertion ", 1)
    assertion, tail = b"<saml:Assertion " + rest[:rest.rindex(b"</samlp:Response>")], b"</samlp:Response>"
    aid = etree.fromstring(assertion).get("ID")

    def with_assertion(a: bytes) -> bytes:
        return head + a + tail

    def edit(fn) -> bytes:
        root = etree.fromstring(xml)
        fn(root)
        return etree.tostring(root)

    def evil_copy(root, new_id="_evil", keep_sig=True):
        original = root.find("saml:Assertion", saml.NS)
        evil = copy.deepcopy(original)
        evil.set("ID", new_id)
        evil.find(".//saml:AttributeValue", saml.NS).text = "p9@malmo.example"
        if not keep_sig:
            evil.remove(evil.find("ds:Signature", saml.NS))
        return original, evil

    def object_wrap(root):
        original, evil = evil_copy(root)
        obj = etree.SubElement(evil.find("ds:Signature", saml.NS), f"{{{DSNS}}}Object")
        root.replace(original, evil)
        obj.append(original)

    def extensions_wrap(root):
        original, evil = evil_copy(root, keep_sig=False)
        root.replace(original, evil)
        ext = etree.Element(f"{{{saml.NS['samlp']}}}Extensions")
        root.insert(1, ext)
        ext.append(original)

    def reuse_signature(root):
        original, evil = evil_copy(root)
        root.replace(original, evil)

    def same_id_twice(root):  # an exact copy of the signed assertion after it: the ID is no longer unique
        root.append(copy.deepcopy(root.find("saml:Assertion", saml.NS)))

    def same_id_elsewhere(root):  # another element of the document carries the signed ID
        status = root.find("samlp:Status", saml.NS)
        status.set("ID", aid)

    def strip(root):
        a = root.find("saml:Assertion", saml.NS)
        a.remove(a.find("ds:Signature", saml.NS))

    def mallory_keyinfo(root):  # the attacker's certificate in KeyInfo: it must be ignored
        cert = root.find(".//ds:X509Certificate", saml.NS)
        cert.text = "".join(mallory.cert_pem.strip().splitlines()[1:-1])

    def flip(tag):
        def fn(root):
            el = root.find(f".//ds:{tag}", saml.NS)
            raw = bytearray(base64.b64decode(el.text))
            raw[len(raw) // 2] ^= 1
            el.text = base64.b64encode(bytes(raw)).decode()
        return fn

    def second_signature(root):
        a = root.find("saml:Assertion", saml.NS)
        a.append(copy.deepcopy(a.find("ds:Signature", saml.NS)))

    corpus = [
        ("genuine", xml, IDP),
        ("signed by the attacker's key, with its certificate in KeyInfo", evil_xml, MALLORY),
        ("genuine, the attacker's certificate put in KeyInfo", edit(mallory_keyinfo), IDP),
        ("EPPN changed", xml.replace(b"p1@malmo.example", b"p2@malmo.example"), None),
        ("Audience changed", xml.replace(b"https://sp.example/sp<", b"https://evil.example/sp<"), None),
        ("NotOnOrAfter changed", xml.replace(b'NotOnOrAfter="', b'NotOnOrAfter="2', 1), None),
        ("comment inside the EPPN (not in c14n)", xml.replace(b"p1@malmo.example", b"p1@malmo.example<!---->"), IDP),
        ("comment injection: victim<!---->.suffix", xml.replace(b"p1@malmo.example", b"p1@malmo<!---->.example"),
         IDP),
        ("comment injected and text dropped", xml.replace(b"p1@malmo.example", b"p1@malmo<!---->"), None),
        ("processing instruction in the assertion", xml.replace(b"</saml:NameID>", b"<?pi x?></saml:NameID>"),
         None),
        ("whitespace added in the signed assertion", xml.replace(b"<saml:Conditions", b"\n<saml:Conditions"), None),
        ("whitespace added inside SignedInfo", xml.replace(b"<ds:SignatureMethod", b" <ds:SignatureMethod"), None),
        ("whitespace outside the assertion", xml.replace(b"<saml:Assertion ", b"\n  <saml:Assertion "), IDP),
        ("attribute order and quotes changed (c14n-equal)",
         xml.replace(f'ID="{aid}" Version="2.0"'.encode(), f"Version='2.0' ID='{aid}'".encode()), IDP),
        ("unused namespace declared on the assertion (exc-c14n drops it)",
         xml.replace(b"<saml:Assertion ", b'<saml:Assertion xmlns:foo="urn:foo" ', 1), IDP),
        ("empty element written as start + end tag",
         xml.replace(b'<saml:SubjectConfirmationData', b'<saml:SubjectConfirmationData', 1)
         .replace(b'/></saml:SubjectConfirmation>', b'></saml:SubjectConfirmationData></saml:SubjectConfirmation>',
                  1), IDP),
        ("character reference for a signed character", xml.replace(b"p1@malmo", b"p&#49;@malmo", 1), IDP),
        ("DigestValue changed", edit(flip("DigestValue")), None),
        ("SignatureValue changed", edit(flip("SignatureValue")), None),
        ("signature stripped", edit(strip), None),
        ("second Signature on the assertion", edit(second_signature), None),
        ("wrapping: original inside the evil assertion's ds:Object", edit(object_wrap), None),
        ("wrapping: original moved into samlp:Extensions, evil unsigned", edit(extensions_wrap), None),
        ("wrapping: evil assertion reusing the signature (dangling Reference)", edit(reuse_signature), None),
        ("signed ID on two Assertions (exact copy appended)", edit(same_id_twice), None),
        ("signed ID also on samlp:Status", edit(same_id_elsewhere), None),
        ("re-signed by the test signer (same shape)", with_assertion(_resign(assertion, kp.key)), IDP),
        ("re-signed, pretty-printed Signature", with_assertion(_resign(assertion, kp.key, pretty=True)), IDP),
        ("re-signed with InclusiveNamespaces PrefixList=xs in the exc-c14n Transform (as Shibboleth signs)",
         with_assertion(_resign(assertion, kp.key, prefixes="xs", method_prefixes=False)), IDP),
        ("re-signed with InclusiveNamespaces PrefixList=xs in the Transform and CanonicalizationMethod",
         with_assertion(_resign(assertion, kp.key, prefixes="xs")), IDP),
        ("re-signed with RSA-SHA1 (weak algorithm)",
         with_assertion(_resign(assertion, kp.key, sig_alg="http://www.w3.org/2000/09/xmldsig#rsa-sha1")), None),
        ("re-signed with a SHA-1 digest (weak algorithm)",
         with_assertion(_resign(assertion, kp.key, digest_alg="http://www.w3.org/2000/09/xmldsig#sha1")), None),
        ("re-signed with two References", with_assertion(_resign(assertion, kp.key, refs=2)), None),
        ("re-signed by the attacker's key", with_assertion(_resign(assertion, mallory.key)), MALLORY),
    ]
    return corpus, kp, mallory


def _ours(doc: bytes, cert) -> bool:
    root = saml.parse_xml(doc)
    target = root.find("saml:Assertion", saml.NS)
    try:
        xmldsig.verify_enveloped(target, [cert.public_key()])
        return True
    except xmldsig.SignatureError:
        return False


def _signxml(doc: bytes, cert) -> bool:
    target = etree.fromstring(doc).find("saml:Assertion", saml.NS)
    try:
        signed = XMLVerifier().verify(doc, x509_cert=cert, expect_config=SIGNXML_AT_ASSERTION).signed_xml
    except (InvalidDigest, InvalidSignature, InvalidInput, InvalidCertificate, etree.LxmlError):
        return False
    return signed.tag == ASSERTION and signed.get("ID") == target.get("ID")


def _xmlsec1(tmp_path, doc: bytes, cert_path) -> bool:
    assert XMLSEC, "xmlsec1 missing: run scripts/system-packages.sh (apt-get install xmlsec1)"
    path = tmp_path / "doc.xml"
    path.write_bytes(doc)
    run = subprocess.run([XMLSEC, "--verify", "--id-attr:ID", f"{SAMLNS}:Assertion", "--pubkey-cert-pem",
                          str(cert_path), "--enabled-reference-uris", "same-doc", "--node-xpath", SIG_XPATH,
                          str(path)], capture_output=True, text=True)
    target = etree.fromstring(doc).find("saml:Assertion", saml.NS)
    ref = target.find("ds:Signature/ds:SignedInfo/ds:Reference", saml.NS)
    return run.returncode == 0 and ref is not None and ref.get("URI") == "#" + target.get("ID")


def test_strict_verifier_agrees_with_signxml_and_xmlsec1_on_a_forgery_corpus(tmp_path):
    corpus, kp, mallory = _corpus(tmp_path)
    disagree, judged = [], 0
    for name, doc, signer in corpus:
        for trusted, label in ((kp, IDP), (mallory, MALLORY)):
            want = signer == label
            ours = _ours(doc, trusted.cert)
            verdicts = {"signxml": _signxml(doc, trusted.cert), "xmlsec1": _xmlsec1(tmp_path, doc, trusted.cert_path)}
            skip = NOT_JUDGED_BY.get(name, ("", ""))[0]
            judges = {k: v for k, v in verdicts.items() if k != skip}
            judged += len(judges)
            if ours != want or any(v != ours for v in judges.values()):
                disagree.append(f"{name} [{label} key trusted]: ours {ours}, {verdicts}, expected {want}")
    assert not disagree, "\n".join(disagree)
    assert judged >= 2 * 2 * len(corpus) - 2 * len(NOT_JUDGED_BY)
