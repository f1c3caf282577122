"""One module per ``examday`` verb, and the options every running verb shares.

Running verbs (simulate, load, sweep, …) take the same grammar (issue 2):
``-o/--out DIR``, ``--seed N``, ``--set KEY=VALUE`` (repeatable),
``--profiles DIR`` (repeatable), ``--quiet``, ``--json``. Relative paths are
taken against the current directory, as a shell user expects.

``--profiles DIR`` is recorded as the override ``profiles+=/abs/DIR`` in
``args.overrides``, so every place that carries the overrides (the run
manifest, sweep workers, live worker processes) loads the same profiles.
"""

from __future__ import annotations

import argparse

__all__ = ["add_run_options", "add_scenario_options", "add_profiles_option", "duration_arg"]


class _ProfilesAction(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        from ..scenario.loader import profiles_overlay

        overrides = list(getattr(namespace, "overrides", None) or [])
        overrides.append(profiles_overlay(values))
        namespace.overrides = overrides


def duration_arg(text: str) -> float:
    """argparse type for a duration with its unit ('10 min', '45 s'): a clear usage error otherwise."""
    from ..units import UnitError, parse_duration
    try:
        return parse_duration(text)
    except UnitError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_profiles_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profiles", action=_ProfilesAction, metavar="DIR", default=argparse.SUPPRESS,
                   help="a profiles folder laid over the built-in and the scenario's own profiles: its profiles "
                        "add to them and replace those of the same name (repeatable; later folders win)")


def add_scenario_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the scenario's)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one scenario value by its path, e.g. 'sites[0].uplink.down=50 Mbit/s' or "
                        "'sites[name=sodervang].uplink.down=500 Mbit/s' (repeatable)")
    add_profiles_option(p)
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument("-o", "--out", default=None, metavar="DIR",
                   help="run folder (default: results/<scenario>-<engine>-<UTC timestamp>/ in the current directory)")
    add_scenario_options(p)
