"""``examday stack``: run the reference IdP broker, test platform and
provisioning on loopback (see docs/stack.md), or ``--check`` a running one."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request

from ..errors import UserError

HELP = "run the reference IdP, test platform and provisioning on loopback"
EXAMPLE = "examday stack --data results/stack --port 8400 --hash-cost production"


def add_arguments(p) -> None:
    p.add_argument("--data", default=".examday-stack", metavar="DIR",
                   help="data folder: keys, SQLite store, content files, SCIM token (default .examday-stack)")
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1, loopback)")
    p.add_argument("--port", type=int, default=8400, help="listen port (default 8400)")
    p.add_argument("--base-url", default="", help="public base URL when behind a proxy (default http://HOST:PORT)")
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    p.add_argument("--hash-cost", choices=("cheap", "keycloak", "production"), default="cheap",
                   help="argon2id cost for passwords (keycloak: t=5, 7 MiB, p=1; production: t=3, 64 MiB, p=4)")
    p.add_argument("--trust-metadata", action="append", default=[], metavar="FILE_OR_URL",
                   help="also trust the IdPs/SPs in this SAML metadata (repeatable)")
    p.add_argument("--mfa-delay", default="2 s", help="staff second-factor approval delay (default '2 s')")
    p.add_argument("--profiles", default="profiles/tests", metavar="DIR", help="test profiles (default profiles/tests)")
    p.add_argument("--max-inflight", type=int, default=256, help="per-service bound before 503 (default 256)")
    p.add_argument("--scim-token", default="", help="bearer token (default on loopback: examday-egil-token, "
                   "the scenario default; else generated into DATA/scim-token)")
    p.add_argument("--gateway", action="store_true",
                   help="run the DNP access-gateway role (/gateway): the platform logs in through it, it asks the "
                        "school IdP with ForceAuthn (docs/stack.md)")
    p.add_argument("--idp-scope", action="append", default=[], metavar="DOMAIN",
                   help="the reference IdP's shibmd:Scope (repeatable; default: the provisioned EPPN domains)")
    p.add_argument("--login-threads", type=int, default=0, metavar="N",
                   help="threads for password hashing (default: one per core)")
    p.add_argument("--header-timeout", default="10 s", help="request heads must arrive within this (default 10 s)")
    p.add_argument("--provisioning-writes", type=float, default=5.0, metavar="PER_S",
                   help="write requests/s per client IP on /scim and /ss12000, 429 beyond (default 5; 0: off)")
    p.add_argument("--provisioning-reads", type=float, default=10.0, metavar="PER_S",
                   help="GET requests/s per client IP on /scim and /ss12000, 429 beyond (default 10; 0: off)")
    p.add_argument("-q", "--quiet", action="store_true", help="no access log")
    p.add_argument("--check", action="store_true", help="exit 0 if a stack on --host/--port is healthy")


def check(base: str) -> list[str]:
    """Problems with the stack at ``base`` (empty when healthy)."""
    problems = []
    for path in ("/health", "/idp/metadata", "/platform/metadata", "/scim/v2/ServiceProviderConfig"):
        try:
            with urllib.request.urlopen(base + path, timeout=5) as resp:
                body = resp.read()
                if path == "/health" and not json.loads(body).get("ok"):
                    problems.append(f"{base}{path}: not ok")
        except (urllib.error.URLError, OSError, ValueError) as err:
            problems.append(f"{base}{path}: {err}")
    return problems


def validate(args) -> None:
    """Options that would start a broken stack are one-line errors (exit 2)."""
    from pathlib import Path
    from ..units import UnitError, parse_duration
    if args.workers < 1:
        raise UserError(f"--workers {args.workers}: must be at least 1")
    if args.max_inflight < 1:
        raise UserError(f"--max-inflight {args.max_inflight}: must be at least 1")
    if args.login_threads < 0:
        raise UserError(f"--login-threads {args.login_threads}: must be at least 1 (0: one per core)")
    if args.provisioning_writes < 0 or args.provisioning_reads < 0:
        raise UserError("--provisioning-writes/--provisioning-reads: must be >= 0 (0 switches the limit off)")
    if not Path(args.profiles).is_dir():
        raise UserError(f"--profiles {args.profiles}: no such folder")
    if not any(Path(args.profiles).glob("*.yaml")):
        raise UserError(f"--profiles {args.profiles}: no test profiles (*.yaml) there")
    for name in ("mfa_delay", "header_timeout"):
        try:
            if parse_duration(getattr(args, name)) <= 0 and name == "header_timeout":
                raise UserError("--header-timeout: must be > 0")
        except UnitError as err:
            raise UserError(f"--{name.replace('_', '-')}: {err}") from err


def run(args) -> int:
    from ..units import parse_duration
    from ..stack.app import prepare, serve, urls
    from ..stack import saml
    from ..stack.config import Catalogue, Limits, ProvisioningLimits, StackConfig

    base = args.base_url or f"http://{args.host}:{args.port}"
    if args.check:
        problems = check(base.rstrip("/"))
        for p in problems:
            print(p, file=sys.stderr)
        if not problems and not args.quiet:
            print(f"{base}: healthy")
        return 1 if problems else 0
    if args.port <= 0:
        raise UserError("--port: give a concrete port (the URLs go into SAML metadata)")
    validate(args)
    try:
        catalogue = Catalogue.load(args.profiles)
        if not catalogue.tests:
            raise UserError(f"--profiles {args.profiles}: no test profiles (*.yaml) there")
        config = StackConfig(data_dir=args.data, host=args.host, port=args.port, base_url=args.base_url,
                             hash_cost=args.hash_cost, trust_metadata=tuple(args.trust_metadata),
                             mfa_delay_s=parse_duration(args.mfa_delay), scim_token=args.scim_token,
                             max_inflight=args.max_inflight, catalogue=catalogue, access_log=not args.quiet,
                             limits=Limits(header_timeout_s=parse_duration(args.header_timeout)),
                             provisioning=ProvisioningLimits(writes_per_s=args.provisioning_writes,
                                                             reads_per_s=args.provisioning_reads),
                             login_threads=args.login_threads, gateway=args.gateway,
                             idp_scopes=tuple(args.idp_scope))
        config = prepare(config)
    except (OSError, ValueError, saml.SamlRejected) as err:
        raise UserError(f"stack: {err}") from err
    u = urls(config.url)
    print(f"examday stack: data {config.data_dir}, {len(catalogue.tests)} test profile(s), "
          f"hash cost {config.hash_cost}, {args.workers} worker(s)")
    for name in ("idp", "idp_metadata", "platform_login", "platform_metadata", "scim", "ss12000", "health"):
        print(f"  {name:18} {u[name]}")
    if config.gateway:
        print(f"  {'gateway':18} {u['gateway']} (entityID {u['gateway_entity_id']})")
    print(f"  {'scim token':18} {config.data_dir}/scim-token")
    sys.stdout.flush()
    serve(config, workers=args.workers, prepared=True)
    return 0
