"""Variants of issue 12's attack classes an outside harness tries (beyond the issue's own examples), each
refused with a 4xx and a reason and leaving no state behind: JSON that RFC 8259 does not allow (NaN,
Infinity, 1e400, duplicate member names, lone surrogates, not UTF-8), SCIM attributes of the wrong JSON type
(RFC 7643 §2) that would poison later reads, malformed PATCH bodies, SS 12000 query parameters the service
does not implement, RelayState / ``next`` open redirects and oversize values
(saml-bindings §3.5.3: at most 80 bytes), base64 tricks in ``SAMLResponse`` (RFC 4648 §3.3), and non-ASCII
digits in an autosave ``seq``. The HTTP-level variants (``X-Forwarded-For`` rotation past the provisioning
rate, bodies trickled or stalled) need a real server: ``benchmarks/stack_abuse.py`` (test_stack_abuse.py)."""

from __future__ import annotations

import base64

import pytest

from stack_helpers import PUPILS, TOKEN
from test_stack_acs import make

AUTH = {"Authorization": f"Bearer {TOKEN}"}
SCIM = {**AUTH, "Content-Type": "application/scim+json"}
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
SIS_USER = "urn:scim:schemas:extension:sis:school:1.0:User"


def _user(name: str, extra: str = "") -> str:
    return '{"schemas": ["%s"], "userName": "%s"%s}' % (USER, name, extra)


BAD_JSON = {
    "NaN": _user("nan@malmo.example", ', "x": NaN'),
    "Infinity": _user("inf@malmo.example", ', "x": -Infinity'),
    "1e400 (inf as float)": _user("big@malmo.example", ', "x": 1e400'),
    "duplicate userName": _user("first@malmo.example", ', "userName": "second@malmo.example"'),
    "lone surrogate in userName": _user("\\ud800@malmo.example"),
    "lone surrogate in password": _user("pw@malmo.example", ', "password": "\\udfff"'),
}


def _listings_work(client) -> None:
    """Every read a later client makes still answers 200 with valid JSON (nothing poisoned was stored)."""
    for path in ("/scim/v2/Users", "/scim/v2/StudentGroups", "/ss12000/persons", "/ss12000/groups"):
        r = client.get(path, headers=AUTH)
        assert r.status_code == 200, (path, r.text)
        r.json()


@pytest.mark.parametrize("case", sorted(BAD_JSON))
def test_json_outside_rfc_8259_is_refused_and_nothing_is_stored(client, case):
    before = client.get("/scim/v2/Users", headers=AUTH).json()["totalResults"]
    r = client.post("/scim/v2/Users", content=BAD_JSON[case].encode(), headers=SCIM)
    assert r.status_code == 400, r.text
    assert r.json()["scimType"] == "invalidSyntax"
    assert client.get("/scim/v2/Users", headers=AUTH).json()["totalResults"] == before
    _listings_work(client)


def test_json_not_in_utf8_is_refused(client):
    for body in (_user("u16@malmo.example").encode("utf-16"), _user("u32@malmo.example").encode("utf-32"),
                 _user("l\xe9@malmo.example").encode("latin-1")):
        r = client.post("/scim/v2/Users", content=body, headers=SCIM)
        assert r.status_code == 400, r.text
    assert client.post("/scim/v2/Users", content=b"\xef\xbb\xbf" + _user("bom@malmo.example").encode(),
                       headers=SCIM).status_code == 201  # RFC 8259 §8.1: a BOM may be ignored


WRONG_TYPES = {
    "schemas as a string": ("Users", {"schemas": USER, "userName": "s@malmo.example"}),
    "userType as an array": ("Users", {"schemas": [USER], "userName": "t@malmo.example", "userType": ["staff"]}),
    "password as an object": ("Users", {"schemas": [USER], "userName": "p@malmo.example", "password": {"a": 1}}),
    "name as a string": ("Users", {"schemas": [USER], "userName": "n@malmo.example", "name": "x"}),
    "extension as an array": ("Users", {"schemas": [USER], "userName": "e@malmo.example", SIS_USER: [1]}),
    "enrolments as a string": ("Users", {"schemas": [USER], "userName": "f@malmo.example",
                                         SIS_USER: {"enrolments": "su-1"}}),
    "emails[].primary as a string": ("Users", {"schemas": [USER], "userName": "m@malmo.example",
                                               "emails": [{"value": "a@b", "primary": "yes"}]}),
    "owner as a string": ("StudentGroups", {"schemas": ["urn:scim:schemas:extension:sis:school:1.0:StudentGroup"],
                                            "displayName": "9X", "owner": "su-1"}),
    "studentMemberships of numbers": ("StudentGroups", {
        "schemas": ["urn:scim:schemas:extension:sis:school:1.0:StudentGroup"], "displayName": "9Y",
        "owner": {"value": "su-1"}, "studentMemberships": [1, 2]}),
    "schoolUnitCode as an object": ("SchoolUnits", {"schemas": ["urn:scim:schemas:extension:sis:school:1.0:SchoolUnit"],
                                                    "displayName": "S", "schoolUnitCode": {"a": 1}}),
}


@pytest.mark.parametrize("case", sorted(WRONG_TYPES))
def test_attributes_of_the_wrong_json_type_are_refused(client, case):
    endpoint, body = WRONG_TYPES[case]
    r = client.post(f"/scim/v2/{endpoint}", json=body, headers=SCIM)
    assert r.status_code == 400, r.text
    assert r.json()["scimType"] in ("invalidValue", "invalidSyntax")
    _listings_work(client)


def test_the_right_types_are_still_accepted(client):
    body = {"schemas": [USER], "userName": "ok@malmo.example", "name": {"givenName": "A", "familyName": "B"},
            "active": True, "emails": [{"value": "a@b", "primary": True}], "userType": "student",
            SIS_USER: {"enrolments": [{"value": "su-1"}]}}
    assert client.post("/scim/v2/Users", json=body, headers=SCIM).status_code == 201
    persons = client.get("/ss12000/persons", headers=AUTH, params={"limit": 1000}).json()["data"]
    assert ["ok@malmo.example"] in [p["eduPersonPrincipalNames"] for p in persons]


ODD_PATCHES = {
    "not a PatchOp": {"Operations": [{"op": "replace", "path": "userName", "value": "x"}]},
    "no Operations": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]},
    "unknown op": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "evil"}]},
    "path not a path": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "replace", "path": "../../x", "value": 1}]},
    "path an object": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                       "Operations": [{"op": "replace", "path": {"a": 1}, "value": 1}]},
    "remove without path": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                            "Operations": [{"op": "remove"}]},
    "add without value": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                          "Operations": [{"op": "add", "path": "displayName"}]},
}


@pytest.mark.parametrize("case", sorted(ODD_PATCHES))
def test_malformed_patch_bodies_are_400(client, case):
    r = client.patch(f"/scim/v2/Users/{PUPILS[0].id}", json=ODD_PATCHES[case], headers=SCIM)
    assert r.status_code == 400, r.text
    assert client.get(f"/scim/v2/Users/{PUPILS[0].id}", headers=AUTH).json()["userName"] == PUPILS[0].eppn


def test_unimplemented_ss12000_query_parameters_are_400(client):
    for params in ({"meta.modified.before": "2020-01-01T00:00:00Z"}, {"sortkey": "DisplayNameAsc"},
                   {"relationship.organisation": "su-1"}, {"limit": "10", "evil": "1"}):
        r = client.get("/ss12000/persons", params=params, headers=AUTH)
        assert r.status_code == 400, (params, r.text)
    assert client.get("/ss12000/deletedEntities", params={"x": "1"}, headers=AUTH).status_code == 400
    for early_and_late in ("0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59"):  # valid RFC 3339
        r = client.get("/ss12000/persons", params={"meta.modified.after": early_and_late}, headers=AUTH)
        assert r.status_code == 200, r.text
    assert client.get("/ss12000/persons", params={"limit": "1"}, headers=AUTH).status_code == 200


OFF_SITE = ["https://evil.example/", "//evil.example/", "/\\evil.example", "/platform/../idp/metadata",
            "/platform//evil.example", "/platform/%2e%2e/idp", "/platform/a%2F%2Fb", "/platform/\r\nX: y",
            "javascript:alert(1)", "/platform/" + "a" * 100]


@pytest.mark.parametrize("relay", OFF_SITE, ids=range(len(OFF_SITE)))
def test_relay_state_must_be_a_short_platform_path(client, config, relay):
    """An off-site, path-escaping or oversize RelayState is refused (400 ``bad-relay-state``) before the
    Response is consumed, so the same genuine Response then logs in with a proper RelayState."""
    xml = make(config, client)
    b64 = base64.b64encode(xml).decode()
    r = client.post("/platform/acs", data={"SAMLResponse": b64, "RelayState": relay}, follow_redirects=False)
    assert r.status_code == 400 and r.headers["x-examday-reject"] == "bad-relay-state", r.text
    assert "set-cookie" not in r.headers or "examday_dnp" not in r.headers["set-cookie"]
    r = client.post("/platform/acs", data={"SAMLResponse": b64, "RelayState": "/platform/api/me"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/platform/api/me"
    r = client.get("/platform/login", params={"next": relay}, follow_redirects=False)
    assert r.status_code == 400 and r.headers["x-examday-reject"] == "bad-relay-state"


def test_saml_response_base64_must_be_canonical(client, config):
    """Characters outside the alphabet, data after the padding and missing padding are ``malformed``;
    MIME line breaks (as OpenSAML wraps at 76) still work."""
    for trick in (lambda s: s[:8] + "!" + s[8:], lambda s: s + "====", lambda s: s + "AAAA" if s.endswith("=")
                  else s + "=AAAA", lambda s: s.rstrip("=")[:-1], lambda s: s.replace("+", "-").replace("/", "_"),
                  lambda s: s + "\u00e9"):
        b64 = base64.b64encode(make(config, client)).decode()
        if trick(b64) == b64:
            continue
        r = client.post("/platform/acs", data={"SAMLResponse": trick(b64)}, follow_redirects=False)
        assert r.status_code == 400 and r.headers["x-examday-reject"] == "malformed", r.text
    b64 = base64.b64encode(make(config, client)).decode()
    wrapped = "\r\n".join(b64[i:i + 76] for i in range(0, len(b64), 76))
    assert client.post("/platform/acs", data={"SAMLResponse": wrapped}, follow_redirects=False).status_code == 303


def test_autosave_seq_takes_ascii_digits_only(client, config):
    b64 = base64.b64encode(make(config, client)).decode()
    assert client.post("/platform/acs", data={"SAMLResponse": b64}, follow_redirects=False).status_code == 303
    for seq in ("\u0663", "\uff13", "1\u0660"):  # Arabic-Indic 3, fullwidth 3, 1 + Arabic-Indic 0
        r = client.post("/platform/api/answers", params={"seq": seq}, content=b"x")
        assert r.status_code == 400 and r.json()["error"] == "bad-seq", (seq, r.text)
    assert client.get("/platform/api/answers").json()["answers"] == []


def test_attribute_lists_are_bounded(client):
    """3000 distinct ``attributes`` paths cost ~6.5 ms per resource on the event loop (6.5 s for a 1000-resource
    page) before the bound; more than 100 distinct paths is 400, repeats of one path count once."""
    many = ",".join(f"a{i}" for i in range(3000))
    for name in ("attributes", "excludedAttributes"):
        for path in ("/scim/v2/Users", f"/scim/v2/Users/{PUPILS[0].id}"):
            r = client.get(path, params={name: many}, headers=AUTH)
            assert r.status_code == 400 and r.json()["scimType"] == "invalidValue", r.text
    r = client.get("/scim/v2/Users", params={"attributes": ",".join(["userName"] * 500)}, headers=AUTH)
    assert r.status_code == 200 and set(r.json()["Resources"][0]) == {"id", "schemas", "userName"}


def test_idp_refuses_a_huge_relay_state(client):
    """The IdP echoes RelayState into its login context and the Response form: over 1 KiB is 400
    ``bad-relay-state`` (saml-bindings §3.4.3 asks senders for 80 bytes); a normal one still gets the login page."""
    import urllib.parse

    from stack_helpers import start_login
    location = start_login(client)
    query = urllib.parse.urlsplit(location).query.split("&RelayState=")[0]
    r = client.get("/idp/sso?" + query + "&RelayState=" + "a" * 30_000)
    assert r.status_code == 400 and "bad-relay-state" in r.text, r.text[:300]
    assert client.get("/idp/sso?" + query + "&RelayState=%2Fplatform%2Fapi%2Fme").status_code == 200
