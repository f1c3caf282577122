"""``examday validate PATH...``: check scenario files (and the profiles they use)."""

from __future__ import annotations

import sys

from ..errors import UserError
from ..scenario import load_scenario
from . import add_profiles_option

HELP = "check scenario files and their profiles"
EXAMPLE = "examday validate scenarios/*.yaml"


def add_arguments(p) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="scenario YAML files")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="validate with this override applied (repeatable)")
    add_profiles_option(p)
    p.add_argument("-q", "--quiet", action="store_true")


def run(args) -> int:
    problems: list[str] = []
    for path in args.paths:
        try:
            loaded = load_scenario(path, args.overrides)
        except UserError as e:
            problems.extend(e.lines)
            continue
        for w in loaded.warnings:
            print(f"warning: {w}", file=sys.stderr)
        if not args.quiet:
            for r in loaded.profiles.replaced:
                print(f"{path}: note: {r}")
        if not args.quiet:
            n = sum(sum(c.devices.values()) for s in loaded.scenario.sites for c in s.classrooms)
            print(f"{path}: ok ({len(loaded.scenario.sites)} site(s), {n} pupil devices)")
    if problems:
        raise UserError(problems)
    return 0
