"""SAML 2.0 Web Browser SSO messages, as the reference IdP and SP speak them.

Specs (OASIS, March 2005): *Assertions and Protocols* (saml-core-2.0-os:
§2 assertions, §3.2.2 Response, §3.4 AuthnRequest), *Bindings*
(saml-bindings-2.0-os: §3.4 HTTP-Redirect with DEFLATE encoding and the
query-string signature of §3.4.4.1, §3.5 HTTP-POST), *Profiles*
(saml-profiles-2.0-os §4.1.4: assertion requirements of Web Browser SSO),
*Metadata* (saml-metadata-2.0-os). XML-DSig (W3C xmldsig-core1) with
RSA-SHA256 and exclusive canonicalisation (W3C xml-exc-c14n): verified by
the strict verifier in ``xmldsig.py`` (lxml's c14n + cryptography's RSA; the
tests cross-check its verdicts against signxml and xmlsec1); signed
(``sign_assertion``) with lxml's exclusive c14n and cryptography's RSA
directly (the same bytes signxml would sign, without its copies and
re-parses: ~1 ms less per assertion).

The SP side (``verify_response``) reads the assertion only from the canonical
bytes the verified digest covers (never from the received tree), and refuses
any Response that holds more or fewer than one ``Assertion`` element: the two
defences against XML signature wrapping (Somorovsky et al., USENIX Sec 2012).
Every message is parsed by ``parse_xml``: lxml without entity resolution or
network, and a document type declaration is refused on the parsed tree
(``docinfo``), so no encoding (UTF-16 included) gets a DTD past it.
Attributes are identified by ``Name`` only (saml-core §2.7.3.1: FriendlyName
"MUST NOT" be used to identify an attribute); a single-valued attribute
(eduPersonPrincipalName, eduPerson schema 201602) with several values is
refused.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import html
import re
import secrets
import urllib.parse
import zlib
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

from cryptography import x509
from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from . import xmldsig

__all__ = [
    "NS", "BINDING_REDIRECT", "BINDING_POST", "ATTR", "SamlRejected", "AuthnRequestInfo", "VerifiedAssertion",
    "EntityInfo", "new_id", "instant", "parse_instant", "build_authn_request", "encode_redirect",
    "decode_redirect", "build_response", "sign_assertion", "verify_response", "idp_metadata", "sp_metadata",
    "parse_metadata", "post_form", "parse_xml", "scope_ok", "LOA3_OR_ABOVE", "ASSURANCE_CERTIFICATION",
    "EID_ASSURANCE",
]

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "shibmd": "urn:mace:shibboleth:metadata:1.0",
    "mdattr": "urn:oasis:names:tc:SAML:metadata:attribute",
}
BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
SIGALG_RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
NAMEID_TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
#: Attribute names (urn:oid, NameFormat uri) as Skolfederation/SWAMID release them. eduPerson OIDs:
#: eduPerson object class specification (REFEDS, 201602). SIS OIDs: the Skolfederation attribute profile
#: (SIS, "Attributprofil för Skolfederation" 4.x; republished at mv-nordic.com): sisLegalGuardianFor
#: 1.2.752.194.10.2.1, sisSchoolGrade …10.2.2, sisSchoolUnitCode …10.2.4 (8-digit skolenhetskod,
#: multi-valued), sisSchoolCourseStudent …10.2.5, sisSchoolCourseTeacher …10.2.6.
ATTR = {
    "eduPersonPrincipalName": "urn:oid:1.3.6.1.4.1.5923.1.1.1.6",
    "eduPersonAffiliation": "urn:oid:1.3.6.1.4.1.5923.1.1.1.1",
    "sisSchoolUnitCode": "urn:oid:1.2.752.194.10.2.4",
}
#: Attributes that hold one value (eduPerson 201602: eduPersonPrincipalName is single-valued).
SINGLE_VALUED = frozenset({ATTR["eduPersonPrincipalName"]})
#: DIGG (ex-E-legitimationsnämnden) assurance classes at LoA 3 or above (Freja eID+ is LoA 3).
LOA3_OR_ABOVE = frozenset({"http://id.elegnamnden.se/loa/1.0/loa3", "http://id.elegnamnden.se/loa/1.0/loa4",
                           "http://id.elegnamnden.se/loa/1.0/eidas-sub",
                           "http://id.elegnamnden.se/loa/1.0/eidas-high"})
#: The entity attribute FIDUS/Skolfederation put on IdPs whose staff logins are e-legitimation
#: (skolverket/dnp-access-management): ``assurance-certification = …/authentication/e-leg``.
ASSURANCE_CERTIFICATION = "urn:oasis:names:tc:SAML:attribute:assurance-certification"
EID_ASSURANCE = "https://fidus.skolverket.se/authentication/e-leg"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                          remove_comments=False, huge_tree=False)


#: The enveloped signature's SignedInfo (xmldsig-core1 §4.4): exclusive c14n, RSA-SHA256, one Reference to
#: the signed element's ID with the enveloped-signature and exclusive-c14n transforms, SHA-256 digest.
_SIGNED_INFO = (f'<ds:SignedInfo xmlns:ds="{NS["ds"]}"><ds:CanonicalizationMethod Algorithm="{EXC_C14N}"/>'
                f'<ds:SignatureMethod Algorithm="{SIGALG_RSA_SHA256}"/><ds:Reference URI={{uri}}><ds:Transforms>'
                '<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
                f'<ds:Transform Algorithm="{EXC_C14N}"/></ds:Transforms>'
                '<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
                '<ds:DigestValue>{digest}</ds:DigestValue></ds:Reference></ds:SignedInfo>')
_SIGNED_INFO_OPEN = f'<ds:SignedInfo xmlns:ds="{NS["ds"]}">'


MAX_MESSAGE = 256 * 1024
#: saml-bindings §3.4.3 says 80 bytes; senders in the wild (SimpleSAMLphp's URLs) exceed it, so the IdP side
#: takes up to 1 KiB and refuses beyond (the platform's ACS holds its own RelayStates to 80)
MAX_RELAY_STATE = 1024
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_B64_SPACE = re.compile(r"[ \t\r\n]+")


def parse_xml(data: bytes) -> etree._Element:
    """Parse a SAML message or metadata document; ``SamlRejected('malformed')`` on bad XML or any DTD.

    The DTD check is on the parsed document (``docinfo``), not a byte search, so it holds in any
    encoding lxml reads (UTF-8, UTF-16 with BOM, declared encodings)."""
    try:
        root = etree.fromstring(data, _PARSER)
    except (etree.XMLSyntaxError, ValueError) as err:
        raise SamlRejected("malformed", f"not XML: {str(err)[:200]}") from err
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise SamlRejected("malformed", "document type declarations (DTDs) are not allowed")
    if next(root.iter(etree.Entity), None) is not None:
        raise SamlRejected("malformed", "entity references are not allowed")
    return root


class SamlRejected(Exception):
    """A message the receiver must refuse; ``reason`` is a short code, ``detail`` for the log."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass(frozen=True, slots=True)
class AuthnRequestInfo:
    id: str
    issuer: str
    destination: str
    acs_url: str  # "" when the request names none (use the SP's metadata default)
    relay_state: str
    signed: bool
    name_id_format: str = ""
    force_authn: bool = False
    requested_contexts: tuple[str, ...] = ()  # RequestedAuthnContext/AuthnContextClassRef
    idp_list: tuple[str, ...] = ()  # Scoping/IDPList/IDPEntry@ProviderID (for a proxy)


@dataclass(frozen=True, slots=True)
class VerifiedAssertion:
    issuer: str
    assertion_id: str
    in_response_to: str
    name_id: str
    not_on_or_after: float
    session_index: str
    attributes: dict = field(default_factory=dict)  # attribute Name (urn:oid:…) -> list[str]
    authn_context: str = ""  # AuthnContextClassRef

    def values(self, name: str) -> list[str]:
        """Values of an attribute by its ``Name``, or by one of the friendly names in ``ATTR``."""
        return list(self.attributes.get(ATTR.get(name, name)) or [])

    def first(self, name: str, default: str = "") -> str:
        values = self.values(name)
        return values[0] if values else default


@dataclass(frozen=True)
class EntityInfo:
    """What trust needs from a metadata ``EntityDescriptor``."""

    entity_id: str
    certs: tuple[x509.Certificate, ...]
    sso_redirect: str = ""  # IdP: SingleSignOnService, HTTP-Redirect
    acs_post: tuple[str, ...] = ()  # SP: AssertionConsumerService, HTTP-POST (default first)
    is_idp: bool = False
    is_sp: bool = False
    authn_requests_signed: bool = False
    scopes: tuple[tuple[str, bool], ...] = ()  # shibmd:Scope (value, regexp)
    entity_attributes: dict = field(default_factory=dict)  # mdattr:EntityAttributes Name -> tuple of values

    def has_entity_attribute(self, name: str, value: str) -> bool:
        return value in self.entity_attributes.get(name, ())

    @functools.cached_property
    def public_keys(self) -> tuple:
        """The certificates' public keys, loaded once (what signatures are checked with; KeyInfo never is)."""
        return tuple(c.public_key() for c in self.certs)


def scope_ok(scopes: "tuple[tuple[str, bool], ...]", eppn: str) -> bool:
    """Does the EPPN's scope (after the last ``@``) match a ``shibmd:Scope`` (Shibboleth metadata
    extension: literal, case-insensitive, or a full-match regular expression when ``regexp="true"``)?"""
    user, at, scope = eppn.rpartition("@")
    if not (user and at and scope):
        return False
    for value, regexp in scopes:
        if regexp:
            try:
                if re.fullmatch(value, scope):
                    return True
            except re.error:
                continue
        elif value.lower() == scope.lower():
            return True
    return False


def new_id() -> str:
    """An xs:ID (must not start with a digit; 128 random bits, saml-core §1.3.4)."""
    return "_" + secrets.token_hex(16)


def instant(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(text: str | None) -> float:
    if not text:
        raise SamlRejected("malformed", "missing time")
    t = text.strip().replace("Z", "+00:00")
    if "." in t:  # fractional seconds of any length
        head, _, tail = t.partition(".")
        digits = "".join(c for c in tail if c.isdigit())
        t = head + tail[len(digits):]
    try:
        value = dt.datetime.fromisoformat(t)
    except ValueError as err:
        raise SamlRejected("malformed", f"bad time {text!r}") from err
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.timestamp()


def build_authn_request(req_id: str, issuer: str, destination: str, acs_url: str, now: float,
                        force_authn: bool = False, contexts: "tuple[str, ...]" = (),
                        idp_list: "tuple[str, ...]" = ()) -> str:
    """saml-core §3.4.1, asking for the HTTP-POST response binding (``ForceAuthn``: §3.4.1, as the DNP
    access gateway sends it; ``contexts``: RequestedAuthnContext, comparison ``minimum``; ``idp_list``:
    Scoping/IDPList (§3.4.1.2), which IdP a proxy should ask)."""
    force = ' ForceAuthn="true"' if force_authn else ""
    ctx = (f'<samlp:RequestedAuthnContext Comparison="minimum">'
           + "".join(f"<saml:AuthnContextClassRef>{escape(c)}</saml:AuthnContextClassRef>" for c in contexts)
           + "</samlp:RequestedAuthnContext>" if contexts else "")
    if idp_list:
        ctx += ("<samlp:Scoping><samlp:IDPList>" + "".join(f"<samlp:IDPEntry ProviderID={quoteattr(p)}/>"
                                                           for p in idp_list) + "</samlp:IDPList></samlp:Scoping>")
    return (f'<samlp:AuthnRequest xmlns:samlp="{NS["samlp"]}" xmlns:saml="{NS["saml"]}" ID="{req_id}" '
            f'Version="2.0" IssueInstant="{instant(now)}" Destination={quoteattr(destination)}{force} '
            f'AssertionConsumerServiceURL={quoteattr(acs_url)} ProtocolBinding="{BINDING_POST}">'
            f'<saml:Issuer>{escape(issuer)}</saml:Issuer>'
            f'<samlp:NameIDPolicy Format="{NAMEID_TRANSIENT}" AllowCreate="true"/>{ctx}</samlp:AuthnRequest>')


def _b64_query(b64: str) -> str:
    """``urllib.parse.quote_plus`` of base64 text, without its per-character Python loop: of the base64
    alphabet only ``+``, ``/`` and ``=`` are not URL-safe."""
    return b64.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")


def encode_redirect(xml: str, relay_state: str = "", key: rsa.RSAPrivateKey | None = None,
                    param: str = "SAMLRequest") -> str:
    """The query string of the HTTP-Redirect binding (saml-bindings §3.4.4.1), signed when ``key`` is given."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = comp.compress(xml.encode()) + comp.flush()
    query = f"{param}=" + _b64_query(base64.b64encode(deflated).decode())
    if relay_state:
        query += "&RelayState=" + urllib.parse.quote_plus(relay_state)
    if key is not None:
        query += "&SigAlg=" + urllib.parse.quote_plus(SIGALG_RSA_SHA256)
        sig = key.sign(query.encode(), padding.PKCS1v15(), hashes.SHA256())
        query += "&Signature=" + _b64_query(base64.b64encode(sig).decode())
    return query


def decode_redirect(raw_query: str, trusted_sps: dict[str, EntityInfo]) -> AuthnRequestInfo:
    """Parse and check an AuthnRequest on the HTTP-Redirect binding.

    The signature, when present, is over the query parameters exactly as
    received (§3.4.4.1), so this takes the raw query string.
    """
    raw: dict[str, str] = {}
    for piece in raw_query.split("&"):
        name, _, value = piece.partition("=")
        if name in ("SAMLRequest", "RelayState", "SigAlg", "Signature") and name not in raw:
            raw[name] = value
    if "SAMLRequest" not in raw:
        raise SamlRejected("malformed", "no SAMLRequest")
    val = {k: urllib.parse.unquote_plus(v) for k, v in raw.items()}
    if len(val.get("RelayState", "")) > MAX_RELAY_STATE:  # echoed into the form and a cookie: bounded
        raise SamlRejected("bad-relay-state", f"RelayState over {MAX_RELAY_STATE} bytes")
    try:
        data = zlib.decompressobj(-15).decompress(base64.b64decode(val["SAMLRequest"]), MAX_MESSAGE)
    except Exception as err:  # bad base64 or deflate
        raise SamlRejected("malformed", f"undecodable SAMLRequest: {str(err)[:200]}") from err
    root = parse_xml(data)
    if root.tag != f"{{{NS['samlp']}}}AuthnRequest" or root.get("Version") != "2.0":
        raise SamlRejected("malformed", "not a SAML 2.0 AuthnRequest")
    issuer = (root.findtext("saml:Issuer", namespaces=NS) or "").strip()
    sp = trusted_sps.get(issuer)
    if sp is None:
        raise SamlRejected("untrusted-sp", f"no trusted metadata for SP {issuer!r}")
    signed = "Signature" in raw
    if signed:
        if val.get("SigAlg") != SIGALG_RSA_SHA256:
            raise SamlRejected("bad-signature", f"unsupported SigAlg {val.get('SigAlg')!r}")
        signed_part = "&".join(f"{k}={raw[k]}" for k in ("SAMLRequest", "RelayState", "SigAlg") if k in raw)
        try:
            sig = base64.b64decode(val["Signature"])
        except ValueError as err:
            raise SamlRejected("bad-signature", "Signature is not base64") from err
        if not any(_rsa_ok(c, sig, signed_part.encode()) for c in sp.certs):
            raise SamlRejected("bad-signature", "AuthnRequest signature does not verify")
    elif sp.authn_requests_signed:
        raise SamlRejected("unsigned", "SP metadata requires signed AuthnRequests")
    acs = root.get("AssertionConsumerServiceURL") or ""
    if acs and acs not in sp.acs_post:
        raise SamlRejected("wrong-destination", f"ACS {acs!r} is not in the SP's metadata")
    policy = root.find("samlp:NameIDPolicy", NS)
    contexts = tuple((c.text or "").strip() for c in
                     root.findall("samlp:RequestedAuthnContext/saml:AuthnContextClassRef", NS))
    return AuthnRequestInfo(id=root.get("ID") or "", issuer=issuer, destination=root.get("Destination") or "",
                            acs_url=acs or (sp.acs_post[0] if sp.acs_post else ""),
                            relay_state=val.get("RelayState", ""), signed=signed,
                            name_id_format=policy.get("Format", "") if policy is not None else "",
                            force_authn=root.get("ForceAuthn") in ("true", "1"), requested_contexts=contexts,
                            idp_list=tuple(e.get("ProviderID", "") for e in
                                           root.findall("samlp:Scoping/samlp:IDPList/samlp:IDPEntry", NS)))


def _rsa_ok(cert: x509.Certificate, sig: bytes, data: bytes) -> bool:
    try:
        cert.public_key().verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
        return True
    except (_CryptoInvalidSignature, ValueError, TypeError):
        return False


def _cert_body(cert: "str | x509.Certificate") -> str:
    """The base64 DER of a PEM text or certificate, as ``ds:X509Certificate`` carries it (the PEM's lines)."""
    if isinstance(cert, x509.Certificate):
        cert = cert.public_bytes(serialization.Encoding.PEM).decode()
    lines = cert.strip().splitlines()
    return "\n".join(line for line in lines if not line.startswith("-----"))


def sign_assertion(assertion_xml: str, key: rsa.RSAPrivateKey, cert: "str | x509.Certificate") -> bytes:
    """``assertion_xml`` with an enveloped RSA-SHA256 XML signature (xmldsig-core1 §6.6.4, exclusive c14n
    per xml-exc-c14n) placed right after its ``Issuer`` (saml-core §5.4.1: the Reference is ``#`` + ID).

    The digest is SHA-256 of the exclusive canonical form of the element without the signature (which is
    what the enveloped-signature transform leaves); SignedInfo is canonicalised by lxml too and signed
    with PKCS#1 v1.5 (RFC 8017 §8.2). The text is the input's own, so namespace declarations that only
    ``xsi:type`` values use stay in the document. The result is plain XML-DSig: signxml and xmlsec1
    (pysaml2) verify it (``tests/stack/test_stack_pysaml2.py``).

    ``cert``: the PEM text or a parsed certificate, sent in ``KeyInfo/X509Data`` as IdPs do."""
    root = etree.fromstring(assertion_xml.encode(), _PARSER)
    issuer = root[0] if len(root) else None
    if issuer is None or issuer.tag != f"{{{NS['saml']}}}Issuer" or not root.get("ID"):
        raise ValueError("sign_assertion needs an element with an ID whose first child is saml:Issuer")
    digest = hashlib.sha256(etree.tostring(root, method="c14n", exclusive=True, with_comments=False)).digest()
    signed_info = etree.tostring(etree.fromstring(
        _SIGNED_INFO.format(uri=quoteattr("#" + root.get("ID")), digest=base64.b64encode(digest).decode()).encode(),
        _PARSER), method="c14n", exclusive=True, with_comments=False)
    value = base64.b64encode(key.sign(signed_info, padding.PKCS1v15(), hashes.SHA256())).decode()
    signature = (f'<ds:Signature xmlns:ds="{NS["ds"]}">'
                 + signed_info.decode().replace(_SIGNED_INFO_OPEN, "<ds:SignedInfo>", 1)
                 + f"<ds:SignatureValue>{value}</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>"
                 f"{_cert_body(cert)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>")
    # after the Issuer's end tag: the first one in the text (an escaped issuer cannot contain it)
    at = assertion_xml.index("</saml:Issuer>") + len("</saml:Issuer>")
    return (assertion_xml[:at] + signature + assertion_xml[at:]).encode()


def build_response(*, issuer: str, destination: str, audience: str, in_response_to: str, name_id: str,
                   name_id_format: str, attributes: dict[str, list[str]], key: rsa.RSAPrivateKey,
                   cert_pem: "str | x509.Certificate",
                   now: float, lifetime_s: float = 300.0, authn_context: str = "", session_index: str = "",
                   assertion_id: str | None = None, not_before: float | None = None,
                   not_on_or_after: float | None = None, friendly_names: dict[str, str] | None = None) -> bytes:
    """A samlp:Response with one signed Assertion (saml-profiles §4.1.4.2). Attribute keys are friendly
    names from ``ATTR`` (sent as their OID) or full Names; ``friendly_names`` overrides the FriendlyName."""
    aid, rid = assertion_id or new_id(), new_id()
    issued = instant(now)
    nb = instant(now - 30 if not_before is None else not_before)
    noa = instant(now + lifetime_s if not_on_or_after is None else not_on_or_after)
    irt = f" InResponseTo={quoteattr(in_response_to)}" if in_response_to else ""
    attrs = "".join(
        f'<saml:Attribute Name="{ATTR.get(n, n)}" FriendlyName="{(friendly_names or {}).get(n, n)}" '
        f'NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri">'
        + "".join(f'<saml:AttributeValue xmlns:xs="http://www.w3.org/2001/XMLSchema" '
                  f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">{escape(v)}'
                  f"</saml:AttributeValue>" for v in values)
        + "</saml:Attribute>" for n, values in attributes.items())
    assertion = (
        f'<saml:Assertion xmlns:saml="{NS["saml"]}" ID="{aid}" Version="2.0" IssueInstant="{issued}">'
        f'<saml:Issuer>{escape(issuer)}</saml:Issuer>'
        f'<saml:Subject><saml:NameID Format="{name_id_format}">{escape(name_id)}</saml:NameID>'
        f'<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">'
        f'<saml:SubjectConfirmationData{irt} NotOnOrAfter="{noa}" Recipient={quoteattr(destination)}/>'
        f'</saml:SubjectConfirmation></saml:Subject>'
        f'<saml:Conditions NotBefore="{nb}" NotOnOrAfter="{noa}"><saml:AudienceRestriction>'
        f'<saml:Audience>{escape(audience)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>'
        f'<saml:AuthnStatement AuthnInstant="{issued}" SessionIndex="{session_index or aid}">'
        f'<saml:AuthnContext><saml:AuthnContextClassRef>'
        f'{authn_context or "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"}'
        f'</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>'
        f'<saml:AttributeStatement>{attrs}</saml:AttributeStatement></saml:Assertion>')
    signed = sign_assertion(assertion, key, cert_pem)
    return (f'<samlp:Response xmlns:samlp="{NS["samlp"]}" xmlns:saml="{NS["saml"]}" ID="{rid}" Version="2.0" '
            f'IssueInstant="{issued}" Destination={quoteattr(destination)}{irt}>'
            f'<saml:Issuer>{escape(issuer)}</saml:Issuer><samlp:Status><samlp:StatusCode '
            f'Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>').encode() + signed \
        + b"</samlp:Response>"


def verify_response(saml_response_b64: str, *, trusted_idps: dict[str, EntityInfo], sp_entity_id: str,
                    acs_url: str, now: float, skew_s: float = 60.0) -> VerifiedAssertion:
    """Check a Response from the HTTP-POST binding; raise ``SamlRejected`` with the reason.

    Replay of the assertion ID and the ``InResponseTo`` bookkeeping need state
    and are the caller's (``platform.py``).
    """
    try:  # strict base64 (RFC 4648 §3.3: no characters outside the alphabet, no data after padding); line
        # breaks and spaces as MIME encoders (OpenSAML's) insert them are allowed
        text = saml_response_b64
        if " " in text or "\n" in text or "\r" in text or "\t" in text:  # re.sub scans ~190 us for nothing
            text = _B64_SPACE.sub("", text)
        if len(text) % 4 or not _BASE64.fullmatch(text):
            raise ValueError("not canonical base64")
        data = base64.b64decode(text, validate=True)
    except ValueError as err:
        raise SamlRejected("malformed", "SAMLResponse is not base64") from err
    if len(data) > MAX_MESSAGE:
        raise SamlRejected("malformed", f"message over {MAX_MESSAGE} bytes")
    root = parse_xml(data)
    if root.tag != f"{{{NS['samlp']}}}Response" or root.get("Version") != "2.0":
        raise SamlRejected("malformed", "not a SAML 2.0 Response")
    status = root.find("samlp:Status/samlp:StatusCode", NS)
    if status is None or status.get("Value") != "urn:oasis:names:tc:SAML:2.0:status:Success":
        raise SamlRejected("status", "IdP did not report Success")
    found = root.findall(".//saml:Assertion", NS)
    if root.findall(".//saml:EncryptedAssertion", NS):
        raise SamlRejected("malformed", "encrypted assertions are not supported")
    if len(found) != 1:
        raise SamlRejected("wrapped", f"{len(found)} Assertion elements (signature wrapping?)")
    received = found[0]
    if received.getparent() is not root:
        raise SamlRejected("wrapped", "Assertion is not a child of Response")
    issuer = (received.findtext("saml:Issuer", namespaces=NS) or "").strip()
    idp = trusted_idps.get(issuer)
    if idp is None:
        raise SamlRejected("untrusted-issuer", f"no trusted IdP metadata for {issuer!r}")
    if received.find("ds:Signature", NS) is None:
        raise SamlRejected("unsigned", "Assertion carries no signature")
    # the strict verifier (xmldsig.py): the one enveloped RSA-SHA256 / exc-c14n shape, the key from trusted
    # metadata only; the assertion is then read only from the canonical bytes that were digested
    try:
        canonical = xmldsig.verify_enveloped(received, idp.public_keys)
    except xmldsig.SignatureError as err:
        raise SamlRejected("bad-signature", str(err)[:300]) from err
    signed = etree.fromstring(canonical, _PARSER)
    if signed.tag != f"{{{NS['saml']}}}Assertion" or signed.get("ID") != received.get("ID"):
        raise SamlRejected("wrapped", "signature does not cover the Assertion")
    # From here on, only the signed copy is read.
    a = signed
    if (a.findtext("saml:Issuer", namespaces=NS) or "").strip() != issuer:
        raise SamlRejected("untrusted-issuer", "signed Issuer differs")
    resp_issuer = root.findtext("saml:Issuer", namespaces=NS)
    if resp_issuer is not None and resp_issuer.strip() != issuer:
        raise SamlRejected("wrong-issuer", f"Response Issuer {resp_issuer.strip()!r} != Assertion Issuer")
    if root.get("Destination") != acs_url:
        raise SamlRejected("wrong-destination", f"Destination {root.get('Destination')!r} is not {acs_url!r}")
    conf = a.find("saml:Subject/saml:SubjectConfirmation[@Method='urn:oasis:names:tc:SAML:2.0:cm:bearer']"
                  "/saml:SubjectConfirmationData", NS)
    if conf is None:
        raise SamlRejected("malformed", "no bearer SubjectConfirmationData")
    if conf.get("Recipient") != acs_url:
        raise SamlRejected("wrong-destination", f"Recipient {conf.get('Recipient')!r} is not {acs_url!r}")
    cond = a.find("saml:Conditions", NS)
    if cond is None:
        raise SamlRejected("malformed", "no Conditions")
    audiences = [x.text.strip() for x in cond.findall("saml:AudienceRestriction/saml:Audience", NS) if x.text]
    if sp_entity_id not in audiences:
        raise SamlRejected("wrong-audience", f"audience {audiences} does not include {sp_entity_id!r}")
    if cond.get("NotBefore") and now + skew_s < parse_instant(cond.get("NotBefore")):
        raise SamlRejected("not-yet-valid", f"NotBefore {cond.get('NotBefore')}")
    noa = min(parse_instant(x) for x in (cond.get("NotOnOrAfter"), conf.get("NotOnOrAfter")) if x) \
        if (cond.get("NotOnOrAfter") or conf.get("NotOnOrAfter")) else None
    if noa is None:
        raise SamlRejected("malformed", "no NotOnOrAfter")
    if now - skew_s >= noa:
        raise SamlRejected("expired", f"NotOnOrAfter {instant(noa)}")
    irt = conf.get("InResponseTo") or ""
    if root.get("InResponseTo") and root.get("InResponseTo") != irt:
        raise SamlRejected("unknown-in-response-to", "Response and assertion InResponseTo differ")
    attributes: dict[str, list[str]] = {}
    for attr in a.findall("saml:AttributeStatement/saml:Attribute", NS):
        attributes.setdefault(attr.get("Name", ""), []).extend(
            (v.text or "").strip() for v in attr.findall("saml:AttributeValue", NS))
    for name in SINGLE_VALUED:
        if len(attributes.get(name, ())) > 1:
            raise SamlRejected("multi-valued", f"{name} is single-valued but has {len(attributes[name])} values")
    stmt = a.find("saml:AuthnStatement", NS)
    return VerifiedAssertion(issuer=issuer, assertion_id=a.get("ID") or "", in_response_to=irt,
                             name_id=(a.findtext("saml:Subject/saml:NameID", namespaces=NS) or "").strip(),
                             not_on_or_after=noa, attributes=attributes,
                             session_index=stmt.get("SessionIndex", "") if stmt is not None else "",
                             authn_context=(a.findtext("saml:AuthnStatement/saml:AuthnContext/"
                                                       "saml:AuthnContextClassRef", namespaces=NS) or "").strip())


def _key_descriptor(cert_b64: str) -> str:
    return (f'<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="{NS["ds"]}"><ds:X509Data>'
            f'<ds:X509Certificate>{cert_b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>')


def _entity_attributes(attrs: "dict[str, tuple[str, ...]]") -> str:
    if not attrs:
        return ""
    body = "".join(f'<saml:Attribute Name={quoteattr(n)} NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri">'
                   + "".join(f"<saml:AttributeValue>{escape(v)}</saml:AttributeValue>" for v in values)
                   + "</saml:Attribute>" for n, values in attrs.items())
    return (f'<md:Extensions><mdattr:EntityAttributes xmlns:mdattr="{NS["mdattr"]}" xmlns:saml="{NS["saml"]}">'
            f'{body}</mdattr:EntityAttributes></md:Extensions>')


def idp_metadata(entity_id: str, sso_url: str, cert_b64: str, scopes: "tuple[str, ...]" = (),
                 entity_attributes: "dict[str, tuple[str, ...]] | None" = None) -> str:
    """IdP metadata with ``shibmd:Scope`` (the EPPN scopes it may assert) and entity attributes."""
    ext = ("<md:Extensions>" + "".join(f'<shibmd:Scope xmlns:shibmd="{NS["shibmd"]}" regexp="false">'
                                       f"{escape(sc)}</shibmd:Scope>" for sc in scopes) + "</md:Extensions>"
           if scopes else "")
    return (f'<?xml version="1.0"?>\n<md:EntityDescriptor xmlns:md="{NS["md"]}" entityID={quoteattr(entity_id)}>'
            f'{_entity_attributes(entity_attributes or {})}'
            f'<md:IDPSSODescriptor WantAuthnRequestsSigned="false" '
            f'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{ext}{_key_descriptor(cert_b64)}'
            f'<md:NameIDFormat>{NAMEID_TRANSIENT}</md:NameIDFormat>'
            f'<md:NameIDFormat>{NAMEID_PERSISTENT}</md:NameIDFormat>'
            f'<md:SingleSignOnService Binding="{BINDING_REDIRECT}" Location={quoteattr(sso_url)}/>'
            f'</md:IDPSSODescriptor></md:EntityDescriptor>\n')


def sp_metadata(entity_id: str, acs_url: str, cert_b64: str) -> str:
    return (f'<?xml version="1.0"?>\n<md:EntityDescriptor xmlns:md="{NS["md"]}" entityID={quoteattr(entity_id)}>'
            f'<md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true" '
            f'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{_key_descriptor(cert_b64)}'
            f'<md:NameIDFormat>{NAMEID_TRANSIENT}</md:NameIDFormat>'
            f'<md:AssertionConsumerService Binding="{BINDING_POST}" Location={quoteattr(acs_url)} index="0" '
            f'isDefault="true"/></md:SPSSODescriptor></md:EntityDescriptor>\n')


def parse_metadata(data: bytes) -> list[EntityInfo]:
    """Entities of an ``EntityDescriptor`` or ``EntitiesDescriptor`` document (signing keys only)."""
    root = parse_xml(data)
    nodes = [root] if root.tag == f"{{{NS['md']}}}EntityDescriptor" else root.findall(".//md:EntityDescriptor", NS)
    out = []
    for ed in nodes:
        idp, sp = ed.find("md:IDPSSODescriptor", NS), ed.find("md:SPSSODescriptor", NS)
        certs = []
        for role in (idp, sp):
            if role is None:
                continue
            for kd in role.findall("md:KeyDescriptor", NS):
                if kd.get("use", "signing") != "signing":
                    continue
                for c in kd.findall(".//ds:X509Certificate", NS):
                    der = base64.b64decode("".join((c.text or "").split()))
                    certs.append(x509.load_der_x509_certificate(der))
        sso = ""
        if idp is not None:
            for s in idp.findall("md:SingleSignOnService", NS):
                if s.get("Binding") == BINDING_REDIRECT:
                    sso = s.get("Location", "")
        acs: list[str] = []
        if sp is not None:
            services = [s for s in sp.findall("md:AssertionConsumerService", NS) if s.get("Binding") == BINDING_POST]
            services.sort(key=lambda s: (s.get("isDefault") != "true", int(s.get("index", "0") or 0)))
            acs = [s.get("Location", "") for s in services]
        scopes = tuple(((sc.text or "").strip(), sc.get("regexp") in ("true", "1"))
                       for sc in [*ed.findall("md:Extensions/shibmd:Scope", NS),
                                  *(idp.findall("md:Extensions/shibmd:Scope", NS) if idp is not None else [])])
        attrs: dict[str, tuple[str, ...]] = {}
        for at in ed.findall("md:Extensions/mdattr:EntityAttributes/saml:Attribute", NS):
            attrs[at.get("Name", "")] = attrs.get(at.get("Name", ""), ()) + tuple(
                (v.text or "").strip() for v in at.findall("saml:AttributeValue", NS))
        out.append(EntityInfo(entity_id=ed.get("entityID", ""), certs=tuple(certs), sso_redirect=sso,
                              acs_post=tuple(acs), is_idp=idp is not None, is_sp=sp is not None,
                              authn_requests_signed=sp is not None and sp.get("AuthnRequestsSigned") == "true",
                              scopes=scopes, entity_attributes=attrs))
    return out


def post_form(action: str, saml_response: bytes, relay_state: str = "") -> str:
    """The auto-submitting page of the HTTP-POST binding (saml-bindings §3.5.4)."""
    value = base64.b64encode(saml_response).decode()
    relay = (f'<input type="hidden" name="RelayState" value="{html.escape(relay_state, quote=True)}"/>'
             if relay_state else "")
    return ('<!DOCTYPE html><html><head><meta charset="utf-8"><title>Continue</title></head>'
            '<body onload="document.forms[0].submit()">'
            f'<form method="post" action="{html.escape(action, quote=True)}">'
            f'<input type="hidden" name="SAMLResponse" value="{value}"/>{relay}'
            '<noscript><button type="submit">Continue</button></noscript></form></body></html>')
