"""``examday watch mqtt://HOST:PORT/PREFIX``: a live terminal dashboard of a run published with ``--mqtt``.

Shows devices ready of planned per site, step rates and p95s, errors by
reason, the resources closest to saturation and the current SLO verdict.
``--once`` prints the current state (the broker's retained messages) and
exits; ``--record DIR`` writes what it saw as a run folder ``examday report``
reads. Exits when the run ends. Exit codes: 0 ok, 2 no run found / bad URL,
130 interrupted.
"""

from __future__ import annotations

import argparse

HELP = "live dashboard of a run published with --mqtt"
EXAMPLE = "examday watch mqtt://127.0.0.1:1883/examday --once"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("url", metavar="URL", help="mqtt://[user[:pw]@]HOST[:PORT]/PREFIX (mqtts:// for TLS)")
    p.add_argument("--run", default=None, metavar="ID", help="the run to watch (default: the newest started)")
    p.add_argument("--once", action="store_true", help="print the current state and exit")
    p.add_argument("--record", default=None, metavar="DIR", help="write what was seen as a run folder")
    p.add_argument("--ap-telemetry", default=None, metavar="TOPIC_FILTER",
                   help="also show AP/controller telemetry from this topic filter")
    p.add_argument("--wait", type=float, default=10.0, metavar="S",
                   help="--once: how long to wait for a run to appear (default 10 s)")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import sys

    from rich.console import Console

    from ..errors import UserError
    from ..telemetry.bus import parse_url
    from ..telemetry.watcher import render, watch

    url = parse_url(args.url, "watch")
    console = Console()
    try:
        view, code = asyncio.run(watch(url, args.run, once=args.once,
                                       record_dir=args.record and __import__("pathlib").Path(args.record),
                                       ap_filter=args.ap_telemetry, console=console, wait_s=args.wait))
    except Exception as err:  # aiomqtt.MqttError: broker unreachable
        if type(err).__name__ in ("MqttError", "MqttCodeError"):
            raise UserError(f"watch: cannot reach the broker at {url.host}:{url.port}: {err}") from None
        raise
    if code:
        print(f"watch: no run published under {url.topic('run')} on {url.host}:{url.port}"
              + (f" (run {args.run})" if args.run else ""), file=sys.stderr)
        return code
    if args.once:
        console.print(render(view))
    if args.record:
        print(args.record)
    return 0
