"""One module per ``examday`` verb, and the options every running verb shares.

Running verbs (simulate, load, sweep, …) take the same grammar (issue 2):
``-o/--out DIR``, ``--seed N``, ``--set KEY=VALUE`` (repeatable), ``--quiet``,
``--json``.
"""

from __future__ import annotations

import argparse

__all__ = ["add_run_options", "add_scenario_options"]


def add_scenario_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the scenario's)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one scenario value by its path, e.g. 'sites[0].uplink.down=50 Mbit/s' (repeatable)")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument("-o", "--out", default=None, metavar="DIR",
                   help="run folder (default: results/<scenario>-<engine>-<UTC timestamp>/)")
    add_scenario_options(p)

