"""EGIL client: pushes a ``simulator.roster.Roster`` through a SCIM 2.0 service
provider (RFC 7644 §3.3 create, §3.5.1 replace), in the EGIL profile's order
(school units, users, groups, employments, activities: referenced objects first).

One small function per object type builds its SCIM JSON, so the live engine
(Locust, gevent) can time each push as its own ``provision`` step; ``ScimPusher``
sends them over one keep-alive ``http.client`` connection (stdlib only, so it
works under gevent's monkey-patching too). A push is idempotent: POST, and on
409 ``uniqueness`` PUT the same body to ``/{type}/{id}``.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Callable, Iterator

from simulator.roster import Activity, Employment, Person, Roster, SchoolUnit, StudentGroup

from .egil import CORE_USER, SIS, TEST_EXT

__all__ = ["school_unit_json", "user_json", "group_json", "employment_json", "activity_json", "scim_objects",
           "PushOutcome", "PushResult", "ScimPusher", "push_roster"]


def school_unit_json(su: SchoolUnit) -> dict:
    return {"schemas": [f"{SIS}:SchoolUnit"], "id": su.id, "externalId": su.id, "displayName": su.name,
            "schoolUnitCode": su.code, "schoolTypes": ["GR"]}


def user_json(p: Person, with_password: bool = True) -> dict:
    body = {"schemas": [CORE_USER, f"{SIS}:User"], "id": p.id, "externalId": p.id, "userName": p.eppn,
            "name": {"givenName": p.given_name, "familyName": p.family_name},
            "displayName": f"{p.given_name} {p.family_name}", "userType": p.affiliation, "active": True,
            f"{SIS}:User": {"enrolments": [{"value": p.school_unit}] if p.affiliation == "student" else []}}
    if with_password:
        body["password"] = p.password  # write-only (RFC 7643 §4.1.1): reference stack only
    return body


def group_json(g: StudentGroup) -> dict:
    return {"schemas": [f"{SIS}:StudentGroup"], "id": g.id, "externalId": g.id, "displayName": g.name,
            "owner": {"value": g.school_unit}, "studentGroupType": "Klass",
            "studentMemberships": [{"value": m} for m in g.members]}


def employment_json(e: Employment) -> dict:
    return {"schemas": [f"{SIS}:Employment"], "id": e.id, "externalId": e.id, "user": {"value": e.person},
            "employedAt": {"value": e.school_unit}, "employmentRole": e.role}


def activity_json(a: Activity) -> dict:
    return {"schemas": [f"{SIS}:Activity", TEST_EXT], "id": a.id, "externalId": a.id, "displayName": a.name,
            "owner": {"value": a.school_unit}, "groups": [{"value": g} for g in a.groups],
            "teachers": [{"value": t} for t in a.teachers], TEST_EXT: {"testProfile": a.test}}


def scim_objects(roster: Roster) -> Iterator[tuple[str, str, dict]]:
    """(endpoint, id, body) for every object, referenced objects first."""
    for su in roster.school_units:
        yield "SchoolUnits", su.id, school_unit_json(su)
    for p in roster.persons:
        yield "Users", p.id, user_json(p)
    for g in roster.groups:
        yield "StudentGroups", g.id, group_json(g)
    for e in roster.employments:
        yield "Employments", e.id, employment_json(e)
    for a in roster.activities:
        yield "Activities", a.id, activity_json(a)


@dataclass(frozen=True, slots=True)
class PushOutcome:
    endpoint: str
    id: str
    status: int  # final HTTP status (201 created, 200 replaced, else failed)
    seconds: float
    attempts: int
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status in (200, 201)


@dataclass
class PushResult:
    outcomes: list[PushOutcome] = field(default_factory=list)

    @property
    def created(self) -> int:
        return sum(o.status == 201 for o in self.outcomes)

    @property
    def replaced(self) -> int:
        return sum(o.status == 200 for o in self.outcomes)

    @property
    def failed(self) -> list[PushOutcome]:
        return [o for o in self.outcomes if not o.ok]


class ScimPusher:
    """A SCIM client on one keep-alive connection. Not thread-safe: one per thread/greenlet."""

    def __init__(self, base_url: str, token: str, timeout: float = 30.0, max_attempts: int = 5):
        u = urllib.parse.urlsplit(base_url.rstrip("/"))
        self.https, self.host, self.prefix = u.scheme == "https", u.netloc, u.path
        self.token, self.timeout, self.max_attempts = token, timeout, max_attempts
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            self._conn = cls(self.host, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict, dict]:
        """(status, JSON body or {}, headers); reconnects once on a dropped keep-alive connection."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/scim+json"}
        if data is not None:
            headers["Content-Type"] = "application/scim+json"
        for retry in (False, True):
            conn = self._connection()
            try:
                conn.request(method, self.prefix + path, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                break
            except (http.client.HTTPException, ConnectionError, OSError):
                self.close()
                if retry:
                    raise
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = {"detail": raw[:200].decode(errors="replace")}
        return resp.status, parsed, {k.lower(): v for k, v in resp.getheaders()}

    def push(self, endpoint: str, obj_id: str, body: dict) -> PushOutcome:
        """Create or replace one object; waits out 503s (``Retry-After``, bounded attempts)."""
        t0, attempts, status, err = time.perf_counter(), 0, 0, ""
        method, path = "POST", f"/{endpoint}"
        while attempts < self.max_attempts:
            attempts += 1
            try:
                status, resp, headers = self.request(method, path, body)
            except (OSError, http.client.HTTPException) as exc:
                status, err = 0, f"{type(exc).__name__}: {exc}"
                time.sleep(min(2.0, 0.1 * 2 ** attempts))
                continue
            if status == 409 and method == "POST":
                method, path = "PUT", f"/{endpoint}/{urllib.parse.quote(obj_id, safe='')}"
                attempts -= 1  # switching to replace is not a retry
                continue
            if status == 503:
                time.sleep(min(5.0, float(headers.get("retry-after", "1") or 1)))
                continue
            err = "" if status in (200, 201) else str(resp.get("detail", ""))[:200]
            break
        return PushOutcome(endpoint, obj_id, status, time.perf_counter() - t0, attempts, err)


def push_roster(roster: Roster, base_url: str, token: str,
                progress: Callable[[PushOutcome], None] | None = None) -> PushResult:
    """Push every object of ``roster`` to ``base_url`` (e.g. ``http://127.0.0.1:8400/scim/v2``).

    Raises ``ConnectionError`` after 3 objects in a row could not reach the server at all."""
    pusher, result, unreachable = ScimPusher(base_url, token), PushResult(), 0
    try:
        for endpoint, obj_id, body in scim_objects(roster):
            outcome = pusher.push(endpoint, obj_id, body)
            result.outcomes.append(outcome)
            if progress is not None:
                progress(outcome)
            unreachable = unreachable + 1 if outcome.status == 0 else 0
            if unreachable >= 3:
                raise ConnectionError(f"{base_url}: unreachable ({outcome.error})")
    finally:
        pusher.close()
    return result
