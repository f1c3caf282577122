"""HTML forms as a browser sees them: the IdP's login form, the auto-submitting
SAML form (HTTP-POST binding, saml-bindings-2.0-os §3.5), and meta refresh.

Pure functions over bytes (lxml.html); no network, no Locust. A page that is
not what the step expects raises ``PageMismatch`` with a reason a person can
act on ("login form 'login' not found on IdP page 'Sign in'").

How the login form is found (``targets.login_form``, ``LoginForm``): a
``<form>`` whose ``id`` or ``name`` equals ``form``, or — for IdPs that give
their form neither — whose ``action`` path ends in ``/<form>``. It must hold
a text input named ``username`` and one named ``password`` (the configured
names); every other input (hidden CSRF/context fields, buttons with values) is
submitted as the browser would.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

import lxml.html

__all__ = ["Form", "PageMismatch", "parse", "login_form", "saml_post_form", "saml_form", "first_form", "meta_refresh",
           "page_title", "page_error"]


class PageMismatch(Exception):
    """The page does not contain what the step needs."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class Form:
    action: str  # absolute URL
    method: str  # "GET" | "POST"
    fields: list[tuple[str, str]]

    def set(self, name: str, value: str) -> None:
        self.fields = [(k, value if k == name else v) for k, v in self.fields]

    def value(self, name: str) -> str | None:
        return next((v for k, v in self.fields if k == name), None)

    def encoded(self) -> bytes:
        return urllib.parse.urlencode(self.fields).encode()


def parse(body: bytes):
    if not body or not body.strip():
        raise PageMismatch("empty page")
    try:
        return lxml.html.fromstring(body)
    except (ValueError, lxml.etree.ParserError) as err:
        raise PageMismatch(f"unreadable HTML ({err})") from None


def page_title(doc) -> str:
    t = doc.findtext(".//title") or doc.findtext(".//h1") or ""
    return " ".join(t.split())[:60]


def page_error(doc) -> str:
    """The visible error message of a form page (class 'error'/'alert' or role=alert), if any."""
    for el in doc.xpath('//*[@role="alert" or contains(@class,"error") or contains(@class,"alert")]'):
        text = " ".join(el.text_content().split())
        if text:
            return text[:120]
    return ""


def _fields(form) -> list[tuple[str, str]]:
    out = []
    for el in form.xpath(".//input|.//select|.//textarea"):
        name = el.get("name")
        if not name or el.get("disabled") is not None:
            continue
        tag, typ = el.tag, (el.get("type") or "text").lower()
        if tag == "input" and typ in ("submit", "button", "image", "reset", "file"):
            continue
        if tag == "input" and typ in ("checkbox", "radio") and el.get("checked") is None:
            continue
        if tag == "select":
            opts = el.xpath(".//option[@selected]") or el.xpath(".//option")
            value = (opts[0].get("value") or opts[0].text or "") if opts else ""
        elif tag == "textarea":
            value = el.text or ""
        else:
            value = el.get("value", "on" if typ in ("checkbox", "radio") else "")
        out.append((name, value))
    return out


def _form(form, page_url: str) -> Form:
    action = urllib.parse.urljoin(page_url, form.get("action") or page_url)
    return Form(action, (form.get("method") or "GET").upper(), _fields(form))


def login_form(body: bytes, page_url: str, form: str = "login", username: str = "username",
               password: str = "password", doc=None) -> Form:
    """The IdP's login form with its fields; PageMismatch when the page is something else."""
    doc = parse(body) if doc is None else doc
    forms = doc.xpath("//form")
    found = [f for f in forms if form in (f.get("id"), f.get("name"))]
    if not found:
        found = [f for f in forms
                 if urllib.parse.urlsplit(f.get("action") or "").path.rstrip("/").endswith("/" + form)]
    if not found:
        seen = ", ".join(f.get("id") or f.get("name") or (f.get("action") or "?") for f in forms) or "no forms"
        raise PageMismatch(f"login form {form!r} not found on IdP page {page_title(doc)!r} ({seen})")
    f = found[0]
    names = {el.get("name") for el in f.xpath(".//input")}
    for want in (username, password):
        if want not in names:
            raise PageMismatch(f"login form {form!r} has no field {want!r} "
                               f"(fields: {', '.join(sorted(n for n in names if n)) or 'none'})")
    result = _form(f, page_url)
    if not any(k == username for k, _ in result.fields):
        result.fields.append((username, ""))
    if not any(k == password for k, _ in result.fields):
        result.fields.append((password, ""))
    return result


def saml_post_form(body: bytes, page_url: str, doc=None) -> Form:
    """The auto-submitting form that carries ``SAMLResponse`` to the SP's ACS."""
    doc = parse(body) if doc is None else doc
    for f in doc.xpath("//form"):
        if f.xpath('.//input[@name="SAMLResponse"]'):
            return _form(f, page_url)
    err = page_error(doc)
    raise PageMismatch(f"no SAMLResponse form on IdP page {page_title(doc)!r}" + (f": {err}" if err else ""))


def first_form(body: bytes, page_url: str = "") -> Form | None:
    """The page's first ``<form>`` with its fields (None when there is none or the page is not HTML)."""
    try:
        found = parse(body).xpath("//form")
    except PageMismatch:
        return None
    return _form(found[0], page_url) if found else None


def saml_form(doc, page_url: str) -> Form | None:
    """The page's auto-submitting SAML form (``SAMLResponse`` or ``SAMLRequest``, HTTP-POST binding), if any."""
    for f in doc.xpath("//form"):
        if f.xpath('.//input[@name="SAMLResponse" or @name="SAMLRequest"]'):
            return _form(f, page_url)
    return None


def meta_refresh(doc, page_url: str) -> str | None:
    """The URL of ``<meta http-equiv="refresh" content="N;url=...">``, if any."""
    for m in doc.xpath('//meta[translate(@http-equiv,"REFSH","refsh")="refresh"]'):
        content = m.get("content") or ""
        _, _, rest = content.partition(";")
        rest = rest.strip()
        if rest.lower().startswith("url="):
            return urllib.parse.urljoin(page_url, rest[4:].strip("'\" "))
    return None
