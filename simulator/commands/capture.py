"""``examday capture analyse FILE`` / ``examday capture synth RUN_DIR``: captures <-> run folders.

``analyse`` reads a pcap/pcapng (a classroom, an uplink mirror port, or a
``load --capture`` file) into a run folder (engine ``capture``): the
exchanges, lookups, flows and HTTP requests (``*.jsonl``) and the steps they
add up to, then the report. When the capture lies in a run folder (or
``--run`` names one) its manifest gives the time origin (the live run's t0)
and the scenario, whose plan maps sign-in names to devices.
``synth`` writes a run's DHCP exchanges and DNS lookups as a pcapng (scapy),
one comment per packet naming device and step. See docs/packets.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "analyse a pcap/pcapng into a run folder, or synthesise one from a run"
EXAMPLE = "examday capture analyse results/ci-smoke-live-…/capture.pcapng -o results/ci-smoke-capture"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    a = sub.add_parser("analyse", help="a capture -> a run folder (trace, flows, report)")
    a.add_argument("capture", help="pcap or pcapng file")
    a.add_argument("-o", "--out", default=None, metavar="DIR",
                   help="run folder (default: results/<name>-capture-<UTC>/)")
    a.add_argument("--run", default=None, metavar="RUN_DIR",
                   help="the run this capture belongs to (default: the folder holding it, if it is a run)")
    a.add_argument("--scenario", default=None, help="scenario whose plan names the devices (default: the run's)")
    a.add_argument("--t0-epoch", type=float, default=None, help="time origin, Unix seconds (default: the run's t0, "
                                                                "else the first packet)")
    a.add_argument("--sni", action="store_true", help="also read TLS server names with pyshark (slower)")
    a.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    a.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    s = sub.add_parser("synth", help="a model or storm run -> pcapng with per-packet comments (scapy)")
    s.add_argument("run_dir", help="run folder with exchanges.jsonl (storm) or a trace with join rows (model)")
    s.add_argument("-o", "--out", required=True, metavar="FILE", help="pcapng to write")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def run(args) -> int:
    return _analyse(args) if args.action == "analyse" else _synth(args)


def _run_of(args) -> Path | None:
    cand = Path(args.run) if args.run else Path(args.capture).resolve().parent
    return cand if (cand / "manifest.json").exists() else None


def _devices(plan) -> dict[str, tuple]:
    out = {}
    for d in plan.devices:
        row = (d.id, "teacher" if d.role == "teacher" else d.kind, d.site, d.room.name, d.room.id)
        out[d.eppn] = out[d.id] = row
    return out


def _analyse(args) -> int:
    from ..packets.analyse import analyse_capture, sni
    from ..packets.records import DhcpExchange, DnsLookup, HttpExchange, TcpFlow, write_records
    from ..packets.steps import capture_rows
    from ..plan import load_plan
    from ..results import new_run_dir, read_manifest, update_manifest, write_manifest
    from ..trace import TraceWriter

    src = _run_of(args)
    man = read_manifest(src) if src else {}
    t0 = args.t0_epoch if args.t0_epoch is not None else (
        man.get("t0_epoch") or (man.get("live") or {}).get("t0_epoch"))
    scen = args.scenario or (man.get("scenario") or {}).get("path")
    plan = None
    if scen:
        overrides = [] if args.scenario else (man.get("scenario") or {}).get("overrides", [])
        plan = load_plan(scen, overrides, None if args.scenario else man.get("seed"))
    username = plan.loaded.scenario.targets.login_form.username if plan else "username"
    an = analyse_capture(args.capture, t0, username_field=username)
    name = (plan.scenario if plan else Path(args.capture).stem.replace(".", "-"))
    run_dir = new_run_dir(name, "capture", args.out)
    write_manifest(run_dir, scenario_path=scen or "", scenario_name=name, engine="capture",
                   seed=plan.seed if plan else 0, overrides=[], slo=plan.slo if plan else {},
                   t0_clock=plan.t0_clock if plan else 0.0, t0_epoch=t0 if t0 is not None else an.first_ts,
                   devices=len(plan.devices) if plan else 0,
                   capture={"file": str(Path(args.capture).resolve()), "comment": an.section_comment,
                            "packets": an.packets, "source_run": str(src or "")})
    if args.sni:
        sni(args.capture, an.flows)
    rows = capture_rows(an, run_dir.name, _devices(plan) if plan else None)
    with TraceWriter(run_dir, shard="capture") as w:
        for r in sorted(rows, key=lambda r: r.start_s):
            w.step(r)
    for recs, cls in ((an.exchanges, DhcpExchange), (an.dns, DnsLookup), (an.flows, TcpFlow), (an.http, HttpExchange)):
        if recs:
            write_records(run_dir, recs, cls)
    update_manifest(run_dir, status="finished", devices=len({r.device for r in rows if r.step != "provision"})
                    if not plan else len(plan.devices))
    from ..report import write_report

    rep = write_report(run_dir)
    if args.json:
        print(json.dumps({"run_dir": str(run_dir), "packets": an.packets, "rows": len(rows),
                          "exchanges": len(an.exchanges), "flows": len(an.flows), "http": len(an.http)}))
    else:
        if not args.quiet:
            print(f"{an.packets} packets: {len(an.exchanges)} DHCP exchanges, {len(an.dns)} DNS lookups, "
                  f"{len(an.flows)} TCP flows, {len(an.http)} HTTP requests -> {len(rows)} step rows\n"
                  f"{rep.verdict_line}", file=sys.stderr)
        print(run_dir)
    return 0


def _synth(args) -> int:
    from ..packets.synth import synthesise

    n = synthesise(Path(args.run_dir), Path(args.out))
    if not args.quiet:
        print(f"{n} packets -> {args.out}", file=sys.stderr)
    print(args.out)
    return 0

