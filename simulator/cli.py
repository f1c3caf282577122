"""The ``examday`` command: parses arguments and hands each verb to its module.

Each verb lives in ``simulator/commands/<verb>.py`` with ``HELP``,
``EXAMPLE``, ``add_arguments(parser)`` and ``run(args) -> int``. Modules are
imported only when their verb runs, so ``examday validate`` never pays for
Locust or matplotlib.

Exit codes: 0 ok, 1 an SLO breached, 2 bad input or error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import importlib.util
import os
import sys

from .errors import UserError

# One OpenBLAS thread: examday does no linear algebra, and starting OpenBLAS's pool (a thread per core) is
# half of ``import numpy``'s CPU (~0.06 of 0.12 s on 2 cores, more with more); a user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__all__ = ["main", "VERBS"]

#: verb -> one-line help, in the order people meet them.
VERBS = {
    "validate": "check scenario files and their profiles",
    "schema": "print the scenario JSON Schema (for editors)",
    "plan": "expand a scenario into its seeded plan and summarise it",
    "simulate": "predict the exam start with the model engine",
    "stack": "run the reference IdP, test platform and provisioning on loopback",
    "provision": "push a scenario's roster through the EGIL (SCIM) API",
    "load": "replay the exam start with real traffic (Locust)",
    "report": "analyse a run folder: summary, plots, HTML, JUnit",
    "compare": "compare two runs side by side",
    "sweep": "run the model over a grid of scenario values",
    "storm": "the plan's devices join a real DHCP server (scapy, private namespaces by default)",
    "capture": "analyse a pcap/pcapng into a run folder, or synthesise one from a run",
    "calibrate": "fit device and service profiles to a measured run or capture",
    "watch": "live dashboard of a run published with --mqtt",
    "telemetry": "publish AP telemetry replayed from a model run (for testing --ap-telemetry)",
    "demo": "the main job on the shipped ci-smoke scenario (what `make demo` runs)",
}


def _available() -> dict[str, str]:
    return {v: h for v, h in VERBS.items() if importlib.util.find_spec(f"simulator.commands.{v}") is not None}


def build_parser(verbs: dict[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="examday",
        description="Exam-day network and load simulator.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  examday validate scenarios/*.yaml\n  examday plan scenarios/school-ak9.yaml\n"
               "  examday simulate scenarios/school-ak9.yaml --set 'sites[0].uplink.down=50 Mbit/s'",
    )
    parser.add_argument("--version", action="version", version=f"examday {_version()}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    return parser, sub


def _version() -> str:
    from . import __version__
    return __version__


#: verbs that run to completion in bounded memory: with the process's own command line, the cyclic garbage
#: collector stays off for the whole process (their objects are freed by reference counting; what is left in
#: cycles, a few matplotlib figures, goes with the process). Its collections cost malmo-worst-case's
#: ``simulate`` ~0.3 s of CPU (the 21k-device plan while it is built, the young objects the simulation
#: leaves, the report's imports) for the same peak memory (~420 MB). Never a server or a watcher (and
#: ``simulate --mqtt`` turns it back on for its real-time replay).
COLLECTOR_OFF = frozenset({"simulate"})


def _verb(argv: list[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    """Run one verb; with ``argv`` None (the process's own command line) the process ends after it."""
    if argv is not None:
        return _main(argv)
    if _verb(sys.argv[1:]) in COLLECTOR_OFF:
        gc.disable()  # before the verb's imports (pydantic's model classes build thousands of objects)
    try:
        return _main(sys.argv[1:])
    finally:
        # The process exits next: spare the interpreter's final full collection of everything still alive
        # (a city's plan, the report's figures), ~0.3 s of CPU after a city's report. atexit handlers still
        # run and modules are still torn down; only objects in reference cycles are left to the OS.
        gc.freeze()


def _main(argv: list[str]) -> int:
    verbs = _available()
    parser, sub = build_parser(verbs)
    modules = {}
    # Only the chosen verb's module is imported; the others get a bare sub-parser for --help listings.
    chosen = _verb(argv)
    for verb, help_text in verbs.items():
        if verb == chosen:
            mod = importlib.import_module(f"simulator.commands.{verb}")
            modules[verb] = mod
            p = sub.add_parser(verb, help=help_text, description=help_text,
                               epilog=f"example:\n  {mod.EXAMPLE}",
                               formatter_class=argparse.RawDescriptionHelpFormatter)
            mod.add_arguments(p)
        else:
            sub.add_parser(verb, help=help_text, add_help=False)
    args = parser.parse_args(argv)
    try:
        return int(modules[args.verb].run(args) or 0)
    except UserError as err:
        for line in err.lines:
            print(line, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `examday plan ... | head`
        sys.stderr.close()
        return 0
