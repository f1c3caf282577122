"""``examday plan SCENARIO``: expand the scenario into its seeded plan and say what it means."""

from __future__ import annotations

import json
import sys

from ..plan_summary import render_text, summarise
from ..plan import load_plan
from . import add_scenario_options

HELP = "expand a scenario into its seeded plan and summarise it"
EXAMPLE = "examday plan scenarios/malmo-city.yaml --json"


def add_arguments(p) -> None:
    p.add_argument("scenario", help="scenario YAML file")
    add_scenario_options(p)
    p.add_argument("--devices", action="store_true",
                   help="list every device as JSON (implies --json), with its EPPN and reference-stack password")
    from .provision import add_roster_options
    add_roster_options(p)


def run(args) -> int:
    plan = load_plan(args.scenario, args.overrides, args.seed)
    from .provision import roster_from_args
    roster = roster_from_args(args)
    if roster is not None:  # the city's own EPPNs on the planned devices (passwords never printed)
        from ..errors import UserError
        from ..roster import RosterError, assign
        try:
            plan = assign(plan, roster)
        except RosterError as err:
            raise UserError(str(err)) from err
    for w in plan.loaded.warnings:
        print(f"warning: {w}", file=sys.stderr)
    summary = summarise(plan)
    if args.json or args.devices:
        if args.devices:
            summary["device_list"] = [
                {"id": d.id, "kind": d.kind, "role": d.role, "site": d.site, "room": d.room.name, "ap": d.ap,
                 "start_s": round(d.start_s, 6), "eppn": d.eppn,
                 "password": None if roster is not None else d.password,
                 "test": d.room.workload.test,
                 "path_down": [l.id for l in d.room.route.down]}
                for d in plan.devices]
        json.dump(summary, sys.stdout, indent=2, sort_keys=True)
        print()
    else:
        print(render_text(summary))
    return 0
