"""EGIL client: pushes a ``simulator.roster.Roster`` through a SCIM 2.0 service
provider (RFC 7644 §3.3 create, §3.5.1 replace), in the EGIL profile's order
(school units, users, groups, employments, activities: referenced objects first).

One small function per object type builds its SCIM JSON, so the live engine
(Locust, gevent) can time each push as its own ``provision`` step; ``ScimPusher``
sends them over one keep-alive ``http.client`` connection (stdlib only, so it
works under gevent's monkey-patching too). A push is idempotent: POST, and on
409 ``uniqueness`` PUT the same body to ``/{type}/{id}``.

Provisioning limits (Skolverket's API: 5 writes/s and 10 GETs/s per client IP,
bodies ≤ 200 KB): ``429``/``503`` are waited out for their ``Retry-After``
(without using up attempts, up to ``max_wait_s`` in all); when the service
advertises SCIM ``/Bulk`` (RFC 7644 §3.7) in ``/ServiceProviderConfig``,
``push_roster`` sends the objects in batches sized to its ``maxPayloadSize`` and
``maxOperations``; an object that alone exceeds the body limit is reported
failed (413) without being sent.
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
           "PushOutcome", "PushResult", "ScimPusher", "push_roster", "BulkLimits", "batches", "retry_after_s"]

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
DEFAULT_MAX_BODY = 200_000  # Skolverket's provisioning API


def retry_after_s(value: str | None, default: float = 1.0) -> float:
    """``Retry-After`` as delay-seconds (RFC 9110 §10.2.3); an HTTP-date or garbage counts as ``default``."""
    try:
        return max(0.0, float(value)) if value else default
    except ValueError:
        return default


def school_unit_json(su: SchoolUnit) -> dict:
    return {"schemas": [f"{SIS}:SchoolUnit"], "id": su.id, "externalId": su.id, "displayName": su.name,
            "schoolUnitCode": su.code, "schoolTypes": ["GR"]}


def user_json(p: Person, with_password: bool = True) -> dict:
    body = {"schemas": [CORE_USER, f"{SIS}:User"], "id": p.id, "externalId": p.id, "userName": p.eppn,
            "name": {"givenName": p.given_name, "familyName": p.family_name},
            "displayName": f"{p.given_name} {p.family_name}", "userType": p.affiliation, "active": True,
            f"{SIS}:User": {"enrolments": [{"value": p.school_unit}] if p.affiliation == "student" else []}}
    if with_password and p.password:
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
    throttled: int = 0  # 429/503 answers waited out

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

    @property
    def throttled(self) -> int:
        return sum(o.throttled for o in self.outcomes)
        

@dataclass(frozen=True, slots=True)
class BulkLimits:
    """What ``/ServiceProviderConfig`` says about ``/Bulk`` (RFC 7643 §5)."""

    supported: bool = False
    max_operations: int = 0
    max_payload: int = DEFAULT_MAX_BODY


def bulk_op(method: str, endpoint: str, obj_id: str, body: dict) -> bytes:
    """One encoded ``/Bulk`` operation (RFC 7644 §3.7): a POST to the collection or a PUT to the object."""
    path = f"/{endpoint}" if method == "POST" else f"/{endpoint}/{urllib.parse.quote(obj_id, safe='')}"
    return json.dumps({"method": method, "path": path, "bulkId": f"{endpoint}/{obj_id}", "data": body}).encode()


def batches(items: list[tuple[str, str, dict]], limits: BulkLimits) -> Iterator[list[tuple[str, str, dict, bytes]]]:
    """Greedy batches of (endpoint, id, body, encoded POST op) in order, each request body within the limits
    both as sent (POSTs) and as re-sent when the objects exist (PUTs, whose paths carry the id): a re-push
    of a provisioned roster goes in the same batches."""
    overhead = len(json.dumps({"schemas": [BULK_REQUEST], "Operations": []})) + 16
    batch: list = []
    size = overhead
    for endpoint, obj_id, body in items:
        op = bulk_op("POST", endpoint, obj_id, body)
        cost = max(len(op), len(bulk_op("PUT", endpoint, obj_id, body))) + 1
        if batch and (size + cost > limits.max_payload or len(batch) >= max(1, limits.max_operations)):
            yield batch
            batch, size = [], overhead
        batch.append((endpoint, obj_id, body, op))
        size += cost
    if batch:
        yield batch


class ScimPusher:
    """A SCIM client on one keep-alive connection. Not thread-safe: one per thread/greenlet."""

    def __init__(self, base_url: str, token: str, timeout: float = 30.0, max_attempts: int = 5,
                 max_wait_s: float = 600.0, max_rate: float | None = None):
        u = urllib.parse.urlsplit(base_url.rstrip("/"))
        self.https, self.host, self.prefix = u.scheme == "https", u.netloc, u.path
        self.token, self.timeout, self.max_attempts, self.max_wait_s = token, timeout, max_attempts, max_wait_s
        self.interval = 1.0 / max_rate if max_rate else 0.0  # the client's own pacing (requests/s), if any
        self._last = 0.0
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
        data = body.data if isinstance(body, _Raw) else json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/scim+json"}
        if data is not None:
            headers["Content-Type"] = "application/scim+json"
        if self.interval:
            time.sleep(max(0.0, self._last + self.interval - time.monotonic()))
            self._last = time.monotonic()
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

    def send(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict, dict, int, float]:
        """``request``, waiting out 429/503 for their ``Retry-After`` (up to ``max_wait_s`` in all):
        (status, body, headers, throttled answers, seconds waited)."""
        throttled, waited = 0, 0.0
        while True:
            status, resp, headers = self.request(method, path, body)
            if status not in (429, 503) or waited >= self.max_wait_s:
                return status, resp, headers, throttled, waited
            throttled += 1
            pause = min(retry_after_s(headers.get("retry-after")), 60.0, self.max_wait_s - waited)
            time.sleep(pause)
            waited += pause

    def push(self, endpoint: str, obj_id: str, body: dict, max_body: int = DEFAULT_MAX_BODY) -> PushOutcome:
        """Create or replace one object (bounded attempts for connection errors)."""
        t0, attempts, status, err, throttled = time.perf_counter(), 0, 0, "", 0
        if len(json.dumps(body)) > max_body:
            return PushOutcome(endpoint, obj_id, 413, 0.0, 0, f"over the {max_body} byte body limit: not sent")
        method, path = "POST", f"/{endpoint}"
        while attempts < self.max_attempts:
            attempts += 1
            try:
                status, resp, headers, n, _ = self.send(method, path, body)
                throttled += n
            except (OSError, http.client.HTTPException) as exc:
                status, err = 0, f"{type(exc).__name__}: {exc}"
                time.sleep(min(2.0, 0.1 * 2 ** attempts))
                continue
            if status == 409 and method == "POST":
                method, path = "PUT", f"/{endpoint}/{urllib.parse.quote(obj_id, safe='')}"
                attempts -= 1  # switching to replace is not a retry
                continue
            err = "" if status in (200, 201) else str(resp.get("detail", ""))[:200]
            break
        return PushOutcome(endpoint, obj_id, status, time.perf_counter() - t0, attempts, err, throttled)

    def bulk_limits(self) -> BulkLimits:
        try:
            status, spc, *_ = self.send("GET", "/ServiceProviderConfig")
        except (OSError, http.client.HTTPException):
            return BulkLimits()
        b = spc.get("bulk") or {} if status == 200 else {}
        return BulkLimits(bool(b.get("supported")), int(b.get("maxOperations") or 0),
                          int(b.get("maxPayloadSize") or DEFAULT_MAX_BODY))

    def push_bulk(self, batch: list[tuple[str, str, dict, bytes]], method: str = "POST") -> list[PushOutcome]:
        """One ``/Bulk`` request (POSTs; those that exist, 409, go again as one PUT batch)."""
        t0 = time.perf_counter()
        ops = [bulk_op("PUT", e, i, b) for e, i, b, _ in batch] if method == "PUT" else [x[3] for x in batch]
        payload = b'{"schemas": ["%s"], "Operations": [%s]}' % (BULK_REQUEST.encode(), b",".join(ops))
        try:
            status, resp, _, throttled, _ = self.send_raw("POST", "/Bulk", payload)
        except (OSError, http.client.HTTPException) as exc:
            return [PushOutcome(e, i, 0, 0.0, 1, f"{type(exc).__name__}: {exc}") for e, i, _, _ in batch]
        if status == 413 and len(batch) > 1:  # the service counts bytes differently: halve, still in bulk
            half = len(batch) // 2
            return self.push_bulk(batch[:half], method) + self.push_bulk(batch[half:], method)
        if status != 200:
            return [self.push(e, i, b) for e, i, b, _ in batch]  # no usable bulk answer: one by one
        results = {str(r.get("bulkId")): r for r in resp.get("Operations") or [] if isinstance(r, dict)}
        share = (time.perf_counter() - t0) / len(batch)
        out: dict[str, PushOutcome] = {}
        again = []
        for endpoint, obj_id, body, op in batch:
            r = results.get(f"{endpoint}/{obj_id}") or {}
            code = int(r["status"]) if str(r.get("status", "")).isdigit() else 0
            if code == 409 and method == "POST":
                again.append((endpoint, obj_id, body, op))
                continue
            detail = str((r.get("response") or {}).get("detail", ""))[:200] if code >= 400 else \
                ("" if code else "no result for this operation")
            out[f"{endpoint}/{obj_id}"] = PushOutcome(endpoint, obj_id, code, share, 1, detail,
                                                      throttled if not out else 0)
        if again:
            out.update({f"{o.endpoint}/{o.id}": o for o in self.push_bulk(again, "PUT")})
        return [out[f"{e}/{i}"] for e, i, _, _ in batch]

    def send_raw(self, method: str, path: str, data: bytes):
        """``send`` for an already-encoded JSON body."""
        return self.send(method, path, _Raw(data))


class _Raw(dict):
    """A pre-encoded JSON body that ``request`` passes through."""

    def __init__(self, data: bytes):
        super().__init__()
        self.data = data


def push_roster(roster: Roster, base_url: str, token: str,
                progress: Callable[[PushOutcome], None] | None = None, *, bulk: bool = True,
                max_rate: float | None = None) -> PushResult:
    """Push every object of ``roster`` to ``base_url`` (e.g. ``http://127.0.0.1:8400/scim/v2``), in
    ``/Bulk`` batches sized to the service's limits when it offers them (and ``bulk``), else one by one.

    Raises ``ConnectionError`` after 3 objects in a row could not reach the server at all."""
    pusher, result, unreachable = ScimPusher(base_url, token, max_rate=max_rate), PushResult(), 0
    try:
        limits = pusher.bulk_limits() if bulk else BulkLimits()
        items = list(scim_objects(roster))
        groups = batches(items, limits) if limits.supported else ([(e, i, b, b"")] for e, i, b in items)
        for group in groups:
            fits = [x for x in group if len(x[3]) <= limits.max_payload]
            outcomes = [PushOutcome(e, i, 413, 0.0, 0, f"over the {limits.max_payload} byte body limit: not sent")
                        for e, i, _, op in group if len(op) > limits.max_payload]
            if limits.supported and fits:
                outcomes += pusher.push_bulk(fits)
            else:
                outcomes += [pusher.push(e, i, b, limits.max_payload) for e, i, b, _ in fits]
            for outcome in outcomes:
                result.outcomes.append(outcome)
                if progress is not None:
                    progress(outcome)
                unreachable = unreachable + 1 if outcome.status == 0 else 0
                if unreachable >= 3:
                    raise ConnectionError(f"{base_url}: unreachable ({outcome.error})")
    finally:
        pusher.close()
    return result
