"""SCIM ``/Bulk`` (RFC 7644 §3.7) for the reference provisioning service:
POST, PUT and DELETE operations on the EGIL resource types in one request.

The body limit (``limits.provisioning_body``, 200 KB as Skolverket's
provisioning API) and ``maxOperations`` are published in
``/ServiceProviderConfig`` so a client sizes its batches to them; each
request counts once against the per-IP write rate (``ratelimit.py``).
Operations run in order; ``failOnErrors`` stops after that many errors
(§3.7.3). ``bulkId`` references (§3.7.2) are not supported: EGIL objects
carry their own ids.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .egil import RESOURCE_TYPES
from .limits import BadRequest, read_json
from .store import Conflict

__all__ = ["handler", "BULK_REQUEST", "BULK_RESPONSE", "MAX_OPERATIONS"]

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
MAX_OPERATIONS = 1000
_PATH = re.compile(r"^/([A-Za-z]+)(?:/([A-Za-z0-9._~:@-]{1,200}))?$")


def handler(stack, authorised, write, error):
    """The ``POST /Bulk`` endpoint, reusing the SCIM module's auth, write and error helpers."""
    from .scim import SCIM_JSON, invalid

    def op_error(op: dict, status: int, detail: str, scim_type: str = "") -> dict:
        body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": str(status), "detail": detail}
        if scim_type:
            body["scimType"] = scim_type
        return {"method": op.get("method", ""), **({"bulkId": op["bulkId"]} if "bulkId" in op else {}),
                "status": str(status), "response": body}

    async def run(op) -> dict:
        if not isinstance(op, dict):
            return op_error({}, 400, "operation must be an object", "invalidSyntax")
        method, m = str(op.get("method", "")).upper(), _PATH.match(str(op.get("path", "")))
        if not m or m.group(1) not in RESOURCE_TYPES:
            return op_error(op, 400, f"bad path {op.get('path')!r}", "invalidPath")
        endpoint, obj_id = m.group(1), m.group(2)
        loc = f"{stack.config.url}/scim/v2/{endpoint}/"
        if method == "DELETE" and obj_id:
            ok = stack.directory.delete(endpoint, obj_id)
            return {"method": method, "location": loc + obj_id, "status": "204"} if ok else \
                op_error(op, 404, f"{endpoint}/{obj_id} not found")
        data = op.get("data")
        if method not in ("POST", "PUT") or (method == "PUT") != bool(obj_id):
            return op_error(op, 400, f"{method} {op.get('path')}: use POST /Type, PUT or DELETE /Type/id",
                            "invalidSyntax")
        problem = invalid(endpoint, data)
        if problem:
            return op_error(op, 400, *problem)
        obj_id = obj_id or str(data.get("id") or data.get("externalId") or "")
        if not re.fullmatch(r"[A-Za-z0-9._~:@-]{1,200}", obj_id):
            return op_error(op, 400, "id (or externalId) must be URL-safe", "invalidValue")
        try:
            stored = await write(endpoint, obj_id, data, method == "PUT")
        except KeyError:
            return op_error(op, 404, f"{endpoint}/{obj_id} not found")
        except Conflict as exc:
            return op_error(op, 409, str(exc), "uniqueness")
        return {"method": method, **({"bulkId": op["bulkId"]} if "bulkId" in op else {}), "location": loc + obj_id,
                "version": stored["meta"]["version"], "status": "201" if method == "POST" else "200"}

    async def bulk(request: Request) -> Response:
        if not authorised(request):
            return error(401, "bearer token required")
        try:
            body = read_json(await request.body(), stack.config.limits.max_json_depth)
        except BadRequest as err:
            return error(400, err.detail, "invalidSyntax")
        if not isinstance(body, dict) or BULK_REQUEST not in (body.get("schemas") or []) \
                or not isinstance(body.get("Operations"), list):
            return error(400, f"a {BULK_REQUEST} with Operations is required", "invalidSyntax")
        ops = body["Operations"]
        if len(ops) > MAX_OPERATIONS:
            return error(413, f"more than {MAX_OPERATIONS} operations")
        fail_on = body.get("failOnErrors")
        fail_on = fail_on if isinstance(fail_on, int) and fail_on > 0 else None
        results, errors = [], 0
        for op in ops:
            res = await run(op)
            results.append(res)
            errors += int(res["status"]) >= 400
            if fail_on is not None and errors >= fail_on:
                break
        return JSONResponse({"schemas": [BULK_RESPONSE], "Operations": results}, media_type=SCIM_JSON)

    return bulk
