"""EGIL push: a SCIM 2.0 service provider (RFC 7643 schema, RFC 7644 protocol)
for the EGIL object types (see ``egil.py``), under ``/scim/v2``.

- ``POST /scim/v2/{Users|StudentGroups|SchoolUnits|Activities|Employments}``
  — 201 + ``Location`` + ``ETag``; 409 ``uniqueness`` if the id or userName exists.
- ``GET|PUT|DELETE /scim/v2/{type}/{id}`` — PUT replaces (RFC 7644 §3.5.1) and
  is idempotent (an identical PUT creates no new version); DELETE 204.
- ``GET /scim/v2/{type}?filter=userName eq "x"`` (or ``externalId``),
  ``startIndex``, ``count`` — ListResponse (§3.4.2). Other filters: 400 ``invalidFilter``.
- ``/ServiceProviderConfig``, ``/ResourceTypes``, ``/Schemas`` (§4) — open.
- Errors: ``urn:ietf:params:scim:api:messages:2.0:Error`` with ``status`` and
  ``scimType`` (§3.12). PATCH and bulk are not supported (501).

Auth: ``Authorization: Bearer <token>`` (RFC 6750; token in
``DATA/scim-token``). EGIL wants mutual TLS: put a TLS terminator with client
certificates in front, see docs/stack.md.

``password`` (RFC 7643 §4.1.1, returned "never") is hashed with argon2id at
the stack's cost and kept out of the stored resource.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import uuid

from argon2 import PasswordHasher
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .egil import CORE_USER, RESOURCE_TYPES
from .store import Conflict

__all__ = ["routes", "ERROR", "LIST", "SCIM_JSON"]

log = logging.getLogger("examday.stack.scim")
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SCIM_JSON = "application/scim+json"
PREFIX = "/scim/v2"
_FILTER = re.compile(r'^\s*(userName|externalId)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$', re.I)
MAX_COUNT = 1000


def _json(obj, status: int = 200, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(obj, status, headers=headers, media_type=SCIM_JSON)


def error(status: int, detail: str, scim_type: str | None = None) -> JSONResponse:
    body = {"schemas": [ERROR], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return _json(body, status)


def routes(stack) -> list[Route]:
    directory, cfg = stack.directory, stack.config
    cost = cfg.hasher_cost
    hasher = PasswordHasher(time_cost=cost.time_cost, memory_cost=cost.memory_cost, parallelism=cost.parallelism)
    token = cfg.scim_token.encode()

    def authorised(request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        return auth[:7].lower() == "bearer " and hmac.compare_digest(auth[7:].strip().encode(), token)

    def location(request: Request, endpoint: str, obj_id: str) -> str:
        return f"{stack.config.url}{PREFIX}/{endpoint}/{obj_id}"

    def out(request: Request, endpoint: str, stored: dict, status: int = 200) -> JSONResponse:
        loc = location(request, endpoint, stored["id"])
        body = {**stored, "meta": {**stored["meta"], "location": loc}}
        return _json(body, status, {"ETag": stored["meta"]["version"], **({"Location": loc} if status == 201 else {})})

    async def read_body(request: Request, endpoint: str):
        try:
            data = json.loads(await request.body() or b"null")
        except (ValueError, UnicodeDecodeError):
            return None, error(400, "body is not JSON", "invalidSyntax")
        rt = RESOURCE_TYPES[endpoint]
        if not isinstance(data, dict):
            return None, error(400, "body must be a JSON object", "invalidSyntax")
        if rt.schema not in (data.get("schemas") or []):
            return None, error(400, f"schemas must include {rt.schema}", "invalidSyntax")
        for name, _type, required in rt.attributes:
            if required and data.get(name) in (None, "", [], {}):
                return None, error(400, f"{name} is required", "invalidValue")
        if endpoint == "Users" and not isinstance(data.get("userName"), str):
            return None, error(400, "userName must be a string", "invalidValue")
        data.pop("meta", None)
        return data, None

    def write(endpoint: str, obj_id: str, data: dict, must_exist: bool | None):
        password = data.pop("password", None) if endpoint == "Users" else None
        data.pop("id", None)
        pw_hash = hasher.hash(str(password)) if password is not None else None
        return directory.put(endpoint, obj_id, data, password_hash=pw_hash, must_exist=must_exist)

    def collection(endpoint: str):
        async def handler(request: Request) -> Response:
            if not authorised(request):
                return error(401, "bearer token required")
            if request.method == "POST":
                data, err = await read_body(request, endpoint)
                if err:
                    return err
                obj_id = str(data.get("id") or data.get("externalId") or uuid.uuid4())
                if not re.fullmatch(r"[A-Za-z0-9._~:@-]{1,200}", obj_id):
                    return error(400, "id must be URL-safe", "invalidValue")
                try:
                    stored = await run_in_threadpool(write, endpoint, obj_id, data, False)
                except Conflict as exc:
                    return error(409, str(exc), "uniqueness")
                return out(request, endpoint, stored, 201)
            q = request.query_params
            attr = value = None
            if q.get("filter"):
                m = _FILTER.match(q["filter"])
                if not m:
                    return error(400, "only 'userName eq \"…\"' and 'externalId eq \"…\"' are supported",
                                 "invalidFilter")
                attr = "userName" if m.group(1).lower() == "username" else "externalId"
                value = json.loads(f'"{m.group(2)}"')
            try:
                start, count = max(1, int(q.get("startIndex", 1))), min(MAX_COUNT, max(0, int(q.get("count", 100))))
            except ValueError:
                return error(400, "startIndex and count must be integers", "invalidValue")
            total, items = await run_in_threadpool(directory.find, endpoint, attr, value, start, count)
            return _json({"schemas": [LIST], "totalResults": total, "startIndex": start, "itemsPerPage": len(items),
                          "Resources": [{**o, "meta": {**o["meta"], "location": location(request, endpoint, o["id"])}}
                                        for o in items]})
        return handler

    def resource(endpoint: str):
        async def handler(request: Request) -> Response:
            if not authorised(request):
                return error(401, "bearer token required")
            obj_id = request.path_params["id"]
            if request.method == "GET":
                stored = await run_in_threadpool(directory.get, endpoint, obj_id)
                return out(request, endpoint, stored) if stored else error(404, f"{endpoint}/{obj_id} not found")
            if request.method == "DELETE":
                ok = await run_in_threadpool(directory.delete, endpoint, obj_id)
                return Response(status_code=204) if ok else error(404, f"{endpoint}/{obj_id} not found")
            if request.method == "PUT":
                data, err = await read_body(request, endpoint)
                if err:
                    return err
                try:
                    stored = await run_in_threadpool(write, endpoint, obj_id, data, True)
                except KeyError:
                    return error(404, f"{endpoint}/{obj_id} not found")
                except Conflict as exc:
                    return error(409, str(exc), "uniqueness")
                return out(request, endpoint, stored)
            return error(501, "PATCH is not supported; use PUT")
        return handler

    def spc(request: Request) -> Response:
        return _json({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "documentationUri": "docs/stack.md",
            "patch": {"supported": False}, "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": True, "maxResults": MAX_COUNT}, "changePassword": {"supported": True},
            "sort": {"supported": False}, "etag": {"supported": True},
            "authenticationSchemes": [{"type": "oauthbearertoken", "name": "Bearer token", "primary": True,
                                       "description": "Authorization: Bearer <DATA/scim-token> (RFC 6750)"}],
            "meta": {"resourceType": "ServiceProviderConfig", "location": f"{cfg.url}{PREFIX}/ServiceProviderConfig"}})

    def _rt(rt) -> dict:
        return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"], "id": rt.name, "name": rt.name,
                "endpoint": f"/{rt.endpoint}", "description": rt.description, "schema": rt.schema,
                "schemaExtensions": [{"schema": e, "required": False} for e in rt.extensions],
                "meta": {"resourceType": "ResourceType", "location": f"{cfg.url}{PREFIX}/ResourceTypes/{rt.name}"}}

    def _schema(rt) -> dict:
        attrs = [{"name": n, "type": t, "multiValued": n in ("studentMemberships", "groups", "teachers", "emails",
                                                             "schoolTypes"),
                  "required": r, "caseExact": False, "mutability": "writeOnly" if n == "password" else "readWrite",
                  "returned": "never" if n == "password" else "default",
                  "uniqueness": "server" if n == "userName" else "none"} for n, t, r in rt.attributes]
        return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"], "id": rt.schema, "name": rt.name,
                "description": rt.description, "attributes": attrs,
                "meta": {"resourceType": "Schema", "location": f"{cfg.url}{PREFIX}/Schemas/{rt.schema}"}}

    def listing(items: list) -> JSONResponse:
        return _json({"schemas": [LIST], "totalResults": len(items), "startIndex": 1, "itemsPerPage": len(items),
                      "Resources": items})

    def resource_types(request: Request) -> Response:
        name = request.path_params.get("name")
        items = [_rt(rt) for rt in RESOURCE_TYPES.values()]
        if name is None:
            return listing(items)
        found = [i for i in items if i["id"] == name]
        return _json(found[0]) if found else error(404, f"no resource type {name}")

    def schemas(request: Request) -> Response:
        urn = request.path_params.get("urn")
        items = [_schema(rt) for rt in RESOURCE_TYPES.values()]
        if urn is None:
            return listing(items)
        found = [i for i in items if i["id"] == urn]
        return _json(found[0]) if found else error(404, f"no schema {urn}")

    out_routes = [Route(f"{PREFIX}/ServiceProviderConfig", spc), Route(f"{PREFIX}/ResourceTypes", resource_types),
                  Route(f"{PREFIX}/ResourceTypes/{{name}}", resource_types), Route(f"{PREFIX}/Schemas", schemas),
                  Route(f"{PREFIX}/Schemas/{{urn}}", schemas)]
    for endpoint in RESOURCE_TYPES:
        out_routes.append(Route(f"{PREFIX}/{endpoint}", collection(endpoint), methods=["GET", "POST"]))
        out_routes.append(Route(f"{PREFIX}/{endpoint}/{{id}}", resource(endpoint),
                                methods=["GET", "PUT", "DELETE", "PATCH"]))
    assert CORE_USER == RESOURCE_TYPES["Users"].schema
    return out_routes
