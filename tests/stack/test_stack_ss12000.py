"""SS 12000 pull: limit + opaque pageToken paging, consistent under concurrent
writes; meta.modified.after deltas; the EGIL-pushed objects as SS 12000 shapes."""

from __future__ import annotations

import datetime as dt
import threading
import time

from simulator.roster import Person
from simulator.stack.egil_client import user_json
from stack_helpers import ROSTER, SU, TOKEN

H = {"Authorization": f"Bearer {TOKEN}"}


def _person(i: int) -> Person:
    return Person(id=f"bulk-{i:04d}", eppn=f"bulk{i:04d}@malmo.example", given_name="B", family_name=str(i),
                  affiliation="student", school_unit=SU.id, password="pw")


def _seed(app, n: int) -> None:
    directory = app.stack.directory
    for i in range(n):
        body = user_json(_person(i))
        body.pop("password")
        directory.put("Users", f"bulk-{i:04d}", {k: v for k, v in body.items() if k != "id"})


def walk(client, collection: str, limit: int, between=None, **params) -> list[dict]:
    out, token, pages = [], None, 0
    while pages < 10_000:
        q = {"limit": limit, **params, **({"pageToken": token} if token else {})}
        r = client.get(f"/ss12000/{collection}", params=q, headers=H)
        assert r.status_code == 200, r.text
        body = r.json()
        out += body["data"]
        pages += 1
        token = body.get("pageToken")
        if not token:
            return out
        if between:
            between(pages)
    raise AssertionError("paging did not end")


def test_collections_in_ss12000_shape(client):
    persons = walk(client, "persons", 100)
    p0 = next(p for p in persons if p["id"] == ROSTER.persons[0].id)
    assert p0["eduPersonPrincipalNames"] == [ROSTER.persons[0].eppn] and p0["meta"]["modified"]
    org = walk(client, "organisations", 10)[0]
    assert org["schoolUnitCode"] == SU.code and org["organisationType"] == "Skolenhet"
    g = next(g for g in walk(client, "groups", 10) if g["id"] == "g-9a")
    assert {m["person"]["id"] for m in g["groupMemberships"]} == {"p-0", "p-1", "p-2"}
    a = next(a for a in walk(client, "activities", 10) if a["id"] == "a-1")
    assert a["groups"] == [{"id": "g-9a"}] and a["testProfile"] == "tiny-test"
    d = walk(client, "duties", 10)[0]
    assert d["person"]["id"] == "t-1" and d["dutyAt"]["id"] == SU.id


def test_paging_returns_everything_once(client, app):
    _seed(app, 25)
    ids = [p["id"] for p in walk(client, "persons", 4)]
    assert len(ids) == len(set(ids)) == 25 + len(ROSTER.persons)


def test_paging_consistent_under_interleaved_writes(client, app):
    """Writes between pages (updates of seen and unseen objects, inserts, a
    delete) never make the walk skip or duplicate an unchanged object."""
    _seed(app, 30)
    directory = app.stack.directory
    before = {p["id"] for p in walk(client, "persons", 100)}
    changed, deleted = set(), set()

    def write(page: int):
        i = page * 3
        for j in (i, i + 1):  # update two objects: one already returned, one maybe not
            if j < 30:
                body = {k: v for k, v in user_json(_person(j)).items() if k not in ("id", "password")}
                body["displayName"] = f"changed at page {page}"
                directory.put("Users", f"bulk-{j:04d}", body)
                changed.add(f"bulk-{j:04d}")
        new = _person(1000 + page)
        directory.put("Users", new.id, {k: v for k, v in user_json(new).items() if k not in ("id", "password")})
        if page == 2:
            directory.delete("Users", "bulk-0029")
            deleted.add("bulk-0029")

    got = walk(client, "persons", 5, between=write)
    ids = [p["id"] for p in got]
    unchanged = before - changed - deleted
    for i in unchanged:
        assert ids.count(i) == 1, i  # exactly once
    for i in changed - deleted:
        assert ids.count(i) >= 1, i  # at least once...
        last = [p for p in got if p["id"] == i][-1]
        assert last["meta"]["modified"] == directory.get("Users", i)["meta"]["lastModified"]  # ...ending current
    assert all(i in ids for i in (f"bulk-{1000 + k:04d}" for k in range(1, 3)))  # inserts during the walk appear


def test_paging_under_a_concurrent_writer_thread(client, app):
    _seed(app, 40)
    directory = app.stack.directory
    before = {p["id"] for p in walk(client, "persons", 100)}
    stop, touched = threading.Event(), set()

    def writer():
        k = 0
        while not stop.is_set() and k < 2000:
            j = k % 40
            if j % 2 == 0:  # only even ids change; odd ones must come back exactly once
                body = {k2: v for k2, v in user_json(_person(j)).items() if k2 not in ("id", "password")}
                body["displayName"] = f"v{k}"
                directory.put("Users", f"bulk-{j:04d}", body)
                touched.add(f"bulk-{j:04d}")
            k += 1
    t = threading.Thread(target=writer)
    t.start()
    try:
        ids = [p["id"] for p in walk(client, "persons", 3)]
    finally:
        stop.set()
        t.join()
    for i in before:
        assert ids.count(i) >= 1, i
        if i not in touched:
            assert ids.count(i) == 1, i


def test_modified_after_delta(client, app):
    directory = app.stack.directory
    time.sleep(0.01)
    mark = dt.datetime.now(dt.timezone.utc).isoformat()
    time.sleep(0.01)
    body = {k: v for k, v in user_json(ROSTER.persons[0]).items() if k not in ("id", "password")}
    directory.put("Users", ROSTER.persons[0].id, {**body, "displayName": "delta"})
    got = walk(client, "persons", 1, **{"meta.modified.after": mark})
    assert [p["id"] for p in got] == [ROSTER.persons[0].id]


def test_deleted_entities(client, app):
    app.stack.directory.delete("Users", "p-2")
    body = client.get("/ss12000/deletedEntities", headers=H).json()
    assert {"id": "p-2", "type": "persons"}.items() <= body["data"][0].items()


def test_errors(client):
    assert client.get("/ss12000/persons").status_code == 401
    assert client.get("/ss12000/persons", params={"limit": 0}, headers=H).status_code == 400
    assert client.get("/ss12000/persons", params={"pageToken": "garbage!"}, headers=H).status_code == 400
    tok = client.get("/ss12000/persons", params={"limit": 1}, headers=H).json()["pageToken"]
    assert client.get("/ss12000/groups", params={"pageToken": tok}, headers=H).status_code == 400
    assert client.get("/ss12000/persons", params={"meta.modified.after": "yesterday"}, headers=H).status_code == 400
