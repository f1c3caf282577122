"""``examday telemetry replay RUN_DIR --mqtt URL``: publish realistic AP telemetry from a model run.

Each AP sample of the model run (``ap:<site>/<room>`` airtime) becomes one
controller-style message per AP — associated clients, channel utilisation,
retry rate, per-radio throughput — on the scenario's ``telemetry.topic``
pattern with its field names (``simulator.telemetry.apfeed``), paced in trace
time / ``--speed``. So ``load --ap-telemetry`` and ``watch`` can be tested
end to end without a controller.
"""

from __future__ import annotations

import argparse

from . import duration_arg

HELP = "publish AP telemetry replayed from a model run (for testing --ap-telemetry)"
EXAMPLE = "examday telemetry replay results/ci-smoke-model-20260301T080000Z --mqtt mqtt://127.0.0.1:1883 --speed 10"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    r = sub.add_parser("replay", help="publish AP telemetry derived from a model run's AP samples")
    r.add_argument("run_dir", metavar="RUN_DIR", help="a model run folder (examday simulate)")
    r.add_argument("--mqtt", required=True, metavar="URL", help="broker: mqtt://HOST[:PORT][/ignored]")
    r.add_argument("--speed", type=float, default=1.0, metavar="N", help="N times faster than real time")
    r.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    r.add_argument("--until", type=duration_arg, default=None, metavar="D",
                   help="replay only the samples up to this long after the exam start, e.g. '1 min'")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import sys
    import time

    from ..errors import UserError
    from ..plan import load_plan
    from ..results import read_manifest
    from ..telemetry.apfeed import replay_samples, resolve_mapping
    from ..telemetry.bus import client_kwargs, parse_url

    url = parse_url(args.mqtt)
    if args.speed <= 0:
        raise UserError("--speed must be > 0")
    try:
        m = read_manifest(args.run_dir)
    except (OSError, ValueError):
        raise UserError(f"{args.run_dir}: not a run folder (no readable manifest.json)") from None
    if m.get("engine") != "model":
        raise UserError(f"{args.run_dir}: a {m.get('engine')} run; replay needs a model run (examday simulate)")
    sc = m.get("scenario") or {}
    plan = load_plan(sc.get("path"), sc.get("overrides") or [], m.get("seed"))
    samples = [s for s in replay_samples(args.run_dir, resolve_mapping(plan), args.seed)
               if args.until is None or s[0] <= args.until]
    if not samples:
        raise UserError(f"{args.run_dir}: no ap:<site>/<room> resource samples to replay")

    async def publish() -> int:
        import aiomqtt
        import json

        async with aiomqtt.Client(**client_kwargs(url, "replay")) as client:
            t_first, wall0 = samples[0][0], time.monotonic()
            for t, topic, doc in samples:
                delay = wall0 + (t - t_first) / args.speed - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await client.publish(topic, json.dumps(doc), qos=0)
        return len(samples)

    n = asyncio.run(publish())
    if not args.quiet:
        print(f"published {n} AP telemetry messages ({samples[0][1].split('/')[0]}/…) from {args.run_dir}",
              file=sys.stderr)
    return 0
