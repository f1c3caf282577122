"""A strict verifier of the one XML-DSig shape SAML Web Browser SSO uses: an enveloped signature over the
element that carries it (W3C xmldsig-core1 §3.2 core validation; saml-core-2.0-os §5.4 SAML's profile of
it), RSA-SHA256 (RFC 6931 §2.3.2), SHA-256 digest, exclusive canonicalisation (W3C xml-exc-c14n) done by
libxml2 through lxml, and the RSA PKCS#1 v1.5 check (RFC 8017 §8.2.2) done by cryptography.

Anything outside that shape is refused rather than interpreted: exactly one ``ds:Signature`` as a child of
the signed element (and none deeper in it), no ``ds:Object``; ``SignedInfo`` = exc-c14n
``CanonicalizationMethod`` + RSA-SHA256 ``SignatureMethod`` + exactly one ``Reference`` whose ``URI`` is
``#`` + the element's ``ID`` (and that ID on no other element of the document, under ``ID``, ``Id`` or
``id``); the transforms exactly enveloped-signature then exc-c14n (an ``InclusiveNamespaces`` prefix list
is honoured); the digest SHA-256. The key is the caller's (from trusted metadata): ``KeyInfo`` is ignored.

``verify_enveloped`` returns the canonical bytes that were digested; the caller reads the signed content
by parsing those bytes and nothing else (the defence against signature wrapping and comment injection:
comments are not in the canonical form, so neither are the text nodes they would split). signxml and the
xmlsec1 command-line tool give the same verdict on a corpus of genuine and forged documents
(``tests/stack/test_stack_signing.py``); this does what they do for this shape, ~5x cheaper than signxml
(no schema validation, one canonicalisation per part, no re-parses).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Sequence

from cryptography.exceptions import InvalidSignature as _InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

__all__ = ["SignatureError", "verify_enveloped", "DS", "EXC_C14N", "RSA_SHA256", "SHA256", "ENVELOPED"]

DS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
_SIGNATURE, _SIGNED_INFO, _SIGNATURE_VALUE, _KEY_INFO = (f"{{{DS}}}{n}" for n in
                                                         ("Signature", "SignedInfo", "SignatureValue", "KeyInfo"))
_C14N_METHOD, _SIG_METHOD, _REFERENCE = (f"{{{DS}}}{n}" for n in
                                         ("CanonicalizationMethod", "SignatureMethod", "Reference"))
_TRANSFORMS, _TRANSFORM, _DIGEST_METHOD, _DIGEST_VALUE = (f"{{{DS}}}{n}" for n in
                                                          ("Transforms", "Transform", "DigestMethod", "DigestValue"))
_INCLUSIVE_NS = f"{{{EXC_C14N}}}InclusiveNamespaces"
_ID_COUNT = etree.XPath("count(//@ID[. = $v] | //@Id[. = $v] | //@id[. = $v])")


class SignatureError(Exception):
    """The signature is missing, malformed, outside the accepted shape, or does not verify."""


def _children(el: etree._Element) -> list[etree._Element]:
    """Element children only (comments and processing instructions are not part of the structure)."""
    return [c for c in el if isinstance(c.tag, str)]


def _only(el: etree._Element, *tags: str) -> list[etree._Element]:
    kids = _children(el)
    if [k.tag for k in kids] != list(tags):
        raise SignatureError(f"{etree.QName(el).localname} must hold exactly "
                             f"{', '.join(etree.QName(t).localname for t in tags) or 'nothing'}")
    return kids


def _text(el: etree._Element) -> str:
    if _children(el):
        raise SignatureError(f"{etree.QName(el).localname} holds elements")
    return "".join(el.itertext())


def _b64(el: etree._Element) -> bytes:
    try:
        return base64.b64decode("".join(_text(el).split()), validate=True)
    except (binascii.Error, ValueError) as err:
        raise SignatureError(f"{etree.QName(el).localname} is not base64") from err


def _exc_c14n_prefixes(method: etree._Element) -> list[str] | None:
    """The ``InclusiveNamespaces`` prefix list of an exc-c14n method (xml-exc-c14n §3), or None."""
    kids = _children(method)
    if not kids:
        return None
    if len(kids) != 1 or kids[0].tag != _INCLUSIVE_NS or set(kids[0].keys()) - {"PrefixList"}:
        raise SignatureError("exclusive c14n takes only an InclusiveNamespaces PrefixList")
    return kids[0].get("PrefixList", "").split() or None


def _c14n(el: etree._Element, prefixes: list[str] | None) -> bytes:
    return etree.tostring(el, method="c14n", exclusive=True, with_comments=False, inclusive_ns_prefixes=prefixes)


def verify_enveloped(element: etree._Element, keys: Sequence[rsa.RSAPublicKey]) -> bytes:
    """Verify the enveloped signature of ``element`` with one of ``keys``; return the canonical bytes of
    ``element`` without its signature (what was digested), or raise ``SignatureError``.

    ``element`` must be in its parsed document (for the ID uniqueness check). Its ``ds:Signature`` child
    is removed from the tree (the enveloped-signature transform, keeping the text after it)."""
    signatures = [c for c in element if c.tag == _SIGNATURE]
    if len(signatures) != 1:
        raise SignatureError(f"{len(signatures)} Signature elements on the signed element")
    if sum(1 for _ in element.iter(_SIGNATURE)) != 1:
        raise SignatureError("a Signature inside the signed element")
    sig = signatures[0]
    parts = _children(sig)
    tags = [p.tag for p in parts]
    if tags not in ([_SIGNED_INFO, _SIGNATURE_VALUE], [_SIGNED_INFO, _SIGNATURE_VALUE, _KEY_INFO]):
        raise SignatureError("Signature must hold SignedInfo, SignatureValue and at most a KeyInfo")
    signed_info, value = parts[0], _b64(parts[1])
    c14n_method, sig_method, reference = _only(signed_info, _C14N_METHOD, _SIG_METHOD, _REFERENCE)
    if c14n_method.get("Algorithm") != EXC_C14N:
        raise SignatureError(f"CanonicalizationMethod {c14n_method.get('Algorithm')!r} is not exclusive c14n")
    if sig_method.get("Algorithm") != RSA_SHA256 or _children(sig_method):
        raise SignatureError(f"SignatureMethod {sig_method.get('Algorithm')!r} is not RSA-SHA256")
    elem_id = element.get("ID") or ""
    if not elem_id or reference.get("URI") != "#" + elem_id:
        raise SignatureError(f"Reference URI {reference.get('URI')!r} is not #{elem_id}")
    if _ID_COUNT(element, v=elem_id) != 1:
        raise SignatureError(f"ID {elem_id!r} is not unique in the document")
    transforms, digest_method, digest_value = _only(reference, _TRANSFORMS, _DIGEST_METHOD, _DIGEST_VALUE)
    enveloped, exclusive = _only(transforms, _TRANSFORM, _TRANSFORM)
    if enveloped.get("Algorithm") != ENVELOPED or _children(enveloped) or exclusive.get("Algorithm") != EXC_C14N:
        raise SignatureError("Transforms must be exactly enveloped-signature, exclusive c14n")
    if digest_method.get("Algorithm") != SHA256 or _children(digest_method):
        raise SignatureError(f"DigestMethod {digest_method.get('Algorithm')!r} is not SHA-256")
    expected = _b64(digest_value)
    signed_info_c14n = _c14n(signed_info, _exc_c14n_prefixes(c14n_method))
    # the enveloped-signature transform: the Signature element leaves the node set, the text after it stays
    tail, before = sig.tail, sig.getprevious()
    if tail:
        if before is not None:
            before.tail = (before.tail or "") + tail
        else:
            element.text = (element.text or "") + tail
    element.remove(sig)
    canonical = _c14n(element, _exc_c14n_prefixes(exclusive))
    if hashlib.sha256(canonical).digest() != expected:
        raise SignatureError("digest of the signed element does not match")
    for key in keys:
        try:
            key.verify(value, signed_info_c14n, padding.PKCS1v15(), hashes.SHA256())
            return canonical
        except (_InvalidSignature, ValueError, TypeError):
            continue
    raise SignatureError("SignatureValue does not verify with the trusted key(s)")
