"""``examday provision SCENARIO`` (or ``--roster FILE``): push the scenario's
roster (school units, pupils and teachers with EPPN and password, groups,
employments, test activities), or an exported one (a student-register CSV or
an SS 12000 JSON dump, passwords from ``--passwords FILE`` or
``--password-command CMD``), through an EGIL SCIM endpoint — by default the
reference stack's. Batches to the service's ``/Bulk`` limits and waits out 429s."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ..errors import UserError

HELP = "push a scenario's roster through the EGIL (SCIM) API"
EXAMPLE = "examday provision scenarios/ci-smoke.yaml --url http://127.0.0.1:8400/scim/v2 --token-file .examday-stack/scim-token"


def add_roster_options(p, test_help: str = "test profile for classes the roster names none for") -> None:
    """``--roster FILE`` with its password source (shared with ``examday plan``)."""
    p.add_argument("--roster", metavar="FILE", help="an exported roster (student-register CSV or SS 12000 JSON "
                   "dump) instead of the scenario's generated one (docs/stack.md)")
    p.add_argument("--passwords", metavar="FILE", help="EPPN<TAB>password lines for --roster (read, never stored)")
    p.add_argument("--password-command", metavar="CMD",
                   help="a command printing EPPN<TAB>password lines for --roster (e.g. 'pass show examday')")
    p.add_argument("--roster-test", default="", metavar="PROFILE", help=test_help)


def roster_from_args(args):
    """The exported roster named by ``--roster`` (None without it); bad input is a ``UserError``."""
    from ..roster import RosterError, read_passwords, read_roster
    if not args.roster:
        if args.passwords or args.password_command:
            raise UserError("--passwords/--password-command: only with --roster")
        return None
    try:
        return read_roster(args.roster, read_passwords(args.passwords, args.password_command), args.roster_test)
    except RosterError as err:
        raise UserError(str(err)) from err


def add_arguments(p) -> None:
    p.add_argument("scenario", metavar="SCENARIO", nargs="?", help="scenario YAML file (or give --roster)")
    add_roster_options(p)
    p.add_argument("--seed", type=int, default=None, help="plan seed (default: the scenario's)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="scenario override (repeatable)")
    p.add_argument("--url", default="http://127.0.0.1:8400/scim/v2", help="SCIM base URL (default: local stack)")
    p.add_argument("--token", default="", help="bearer token")
    p.add_argument("--token-file", default=".examday-stack/scim-token",
                   help="read the bearer token from this file when --token is not given")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--json", action="store_true", help="print a machine-readable summary")


def run(args) -> int:
    from ..plan import build_plan
    from ..scenario import load_scenario
    from ..stack.egil_client import push_roster

    roster = roster_from_args(args)
    if roster is None:
        if not args.scenario:
            raise UserError("give a SCENARIO or --roster FILE")
        roster = build_plan(load_scenario(args.scenario, args.overrides), args.seed).roster()
    token = args.token
    if not token:
        path = Path(args.token_file)
        if not path.exists():
            raise UserError(f"{path}: no SCIM token file; give --token or --token-file (the stack writes DATA/scim-token)")
        token = path.read_text().strip()
    import urllib.error
    import urllib.request
    try:  # fail fast when nothing listens there (the pusher would retry every object)
        urllib.request.urlopen(args.url.rstrip("/") + "/ServiceProviderConfig", timeout=5).close()
    except urllib.error.HTTPError:
        pass  # something answers (429 included): the pusher deals with it
    except OSError as err:
        raise UserError(f"{args.url}: no SCIM service there ({err}); start one with `examday stack`") from err
    total = len(roster)
    done = [0]

    def progress(outcome) -> None:
        done[0] += 1
        if not outcome.ok:
            print(f"failed: {outcome.endpoint}/{outcome.id}: HTTP {outcome.status} {outcome.error}", file=sys.stderr)
        if not args.quiet and not args.json and (done[0] % 500 == 0 or done[0] == total):
            print(f"  {done[0]}/{total} objects", file=sys.stderr)

    t0 = time.perf_counter()
    try:
        result = push_roster(roster, args.url, token, progress)
    except OSError as err:
        raise UserError(f"{args.url}: {err}") from err
    seconds = time.perf_counter() - t0
    summary = {"objects": total, "created": result.created, "replaced": result.replaced,
               "failed": len(result.failed), "throttled": result.throttled, "seconds": round(seconds, 3),
               "objects_per_s": round(total / seconds, 1) if seconds > 0 else None}
    if args.json:
        import json
        print(json.dumps(summary))
    elif not args.quiet:
        print(f"provisioned {total} objects to {args.url} in {seconds:.1f} s: {result.created} created, "
              f"{result.replaced} replaced, {len(result.failed)} failed, {result.throttled} throttled (429)")
    return 2 if result.failed else 0
