"""``examday calibrate RUN_OR_CAPTURE --profiles DIR``: fit device/service profiles to a measurement.

The input is a run folder (storm, live with ``capture.pcapng``, or an
analysed capture) or a pcap/pcapng (analysed first). The scenario — from
the run's manifest or ``--scenario`` — says which profiles are the old
values. Writes the fitted profiles as an overlay folder (``DIR/devices``,
``DIR/services``, ``DIR/calibration.md``) for ``simulate --profiles DIR``,
and prints old vs fitted values. See docs/packets.md.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
import sys
from pathlib import Path

from ..errors import UserError

HELP = "fit device and service profiles to a measured run or capture"
EXAMPLE = "examday calibrate results/ci-smoke-packets-…/ --profiles calibrated/ && " \
          "examday simulate scenarios/ci-smoke.yaml --profiles calibrated/"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="run folder (storm, live, capture) or a pcap/pcapng file")
    p.add_argument("--profiles", required=True, metavar="DIR", help="overlay folder to write the fitted profiles to")
    p.add_argument("--scenario", default=None, help="scenario whose profiles are the old values (default: the run's)")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def run(args) -> int:
    from ..packets.analyse import analyse_capture
    from ..packets.calibrate import calibrate, write_overlay
    from ..packets.records import DhcpExchange, HttpExchange, TcpFlow, read_records
    from ..packets.steps import attribute
    from ..plan import load_plan
    from ..results import read_manifest

    src = Path(args.source)
    if not src.exists():
        raise UserError(f"{src}: no such run folder or capture")
    man = read_manifest(src) if (src / "manifest.json").exists() else {}
    if src.is_dir() and not man:
        raise UserError(f"{src}: not a run folder (no manifest.json)")
    scen = args.scenario or (man.get("scenario") or {}).get("path")
    if not scen:
        raise UserError(f"{src}: the scenario is unknown; pass --scenario FILE")
    plan = load_plan(scen, [] if args.scenario else (man.get("scenario") or {}).get("overrides", []),
                     None if args.scenario else man.get("seed"))
    capture = src if src.is_file() else (src / "capture.pcapng" if (src / "capture.pcapng").exists() else None)
    exchanges = read_records(src, DhcpExchange) if src.is_dir() else []
    http, flows, owner = (read_records(src, HttpExchange), read_records(src, TcpFlow), None) if src.is_dir() \
        else ([], [], None)
    if capture is not None and not (exchanges or http):
        t0 = man.get("t0_epoch") or (man.get("live") or {}).get("t0_epoch")
        an = analyse_capture(capture, t0, plan.loaded.scenario.targets.login_form.username)
        exchanges, http, flows = an.exchanges, an.http, an.flows
        eppn = {d.eppn: d.id for d in plan.devices}
        for ex in exchanges:
            ex.device = eppn.get(ex.device, ex.device)
        owner = {k: eppn.get(v, v) for k, v in attribute(an).items()}
    if not (exchanges or http):
        raise UserError(f"{src}: nothing to fit (no DHCP exchanges, no HTTP requests); calibrate reads a storm "
                        "run, a live run with --capture, or a capture")
    cal = calibrate(plan, exchanges, http, flows, owner)
    out = Path(args.profiles)
    files = write_overlay(cal, out, str(src))
    if args.json:
        print(json.dumps({"profiles": str(out), "files": [str(f) for f in files],
                          "fits": [asdict(f) for f in cal.fits]}))
    else:
        if not args.quiet:
            print("\n".join(cal.lines()), file=sys.stderr)
        print(out)
    return 0

