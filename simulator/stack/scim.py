"""EGIL push: a SCIM 2.0 service provider (RFC 7643 schema, RFC 7644 protocol)
for the EGIL object types (see ``egil.py``), under ``/scim/v2``.

- ``POST /scim/v2/{Users|StudentGroups|SchoolUnits|Activities|Employments}``
  — 201 + ``Location`` + ``ETag``; 409 ``uniqueness`` if the id or userName exists.
- ``GET|PUT|DELETE /scim/v2/{type}/{id}`` — PUT replaces (RFC 7644 §3.5.1) and
  is idempotent (an identical PUT creates no new version); DELETE 204.
- ``GET /scim/v2/{type}?filter=userName eq "x"`` (or ``externalId``),
  ``startIndex``, ``count`` — ListResponse (§3.4.2). Other filters: 400 ``invalidFilter``.
- ``attributes`` / ``excludedAttributes`` (§3.4.2.5, §3.9) on every response
  that returns resources (``id`` and ``schemas`` always come back).
- ``/ServiceProviderConfig``, ``/ResourceTypes``, ``/Schemas`` (§4) — open;
  ``/Schemas`` also publishes the extension schemas the resource types name.
- Errors: ``urn:ietf:params:scim:api:messages:2.0:Error`` with ``status`` and
  ``scimType`` (§3.12), also for unknown paths (404) and methods (405). PATCH
  and ``POST /.search`` are not supported (501).
- ``POST /scim/v2/Bulk`` (§3.7, ``bulk.py``): POST/PUT/DELETE operations in one
  body of at most 200 KB (Skolverket's limit), so a client can batch within it.

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
from starlette.routing import Match, Route

from . import bulk
from .egil import CORE_USER, RESOURCE_TYPES, SCHEMA_EXTENSIONS
from .limits import BadRequest, read_json
from .store import Conflict

__all__ = ["routes", "ERROR", "LIST", "SCIM_JSON"]

log = logging.getLogger("examday.stack.scim")
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SCIM_JSON = "application/scim+json"
PREFIX = "/scim/v2"
_FILTER = re.compile(r'^\s*(userName|externalId)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$', re.I)
MAX_COUNT = 1000
MAX_START = 2 ** 31 - 1


def filter_value(quoted: str) -> str:
    """The JSON string literal of a filter (RFC 7644 §3.4.2.2: values are JSON); invalid escapes and lone
    surrogates (not storable UTF-8) are ``ValueError``."""
    value = json.loads(f'"{quoted}"')
    value.encode("utf-8")  # UnicodeEncodeError (a ValueError) on "\ud800"
    return value


def _json(obj, status: int = 200, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(obj, status, headers=headers, media_type=SCIM_JSON)


def error(status: int, detail: str, scim_type: str | None = None) -> JSONResponse:
    body = {"schemas": [ERROR], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return _json(body, status)


ALWAYS = ("id", "schemas")  # returned "always" (RFC 7643 §3.1)


def _paths(spec: str, core: str, schemas: list) -> list[tuple[str, ...]]:
    """``attributes``/``excludedAttributes`` (RFC 7644 §3.10 attribute notation) -> key paths: ``name.givenName``
    -> (name, givenName); ``<core URN>:userName`` -> (userName,); ``<extension URN>:x`` -> (URN, x)."""
    urns = sorted({core, *(u for u in schemas if isinstance(u, str))}, key=len, reverse=True)
    out = []
    for raw in filter(None, (x.strip() for x in spec.split(","))):
        for urn in urns:
            if raw.lower() == urn.lower():
                out.append(() if urn == core else (urn,))
                break
            if raw.lower().startswith(urn.lower() + ":"):
                rest = tuple(raw[len(urn) + 1:].split("."))
                out.append(rest if urn == core else (urn, *rest))
                break
        else:
            out.append(tuple(raw.split(".")))
    return list(dict.fromkeys(out))


MAX_ATTRIBUTE_PATHS = 100  # attributes/excludedAttributes: each path is matched against every key of every resource


def attribute_params_problem(query) -> str | None:
    """``attributes``/``excludedAttributes`` with more than ``MAX_ATTRIBUTE_PATHS`` distinct paths: a 30 kB list of
    paths on a 1000-resource page would be ~10^8 comparisons on the event loop."""
    for name in ("attributes", "excludedAttributes"):
        spec = query.get(name)
        if spec and len({x.strip() for x in spec.split(",")}) > MAX_ATTRIBUTE_PATHS:
            return f"{name} lists more than {MAX_ATTRIBUTE_PATHS} attribute paths"
    return None


def _subs(key: str, paths: list) -> list[tuple[str, ...]]:
    return [p[1:] for p in paths if p and p[0].lower() == key.lower()]


def _keep(node, paths: list):
    if isinstance(node, list):
        return [_keep(x, paths) for x in node]
    if not isinstance(node, dict) or () in paths:
        return node
    return {k: v if () in subs else _keep(v, subs) for k, v in node.items() if (subs := _subs(k, paths))}


def _drop(node, paths: list):
    if isinstance(node, list):
        return [_drop(x, paths) for x in node]
    if not isinstance(node, dict):
        return node
    return {k: _drop(v, subs) for k, v in node.items() if () not in (subs := _subs(k, paths))}


def project(obj: dict, core: str, attributes: str | None, excluded: str | None) -> dict:
    """A partial representation (RFC 7644 §3.4.2.5, §3.9): ``attributes`` wins over ``excludedAttributes``;
    ``id`` and ``schemas`` are always returned."""
    if attributes:
        paths = _paths(attributes, core, obj.get("schemas") or [])
        return {**{k: obj[k] for k in ALWAYS if k in obj}, **(obj if () in paths else _keep(obj, paths))}
    if excluded:
        paths = [p for p in _paths(excluded, core, obj.get("schemas") or []) if p]
        return {**_drop(obj, paths), **{k: obj[k] for k in ALWAYS if k in obj}}
    return obj


def invalid(endpoint: str, data) -> tuple[str, str] | None:
    """(detail, scimType) when ``data`` is not a writable resource of ``endpoint``; drops ``meta``."""
    rt = RESOURCE_TYPES[endpoint]
    if not isinstance(data, dict):
        return "body must be a JSON object", "invalidSyntax"
    schemas = data.get("schemas")
    if not isinstance(schemas, list) or not all(isinstance(u, str) for u in schemas) or rt.schema not in schemas:
        return f"schemas must be a list of URNs including {rt.schema}", "invalidSyntax"
    for a in rt.attributes:
        if a.required and data.get(a.name) in (None, "", [], {}):
            return f"{a.name} is required", "invalidValue"
    problem = _typed(rt.attributes, data, "")
    for urn in rt.extensions:
        if problem is None and urn in data:
            ext = data[urn]
            problem = _typed(SCHEMA_EXTENSIONS[urn].attributes, ext, urn + ":") if isinstance(ext, dict) else \
                f"{urn} must be an object"
    if problem:
        return problem, "invalidValue"
    data.pop("meta", None)
    return None


PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
_ATTR_PATH = re.compile(r"(?:urn:[A-Za-z0-9:._-]+:)?[A-Za-z][A-Za-z0-9$_-]*(?:\[[^\[\]]{1,1000}\])?"
                        r"(?:\.[A-Za-z][A-Za-z0-9$_-]*)?")


def patch_problem(body) -> tuple[str, str] | None:
    """(detail, scimType) when ``body`` is not a well-formed PatchOp (RFC 7644 §3.5.2): ``schemas`` with the
    PatchOp URN, a non-empty ``Operations`` array of ``add``/``remove``/``replace`` with an attribute ``path``
    (required for ``remove``) and a ``value`` (required for ``add``/``replace``)."""
    if not isinstance(body, dict) or not isinstance(body.get("schemas"), list) or PATCH_OP not in body["schemas"]:
        return f"a PatchOp ({PATCH_OP}) body is required", "invalidSyntax"
    ops = body.get("Operations")
    if not isinstance(ops, list) or not ops:
        return "Operations must be a non-empty array", "invalidSyntax"
    for i, op in enumerate(ops):
        if not isinstance(op, dict) or str(op.get("op", "")).lower() not in ("add", "remove", "replace"):
            return f"Operations[{i}].op must be add, remove or replace", "invalidSyntax"
        path = op.get("path")
        if path is not None and (not isinstance(path, str) or not _ATTR_PATH.fullmatch(path)):
            return f"Operations[{i}].path is not an attribute path", "invalidPath"
        if op["op"].lower() == "remove" and path is None:
            return f"Operations[{i}]: remove needs a path", "noTarget"
        if op["op"].lower() != "remove" and "value" not in op:
            return f"Operations[{i}]: {op['op']} needs a value", "invalidValue"
    return None


_JSON_TYPES = {"string": str, "reference": str, "boolean": bool, "complex": dict}


def _typed(attributes, data: dict, where: str) -> str | None:
    """The first attribute of ``data`` whose JSON type is not its schema type (RFC 7643 §2.3, §2.4: a
    multi-valued attribute is an array of its type, a complex one an object of its sub-attributes); what the
    store and the SS 12000 view read is then always the shape they expect. ``null`` is "unassigned"."""
    for a in attributes:
        value = data.get(a.name)
        if value is None:
            continue
        kind = _JSON_TYPES.get(a.type, object)
        for v in (value if a.multi and isinstance(value, list) else [value] if not a.multi else [None]):
            if v is None and a.multi:
                return f"{where}{a.name} must be an array"
            if not isinstance(v, kind):
                kind_text = f"an array of {a.type} values" if a.multi else f"a {a.type}"
                return f"{where}{a.name} must be {kind_text}"
            if a.sub:
                problem = _typed(a.sub, v, f"{where}{a.name}.")
                if problem:
                    return problem
    return None


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

    def shown(request: Request, endpoint: str, obj: dict) -> dict:
        q = request.query_params
        body = {**obj, "meta": {**obj["meta"], "location": location(request, endpoint, obj["id"])}}
        return project(body, RESOURCE_TYPES[endpoint].schema, q.get("attributes"), q.get("excludedAttributes"))

    def out(request: Request, endpoint: str, stored: dict, status: int = 200) -> JSONResponse:
        loc = location(request, endpoint, stored["id"])
        body = shown(request, endpoint, stored)
        return _json(body, status, {"ETag": stored["meta"]["version"], **({"Location": loc} if status == 201 else {})})

    async def read_body(request: Request, endpoint: str):
        try:
            data = read_json(await request.body(), cfg.limits.max_json_depth)
        except BadRequest as err:
            return None, error(400, err.detail, "invalidSyntax")
        problem = invalid(endpoint, data)
        return (None, error(400, *problem)) if problem else (data, None)

    async def write(endpoint: str, obj_id: str, data: dict, must_exist: bool | None):
        password = data.pop("password", None) if endpoint == "Users" else None
        data.pop("id", None)
        pw_hash = await stack.hash_call(hasher.hash, str(password)) if password is not None else None
        return await run_in_threadpool(directory.put, endpoint, obj_id, data, password_hash=pw_hash,
                                       must_exist=must_exist)

    def collection(endpoint: str):
        async def handler(request: Request) -> Response:
            if not authorised(request):
                return error(401, "bearer token required")
            if problem := attribute_params_problem(request.query_params):
                return error(400, problem, "invalidValue")
            if request.method == "POST":
                data, err = await read_body(request, endpoint)
                if err:
                    return err
                obj_id = str(data.get("id") or data.get("externalId") or uuid.uuid4())
                if not re.fullmatch(r"[A-Za-z0-9._~:@-]{1,200}", obj_id):
                    return error(400, "id must be URL-safe", "invalidValue")
                try:
                    stored = await write(endpoint, obj_id, data, False)
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
                try:
                    value = filter_value(m.group(2))
                except ValueError as exc:
                    return error(400, f"filter value is not a valid string: {str(exc)[:80]}", "invalidFilter")
            try:
                start, count = max(1, int(q.get("startIndex", 1))), min(MAX_COUNT, max(0, int(q.get("count", 100))))
            except ValueError:
                return error(400, "startIndex and count must be integers", "invalidValue")
            if start > MAX_START:
                return error(400, f"startIndex must be at most {MAX_START}", "invalidValue")
            total, items = await run_in_threadpool(directory.find, endpoint, attr, value, start, count)
            return _json({"schemas": [LIST], "totalResults": total, "startIndex": start, "itemsPerPage": len(items),
                          "Resources": [shown(request, endpoint, o) for o in items]})
        return handler

    def resource(endpoint: str):
        async def handler(request: Request) -> Response:
            if not authorised(request):
                return error(401, "bearer token required")
            if problem := attribute_params_problem(request.query_params):
                return error(400, problem, "invalidValue")
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
                    stored = await write(endpoint, obj_id, data, True)
                except KeyError:
                    return error(404, f"{endpoint}/{obj_id} not found")
                except Conflict as exc:
                    return error(409, str(exc), "uniqueness")
                return out(request, endpoint, stored)
            try:  # PATCH is not supported, but a malformed PatchOp is the client's error first (400)
                problem = patch_problem(read_json(await request.body(), cfg.limits.max_json_depth))
            except BadRequest as err:
                problem = (err.detail, "invalidSyntax")
            return error(400, *problem) if problem else error(501, "PATCH is not supported; use PUT")
        return handler

    def spc(request: Request) -> Response:
        return _json({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "patch": {"supported": False}, "bulk": {"supported": True, "maxOperations": bulk.MAX_OPERATIONS,
                                                    "maxPayloadSize": cfg.limits.provisioning_body},
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

    def _attr(a) -> dict:
        d = {"name": a.name, "type": a.type, "multiValued": a.multi, "description": a.name, "required": a.required,
             "caseExact": False, "mutability": a.mutability, "returned": a.returned, "uniqueness": a.uniqueness}
        if a.sub:
            d["subAttributes"] = [_attr(s) for s in a.sub]
        if a.reference_types:
            d["referenceTypes"] = list(a.reference_types)
        return d

    def _schema(urn: str, name: str, description: str, attributes) -> dict:
        return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"], "id": urn, "name": name,
                "description": description, "attributes": [_attr(a) for a in attributes],
                "meta": {"resourceType": "Schema", "location": f"{cfg.url}{PREFIX}/Schemas/{urn}"}}

    all_schemas = [*(_schema(rt.schema, rt.name, rt.description, rt.attributes) for rt in RESOURCE_TYPES.values()),
                   *(_schema(e.id, e.name, e.description, e.attributes) for e in SCHEMA_EXTENSIONS.values())]

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
        if urn is None:
            return listing(all_schemas)
        found = [i for i in all_schemas if i["id"] == urn]
        return _json(found[0]) if found else error(404, f"no schema {urn}")

    def unknown(request: Request) -> Response:
        if request.method == "POST" and request.url.path.rstrip("/").endswith("/.search"):
            return error(501, "POST /.search is not supported; use GET with filter")
        allowed = sorted({m for r in out_routes[:-1] if r.matches(request.scope)[0] == Match.PARTIAL
                          for m in r.methods or ()})
        if allowed:  # the path exists, the method does not (RFC 7231 §6.5.5), as a SCIM error
            r = error(405, f"{request.method} not allowed on {request.url.path}")
            r.headers["Allow"] = ", ".join(allowed)
            return r
        return error(404, f"no SCIM endpoint {request.url.path}")

    out_routes = [Route(f"{PREFIX}/ServiceProviderConfig", spc), Route(f"{PREFIX}/ResourceTypes", resource_types),
                  Route(f"{PREFIX}/ResourceTypes/{{name}}", resource_types), Route(f"{PREFIX}/Schemas", schemas),
                  Route(f"{PREFIX}/Schemas/{{urn}}", schemas)]
    for endpoint in RESOURCE_TYPES:
        out_routes.append(Route(f"{PREFIX}/{endpoint}", collection(endpoint), methods=["GET", "POST"]))
        out_routes.append(Route(f"{PREFIX}/{endpoint}/{{id}}", resource(endpoint),
                                methods=["GET", "PUT", "DELETE", "PATCH"]))
    out_routes.append(Route(f"{PREFIX}/Bulk", bulk.handler(stack, authorised, write, error), methods=["POST"]))
    out_routes.append(Route(f"{PREFIX}/{{path:path}}", unknown, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]))
    assert CORE_USER == RESOURCE_TYPES["Users"].schema
    return out_routes
