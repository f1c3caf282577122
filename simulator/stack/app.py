"""One ASGI app with a router for the systems (IdP ``/idp``, platform
``/platform``, access gateway ``/gateway``, provisioning ``/scim/v2`` +
``/ss12000``), their shared state, federation trust and the server loop.

Middleware, outermost first: ``limits.Bounded`` (input bounds, no
tracebacks), ``ratelimit.ProvisioningRate`` (Skolverket's per-IP rates),
``health.Overload`` (per-service in-flight bound, counters for ``/health``).
Password hashing runs on its own small thread pool (``Stack.hash_call``).

Trust (saml-metadata-2.0-os): the IdP trusts the reference SP and every SP in
``--trust-metadata`` documents; the platform trusts the reference IdP and every
IdP in them. A document may be a file or an http(s) URL, fetched once at start.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import shutil
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from . import exam, gateway, idp, keys, platform, saml, scim, ss12000
from .config import StackConfig
from .limits import BadRequest, Bounded, refusal
from .health import SERVICES, Overload, aggregate, workers_dir
from .ratelimit import ProvisioningRate
from .store import Db, Directory

__all__ = ["Stack", "build_app", "app_from_env", "prepare", "serve", "CONFIG_ENV", "SERVICES"]

log = logging.getLogger("examday.stack")
CONFIG_ENV = "EXAMDAY_STACK_CONFIG"

SAML_STATE_SCHEMA = """
CREATE TABLE IF NOT EXISTS used_requests(id TEXT PRIMARY KEY, expires REAL NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS used_requests_expires ON used_requests(expires);
CREATE TABLE IF NOT EXISTS seen_assertions(id TEXT PRIMARY KEY, expires REAL NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_assertions_expires ON seen_assertions(expires);
CREATE TABLE IF NOT EXISTS mfa(id TEXT PRIMARY KEY, user_name TEXT, approve_at REAL, ctx TEXT);
CREATE INDEX IF NOT EXISTS mfa_approve_at ON mfa(approve_at);
"""


def _fetch(source: str) -> bytes:
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=10) as resp:  # noqa: S310 - operator-given metadata URL
            return resp.read(4 * 1024 * 1024)
    return Path(source).read_bytes()


class Stack:
    """Per-process state: keys loaded once, DB handles, trust, URLs."""

    def __init__(self, config: StackConfig):
        self.config = config
        data = Path(config.data_dir)
        self.idp_keys = keys.load_or_create(data, "idp", f"{config.url}/idp")
        self.sp_keys = keys.load_or_create(data, "platform", f"{config.url}/platform")
        self.secret = keys.secret_key(data)
        self.directory = Directory(data)
        self.state = Db(data / "saml.db", SAML_STATE_SCHEMA, "NORMAL")
        self.platform_db = Db(data / "platform.db", exam.PLATFORM_SCHEMA, "FULL")
        base = config.url
        self.idp_entity_id, self.idp_sso_url = f"{base}/idp", f"{base}/idp/sso"
        self.sp_entity_id, self.acs_url = f"{base}/platform", f"{base}/platform/acs"
        own_idp = saml.parse_metadata(self.idp_metadata().encode())[0]
        own_sp = saml.parse_metadata(saml.sp_metadata(self.sp_entity_id, self.acs_url,
                                                      self.sp_keys.cert_b64).encode())[0]
        self.trusted_idps = {own_idp.entity_id: own_idp}
        self.trusted_sps = {own_sp.entity_id: own_sp}
        for source in config.trust_metadata:
            for ent in saml.parse_metadata(_fetch(source)):
                if ent.is_idp:
                    self.trusted_idps[ent.entity_id] = ent
                if ent.is_sp:
                    self.trusted_sps[ent.entity_id] = ent
                log.info("trusting %s %s from %s", "IdP" if ent.is_idp else "SP", ent.entity_id, source)
        if config.gateway:
            self.gateway_keys = keys.load_or_create(data, "gateway", gateway.GATEWAY_SP_ENTITY_ID)
            self.gateway_sp_id, self.gateway_acs_url = gateway.GATEWAY_SP_ENTITY_ID, f"{base}/gateway/acs"
            self.gateway_idp_id, self.gateway_sso_url = f"{base}/gateway/idp", f"{base}/gateway/sso"
            gw_sp = saml.parse_metadata(saml.sp_metadata(self.gateway_sp_id, self.gateway_acs_url,
                                                         self.gateway_keys.cert_b64).encode())[0]
            gw_idp = saml.parse_metadata(self.gateway_idp_metadata().encode())[0]
            self.trusted_sps[gw_sp.entity_id] = gw_sp  # the reference IdP answers the gateway
            self.trusted_idps[gw_idp.entity_id] = gw_idp  # the platform trusts the gateway
        self.hash_pool = ThreadPoolExecutor(max_workers=max(1, config.login_threads or os.cpu_count() or 1),
                                            thread_name_prefix="argon2")

    def idp_scopes(self) -> tuple[str, ...]:
        """The EPPN scopes the reference IdP asserts: ``--idp-scope``, else the provisioned users' domains."""
        return tuple(self.config.idp_scopes) or self.directory.eppn_scopes()

    def idp_metadata(self) -> str:
        """The reference IdP's metadata: scopes, and the e-leg assurance attribute (its staff use Freja eID+)."""
        return saml.idp_metadata(self.idp_entity_id, self.idp_sso_url, self.idp_keys.cert_b64,
                                 scopes=self.idp_scopes(),
                                 entity_attributes={saml.ASSURANCE_CERTIFICATION: (saml.EID_ASSURANCE,)})

    def gateway_idp_metadata(self) -> str:
        """The gateway's IdP side: it vouches for the scopes it filtered and passes e-leg logins on."""
        scopes = {sc for ent in self.trusted_idps.values() if ent.entity_id != getattr(self, "gateway_idp_id", "")
                  for sc, regexp in ent.scopes if not regexp} | set(self.idp_scopes())
        return saml.idp_metadata(self.gateway_idp_id, self.gateway_sso_url, self.gateway_keys.cert_b64,
                                 scopes=tuple(sorted(scopes)),
                                 entity_attributes={saml.ASSURANCE_CERTIFICATION: (saml.EID_ASSURANCE,)})

    def scope_ok(self, idp: saml.EntityInfo, eppn: str) -> bool:
        """Is the EPPN inside the issuing IdP's ``shibmd:Scope`` (for the reference IdP: its current scopes;
        for the gateway: it already dropped EPPNs outside their IdP's scope)?"""
        if self.config.gateway and idp.entity_id == self.gateway_idp_id:
            return True
        if idp.entity_id != self.idp_entity_id:
            return saml.scope_ok(idp.scopes, eppn)
        if self.config.idp_scopes:
            return saml.scope_ok(tuple((sc, False) for sc in self.config.idp_scopes), eppn)
        return True  # its scope is the provisioned roster's domains; an EPPN outside it is an unknown user

    async def hash_call(self, fn, *args):
        """Run password hashing on its own bounded pool: content and autosave never wait behind argon2."""
        return await asyncio.get_running_loop().run_in_executor(self.hash_pool, fn, *args)


def build_app(config: StackConfig) -> Starlette:
    stack = Stack(config)
    started = time.time()
    overload: list[Overload] = []

    def health(request: Request) -> JSONResponse:
        stack.directory.db.query("SELECT 1")
        stack.platform_db.query("SELECT 1")
        return JSONResponse({"ok": True, "pid": os.getpid(), "uptime_s": round(time.time() - started, 1),
                             **aggregate(overload[0]), "urls": urls(config.url)})

    routes = [Route("/health", health)]
    for mod in (idp, platform, gateway, exam, scim, ss12000):
        routes += mod.routes(stack)
    app = Starlette(routes=routes, exception_handlers={BadRequest: _bad_request, Exception: _internal})
    app.state.stack = stack
    rate = ProvisioningRate(None, config.provisioning, config.data_dir)
    o = Overload(app, config.max_inflight, config.data_dir, throttled=lambda: rate.throttled)
    overload.append(o)
    rate.app = o
    outer = Bounded(rate, config.limits)
    outer.stack = stack  # for tests and tools: the per-process state behind the app
    return outer  # type: ignore[return-value]


async def _bad_request(request: Request, exc: BadRequest):
    log.info("refused %s %s: %s %s", request.method, request.url.path, exc.status, exc.reason)
    return refusal(exc.status, exc.reason, exc.detail)


async def _internal(request: Request, exc: Exception):
    return refusal(500, "internal-error", "the request could not be handled", close=True)


def urls(base: str) -> dict[str, str]:
    return {"idp": f"{base}/idp", "idp_metadata": f"{base}/idp/metadata", "platform": f"{base}/platform",
            "platform_login": f"{base}/platform/login", "platform_metadata": f"{base}/platform/metadata",
            "scim": f"{base}/scim/v2", "ss12000": f"{base}/ss12000", "health": f"{base}/health",
            "gateway": f"{base}/gateway/sso", "gateway_entity_id": gateway.GATEWAY_SP_ENTITY_ID,
            "gateway_sp_metadata": f"{base}/gateway/sp/metadata",
            "gateway_idp_metadata": f"{base}/gateway/idp/metadata"}


def prepare(config: StackConfig) -> StackConfig:
    """First-start work done once before workers fork: token, keys, content files, schemas."""
    config = config.resolved()
    data = Path(config.data_dir)
    keys.load_or_create(data, "idp", f"{config.url}/idp")
    keys.load_or_create(data, "platform", f"{config.url}/platform")
    if config.gateway:
        keys.load_or_create(data, "gateway", gateway.GATEWAY_SP_ENTITY_ID)
    keys.secret_key(data)
    exam.materialise_content(data, config.catalogue)
    shutil.rmtree(workers_dir(data), ignore_errors=True)  # counters of an earlier run
    Stack(config)  # creates the databases (and checks trust documents) before serving
    return config


def app_from_env():
    """uvicorn factory for ``--workers N`` (config passed as JSON in ``EXAMDAY_STACK_CONFIG``)."""
    import multiprocessing

    if multiprocessing.parent_process() is not None:  # a uvicorn worker: die with the supervisor (no orphans)
        from .process import die_with_parent
        die_with_parent()
    app = build_app(StackConfig.from_json(os.environ[CONFIG_ENV]))
    gc.freeze()  # start-up objects (routes, keys, trust, imports) out of the collector's scans for good
    return app


def _open_files_to_hard_limit(most: int = 65536) -> None:
    """Every held connection is a descriptor: raise the soft RLIMIT_NOFILE (often 1024) towards the hard
    one, as servers do (nginx ``worker_rlimit_nofile``), so thousands of idle clients wait for their 408
    instead of starving the accept loop."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = most if hard == resource.RLIM_INFINITY else min(hard, most)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def serve(config: StackConfig, workers: int = 1, prepared: bool = False) -> None:
    """Run until Ctrl-C / SIGTERM (uvicorn handles both, finishing in-flight requests)."""
    import uvicorn
    _open_files_to_hard_limit()
    if not prepared:
        config = prepare(config)
    os.environ[CONFIG_ENV] = config.to_json()
    level = "info" if config.access_log else "warning"
    import copy

    from uvicorn.config import LOGGING_CONFIG
    log_config = copy.deepcopy(LOGGING_CONFIG)  # uvicorn's, plus the stack's own loggers (refusals, logins)
    log_config["loggers"]["examday"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    from .limits import GuardedHttpTools
    uvicorn.run("simulator.stack.app:app_from_env", factory=True, host=config.host, port=config.port,
                workers=workers if workers > 1 else None, access_log=config.access_log, log_level=level,
                timeout_graceful_shutdown=5, backlog=2048, lifespan="off", log_config=log_config,
                http=GuardedHttpTools, timeout_keep_alive=config.limits.keep_alive_s,
                h11_max_incomplete_event_size=config.limits.max_header_bytes,
                proxy_headers=False)  # X-Forwarded-For from any loopback client would pick its own rate-limit IP
