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
    p.add_argument("--scim-token", default="", help="bearer token (default: generated into DATA/scim-token)")
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


def run(args) -> int:
    from ..units import parse_duration
    from ..stack.app import prepare, serve, urls
    from ..stack.config import Catalogue, StackConfig

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
    try:
        catalogue = Catalogue.load(args.profiles)
        config = StackConfig(data_dir=args.data, host=args.host, port=args.port, base_url=args.base_url,
                             hash_cost=args.hash_cost, trust_metadata=tuple(args.trust_metadata),
                             mfa_delay_s=parse_duration(args.mfa_delay), scim_token=args.scim_token,
                             max_inflight=args.max_inflight, catalogue=catalogue, access_log=not args.quiet)
        config = prepare(config)
    except (OSError, ValueError) as err:
        raise UserError(f"stack: {err}") from err
    u = urls(config.url)
    print(f"examday stack: data {config.data_dir}, {len(catalogue.tests)} test profile(s), "
          f"hash cost {config.hash_cost}, {args.workers} worker(s)")
    for name in ("idp", "idp_metadata", "platform_login", "platform_metadata", "scim", "ss12000", "health"):
        print(f"  {name:18} {u[name]}")
    print(f"  {'scim token':18} {config.data_dir}/scim-token")
    sys.stdout.flush()
    serve(config, workers=args.workers, prepared=True)
    return 0
