"""Compliance-style checks of the EGIL SCIM endpoint against RFC 7644 core
behaviours (create, get, replace, delete, filter, list, errors, discovery),
written here because no external SCIM checker can be fetched offline."""

from __future__ import annotations

import pytest

from simulator.roster import Person
from simulator.stack.egil import CORE_USER, RESOURCE_TYPES
from simulator.stack.egil_client import push_roster, user_json
from stack_helpers import ROSTER, SU, TOKEN

H = {"Authorization": f"Bearer {TOKEN}"}
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
NEW = Person(id="p-new", eppn="p-new@malmo.example", given_name="Ny", family_name="Elev", affiliation="student",
             school_unit=SU.id, password="s3cret")


def _error(r, status: int, scim_type: str | None = None):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/scim+json")
    body = r.json()
    assert body["schemas"] == [ERROR] and body["status"] == str(status)
    if scim_type:
        assert body["scimType"] == scim_type


def test_auth_required(client):
    _error(client.get("/scim/v2/Users"), 401)
    _error(client.get("/scim/v2/Users", headers={"Authorization": "Bearer wrong"}), 401)
    _error(client.post("/scim/v2/Users", json=user_json(NEW)), 401)


def test_create_returns_201_location_etag_and_never_the_password(client):
    r = client.post("/scim/v2/Users", json=user_json(NEW), headers=H)
    assert r.status_code == 201
    body = r.json()
    assert r.headers["location"] == body["meta"]["location"] == f"http://testserver/scim/v2/Users/{NEW.id}"
    assert r.headers["etag"] == body["meta"]["version"]
    assert body["id"] == NEW.id and body["userName"] == NEW.eppn and "password" not in body
    assert body["meta"]["resourceType"] == "User" and body["meta"]["created"]
    got = client.get(f"/scim/v2/Users/{NEW.id}", headers=H)
    assert got.status_code == 200 and got.json() == body and "password" not in got.text


def test_duplicate_create_is_409_uniqueness(client):
    client.post("/scim/v2/Users", json=user_json(NEW), headers=H)
    _error(client.post("/scim/v2/Users", json=user_json(NEW), headers=H), 409, "uniqueness")
    clash = {**user_json(NEW), "id": "other-id", "externalId": "other-id"}
    _error(client.post("/scim/v2/Users", json=clash, headers=H), 409, "uniqueness")


def test_replace_is_idempotent_and_changes_what_it_should(client):
    client.post("/scim/v2/Users", json=user_json(NEW), headers=H)
    changed = {**user_json(NEW), "displayName": "Ny Elev Ändrad"}
    r1 = client.put(f"/scim/v2/Users/{NEW.id}", json=changed, headers=H)
    r2 = client.put(f"/scim/v2/Users/{NEW.id}", json=changed, headers=H)
    assert r1.status_code == r2.status_code == 200
    assert r1.json() == r2.json()  # same version: no new revision for an identical PUT
    assert r1.json()["displayName"] == "Ny Elev Ändrad"
    assert client.get(f"/scim/v2/Users/{NEW.id}", headers=H).json()["meta"]["version"] == r1.json()["meta"]["version"]
    _error(client.put("/scim/v2/Users/missing", json=changed, headers=H), 404)


def test_replace_drops_attributes_not_sent(client):
    client.post("/scim/v2/Users", json=user_json(NEW), headers=H)
    body = {k: v for k, v in user_json(NEW).items() if k != "displayName"}
    assert "displayName" not in client.put(f"/scim/v2/Users/{NEW.id}", json=body, headers=H).json()


def test_password_changes_through_put(client):
    from simulator.stack.walk import login
    client.post("/scim/v2/Users", json=user_json(NEW), headers=H)
    client.put(f"/scim/v2/Users/{NEW.id}", json={**user_json(NEW), "password": "n3w"}, headers=H)
    login(client, "http://testserver", NEW.eppn, "n3w")


def test_delete(client):
    client.post("/scim/v2/Users", json=user_json(NEW), headers=H)
    assert client.delete(f"/scim/v2/Users/{NEW.id}", headers=H).status_code == 204
    _error(client.get(f"/scim/v2/Users/{NEW.id}", headers=H), 404)
    _error(client.delete(f"/scim/v2/Users/{NEW.id}", headers=H), 404)


def test_filter_eq_on_username_and_external_id(client):
    for f in (f'userName eq "{ROSTER.persons[0].eppn}"', f'externalId eq "{ROSTER.persons[0].id}"',
              f'USERNAME EQ "{ROSTER.persons[0].eppn}"'):
        r = client.get("/scim/v2/Users", params={"filter": f}, headers=H)
        body = r.json()
        assert r.status_code == 200 and body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]
        assert body["totalResults"] == 1 and body["Resources"][0]["id"] == ROSTER.persons[0].id
    assert client.get("/scim/v2/Users", params={"filter": 'userName eq "nobody"'}, headers=H).json()[
        "totalResults"] == 0
    _error(client.get("/scim/v2/Users", params={"filter": 'name.givenName co "x"'}, headers=H), 400, "invalidFilter")


def test_list_paging_with_start_index_and_count(client):
    total = len(ROSTER.persons)
    seen = []
    for start in range(1, total + 1, 2):
        body = client.get("/scim/v2/Users", params={"startIndex": start, "count": 2}, headers=H).json()
        assert body["totalResults"] == total and body["startIndex"] == start
        seen += [u["id"] for u in body["Resources"]]
    assert sorted(seen) == sorted(p.id for p in ROSTER.persons)


def test_bad_bodies(client):
    _error(client.post("/scim/v2/Users", content=b"{not json", headers={**H, "Content-Type": "application/scim+json"}),
           400, "invalidSyntax")
    _error(client.post("/scim/v2/Users", json={"userName": "x"}, headers=H), 400, "invalidSyntax")  # no schemas
    _error(client.post("/scim/v2/Users", json={"schemas": [CORE_USER]}, headers=H), 400, "invalidValue")
    _error(client.patch(f"/scim/v2/Users/{ROSTER.persons[0].id}", json={}, headers=H), 400, "invalidSyntax")  # no PatchOp
    patch = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations": [{"op": "replace", "path": "displayName", "value": "x"}]}
    _error(client.patch(f"/scim/v2/Users/{ROSTER.persons[0].id}", json=patch, headers=H), 501)  # RFC 7644 §3.12


@pytest.mark.parametrize("endpoint", sorted(RESOURCE_TYPES))
def test_every_egil_type_round_trips(client, endpoint):
    body = client.get(f"/scim/v2/{endpoint}", headers=H).json()
    assert body["totalResults"] >= 1
    one = body["Resources"][0]
    assert client.get(f"/scim/v2/{endpoint}/{one['id']}", headers=H).json() == one


def test_discovery(client):
    spc = client.get("/scim/v2/ServiceProviderConfig").json()
    assert spc["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]
    assert spc["filter"]["supported"] is True and spc["patch"]["supported"] is False
    assert spc["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    rts = client.get("/scim/v2/ResourceTypes").json()
    names = {rt["name"] for rt in rts["Resources"]}
    assert names == {"User", "SchoolUnit", "StudentGroup", "Employment", "Activity"}
    for rt in rts["Resources"]:
        assert client.get(f"/scim/v2/ResourceTypes/{rt['name']}").json()["schema"] == rt["schema"]
        schema = client.get(f"/scim/v2/Schemas/{rt['schema']}").json()
        assert schema["id"] == rt["schema"] and schema["attributes"]
    user_schema = client.get(f"/scim/v2/Schemas/{CORE_USER}").json()
    pw = next(a for a in user_schema["attributes"] if a["name"] == "password")
    assert pw["mutability"] == "writeOnly" and pw["returned"] == "never"
    _error(client.get("/scim/v2/Schemas/urn:nope"), 404)


def test_push_roster_client_is_idempotent(client):
    """The EGIL client over real HTTP is covered in test_stack_e2e; here: the POST→409→PUT path."""
    from simulator.stack.egil_client import ScimPusher
    pusher = ScimPusher.__new__(ScimPusher)  # route the pusher's requests through the TestClient
    pusher.max_attempts = 5

    def request(method, path, body=None):
        r = client.request(method, "/scim/v2" + path, json=body, headers=H)
        return r.status_code, (r.json() if r.content else {}), {k.lower(): v for k, v in r.headers.items()}
    pusher.request = request
    first = pusher.push("Users", NEW.id, user_json(NEW))
    again = pusher.push("Users", NEW.id, user_json(NEW))
    assert (first.status, again.status) == (201, 200) and again.attempts == 1
    assert push_roster  # exported
