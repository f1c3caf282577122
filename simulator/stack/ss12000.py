"""SS 12000 pull API (the subset of skolverket/dnp-ss12000-reference-api
``openapi.yml`` that DNP reads), served from the same store EGIL writes.

``GET /ss12000/{organisations|persons|groups|activities|duties}`` with
``limit`` (1–1000, default 100), an opaque ``pageToken`` and
``meta.modified.after`` (RFC 3339) for deltas; answer
``{"data": [...], "pageToken": "…"}`` (no token on the last page).
``GET /ss12000/deletedEntities[?after=…]`` lists deletions.

Paging is keyset paging on the store's global revision: the token carries the
last revision returned, so writes during a walk never shift a page (no skips,
no duplicates of unchanged objects; an object changed mid-walk is returned
again later at its new version). Auth: the SCIM bearer token.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import json
import math

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .egil import SIS, TEST_EXT, ref, refs

__all__ = ["routes", "COLLECTIONS", "to_ss12000"]

COLLECTIONS = {"organisations": "SchoolUnits", "persons": "Users", "groups": "StudentGroups",
               "activities": "Activities", "duties": "Employments"}


def to_ss12000(collection: str, o: dict) -> dict:
    meta = {"created": o["meta"]["created"], "modified": o["meta"]["lastModified"]}
    if collection == "organisations":
        return {"id": o["id"], "displayName": o.get("displayName", ""), "organisationType": "Skolenhet",
                "schoolUnitCode": o.get("schoolUnitCode", ""), "meta": meta}
    if collection == "persons":
        name = o.get("name") or {}
        return {"id": o["id"], "givenName": name.get("givenName", ""), "familyName": name.get("familyName", ""),
                "eduPersonPrincipalNames": [o.get("userName", "")],
                "enrolments": [{"enroledAt": {"id": u}} for u in refs(o.get(f"{SIS}:User") or {}, "enrolments")],
                "meta": meta}
    if collection == "groups":
        return {"id": o["id"], "displayName": o.get("displayName", ""),
                "groupType": o.get("studentGroupType", "Klass"), "organisation": {"id": ref(o, "owner")},
                "groupMemberships": [{"person": {"id": p}} for p in refs(o, "studentMemberships")], "meta": meta}
    if collection == "activities":
        return {"id": o["id"], "displayName": o.get("displayName", ""), "organisation": {"id": ref(o, "owner")},
                "groups": [{"id": g} for g in refs(o, "groups")],
                "teachers": [{"person": {"id": t}} for t in refs(o, "teachers")],
                "testProfile": (o.get(TEST_EXT) or {}).get("testProfile", ""), "meta": meta}
    return {"id": o["id"], "person": {"id": ref(o, "user")}, "dutyAt": {"id": ref(o, "employedAt")},
            "dutyRole": o.get("employmentRole", "Lärare"), "meta": meta}


def _bad(detail: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"code": "BadRequest" if status == 400 else "Unauthorized", "message": detail}, status)


def _time(text: str) -> float:
    """RFC 3339 date-time -> epoch seconds (``ValueError`` otherwise, also for instants outside the
    representable years 1-9999 once the offset is applied)."""
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    try:
        return value.timestamp()
    except (OverflowError, OSError) as err:
        raise ValueError(f"{text!r} is out of range") from err


#: The query parameters each endpoint implements. Any other one is refused (400) rather than ignored: an
#: unimplemented SS 12000 filter (``meta.modified.before``, ``relationship.*``, ``sortkey`` ...) silently
#: ignored would answer with data the client did not ask for.
PAGE_PARAMS = frozenset({"limit", "pageToken", "meta.modified.after"})
DELETED_PARAMS = frozenset({"after"})


def _unknown(request: Request, known: frozenset) -> str:
    return ", ".join(sorted({k for k in request.query_params.keys() if k not in known}))[:200]


MAX_REV = 2 ** 63 - 1


def _read_token(token: str, collection: str) -> tuple[int, float | None]:
    """(revision, modified-after) from a pageToken this service issued; anything else is ``ValueError``."""
    if len(token) > 512:
        raise ValueError("pageToken too long")
    tok = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    if tok["c"] != collection:
        raise ValueError("token of another collection")
    rev, modified = tok["r"], tok.get("m")
    if type(rev) is not int or not 0 <= rev <= MAX_REV:
        raise ValueError("bad revision")
    if modified is not None and (type(modified) not in (int, float) or not math.isfinite(modified)):
        raise ValueError("bad modified-after")
    return rev, modified


def routes(stack) -> list[Route]:
    directory, token = stack.directory, stack.config.scim_token.encode()

    def authorised(request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        return auth[:7].lower() == "bearer " and hmac.compare_digest(auth[7:].strip().encode(), token)

    def collection(name: str):
        rtype = COLLECTIONS[name]

        def page(request: Request) -> Response:
            if not authorised(request):
                return _bad("bearer token required", 401)
            q = request.query_params
            if unknown := _unknown(request, PAGE_PARAMS):
                return _bad(f"unsupported query parameter(s): {unknown} (supported: limit, pageToken, "
                            "meta.modified.after)")
            try:
                limit = int(q.get("limit", 100))
            except ValueError:
                return _bad("limit must be an integer")
            if not 1 <= limit <= 1000:
                return _bad("limit must be 1..1000")
            after_rev, modified_after = 0, None
            if q.get("pageToken"):
                try:
                    after_rev, modified_after = _read_token(q["pageToken"], name)
                except (ValueError, KeyError, TypeError, RecursionError):
                    return _bad("invalid pageToken")
            elif q.get("meta.modified.after"):
                try:
                    modified_after = _time(q["meta.modified.after"])
                except ValueError:
                    return _bad("meta.modified.after must be an RFC 3339 date-time")
            items, next_rev = directory.page(rtype, after_rev, limit, modified_after)
            body: dict = {"data": [to_ss12000(name, o) for o in items]}
            if next_rev is not None:
                body["pageToken"] = base64.urlsafe_b64encode(json.dumps(
                    {"c": name, "r": next_rev, "m": modified_after}).encode()).decode().rstrip("=")
            return JSONResponse(body)
        return page

    async def deleted(request: Request) -> Response:
        if not authorised(request):
            return _bad("bearer token required", 401)
        if unknown := _unknown(request, DELETED_PARAMS):
            return _bad(f"unsupported query parameter(s): {unknown} (supported: after)")
        after = request.query_params.get("after")
        try:
            rows = await run_in_threadpool(directory.deleted, _time(after) if after else None)
        except ValueError:
            return _bad("after must be an RFC 3339 date-time")
        inverse = {v: k for k, v in COLLECTIONS.items()}
        return JSONResponse({"data": [{"id": i, "type": inverse.get(t, t),
                                       "deletedAt": dt.datetime.fromtimestamp(d, dt.timezone.utc).isoformat()}
                                      for t, i, d in rows]})

    return [Route(f"/ss12000/{name}", collection(name)) for name in COLLECTIONS] + [
        Route("/ss12000/deletedEntities", deleted)]
