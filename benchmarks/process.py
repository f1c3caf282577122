"""Where the whole ``examday simulate`` process spends its CPU (issue 9, speed): a per-phase breakdown.

Run: ``.venv/bin/python benchmarks/process.py [--baseline main] [--repeat N] [--compiled] [--replay RUN_DIR]
[--until 30min] [SCENARIO]`` (``--replay``: the process minus the engine, see ``replay_child``)
(default ``scenarios/malmo-worst-case.yaml``, first 30 minutes). It runs the
real command (``python -m simulator simulate SCENARIO --until … -q -o DIR``)
in a fresh interpreter, twice per code tree:

1. plain, for the whole process's CPU and wall (what the issue's goal is about:
   < 10 s on one core, report included), as ``benchmarks/model.py`` measures it;
2. instrumented, for the breakdown: each phase below is a wrapper around the
   function named; CPU is charged to the innermost phase under way (so the
   phases add up to the whole), and every import of a module not yet loaded is
   charged to "imports" whatever phase triggers it.

   ============  =============================================================
   start-up      interpreter start and ``simulator.cli`` until the verb runs
   imports       first imports of modules (numpy, pydantic, matplotlib, …)
   load          ``scenario.load_scenario`` (YAML, profiles, validation)
   plan          the rest of ``plan.load_plan`` (21k devices)
   simulate      ``model.simulate`` minus the trace phases below
   trace rows    ``trace.StepRows.add`` (formatting a step row)
   trace write   ``trace._Shard.write_text``/``close`` (gzip) and
                 ``model.sampling.write_samples`` (resource rows)
   trace read    ``trace.read_steps``/``read_resources``
   analysis      ``analysis.summary.analyse`` minus trace read
   report        ``report.write_report`` minus analysis: summary.json, tables,
                 plots (matplotlib drawing + PNG), HTML, junit
   other         manifest, argument parsing, what no wrapper covers
   shutdown      after ``cli.main`` returns: the child's CPU (rusage) minus its
                 own CPU at that moment (final collection, module teardown)
   instrument    the wrappers' own cost (calls x a no-op wrapper's cost measured
                 in the child after the run), taken out of the phases they wrap
                 (120k ``StepRows.add`` calls: ~0.25 s)
   ============  =============================================================

"outside sim." is every phase but simulate and instrument (this side's part of
the process: imports, loading, the trace, the analysis, the report). The plain
runs also time the one ``model.simulate`` call, so "the rest" (whole minus
that call, trace writing *inside* it) comes without any wrapper. The plain
run's whole CPU is the figure to quote; ``--repeat N`` interleaves N plain and
N instrumented runs per tree and keeps the least CPU (per phase).
``--baseline REV`` measures a ``git archive`` of REV in the same command
(``benchmarks/model.py``'s ``export``), so figures compare under the same load.

Since 2026-12-03 (procspeed; ``--baseline main --repeat 2``, load 3-7, so every figure ~1.5x its value
on an idle machine): outside the simulation 5.97 -> 4.79 s cpu (1.25x), whole process 19.40 -> 17.81 s.
Imports 1.35 -> 0.98 (the first full collection of the 21k-device plan ran inside the report's imports,
~0.35 s: ``commands.simulate`` now keeps the collector frozen over the whole report), report 2.16 ->
1.63 (the site heatmap's 93 row labels as plain texts instead of tick objects, the log axis's decades
as plain numbers instead of mathtext, fixed title positions, html without a second summary document),
trace read 0.30 -> 0.22 (``trace.retained``: the text just written is parsed from memory), analysis
0.51 -> 0.42, trace rows 0.53 -> 0.46 (NaN tests inline). Outputs identical (summary.json, sites.csv,
rooms.csv, junit.xml byte-equal on the same trace; the trace byte-equal; plots differ only in the
heatmap's tick marks and the latency plot's y labels).

Then (79a5a95: text columns keep the parser's codes, fewer string comparisons in analysis and plots;
``--baseline main``, one run each, load 2-5): whole process 19.29 -> 18.00 s cpu, plain whole minus the
simulate call 4.44 -> 3.72 s (1.19x); the instrumented phases are within the load's noise (+-0.3 s).

Overall (2026-12-03, load 2.5-2.9; this tree against the same tree with the report side's files as in
084ad93, so the same simulation; two interleaved plain runs each, least): whole minus the simulate call
4.43 -> 3.37 s cpu (1.31x); whole process 17.95 -> 17.52 s (the simulate call itself varies by +-1.5 s
under load). What is left outside the simulation (~3.4 s at this load, ~2.5 s idle): plots ~1.1 s
(matplotlib 3.11 text), imports ~0.7 (matplotlib ~0.35, pydantic and the scenario models ~0.2), the
analysis ~0.3, reading the trace ~0.15, load + plan ~0.2, summary/tables/html ~0.1; inside the simulate
call the trace costs ~0.45 (row formatting ~0.25, gzip ~0.15, resource rows ~0.07).

Since 2026-12-03, second pass (procspeed; outputs identical: sha256 of the trace uncompressed and as
written, summary.json, sites/rooms.csv, junit.xml, every PNG, report.html and manifest.json without
their timestamps and wall_s, ``examday schema``): the whole process minus the engine (``model.simulate``
replaced by a replay of malmo's stored trace through ``TraceWriter`` in the engine's blocks; 5 interleaved
fresh processes per tree, load 2.0) main 7d8e3c4 -> this tree 3.41 -> 3.01 s cpu least (3.69 -> 3.21
median). From: the cyclic collector off for the whole ``examday simulate`` process (``cli.COLLECTOR_OFF``;
~0.15 s of collections outside the engine, and the engine's own 50k-object young collections, ~0.2 s:
the simulation alone on 9.4-10.5 -> 9.1-9.9 s cpu, 3 interleaved pairs, same 196 MB peak), attribute
docstrings attached only when a JSON Schema is asked for (import of ``simulator.plan`` 0.405 -> 0.352 s,
least of 8; later reverted to pydantic's own ``use_attribute_docstrings``: a re-implementation was not worth
~0.05 s), libyaml's parser for scenario and profiles (load 0.04-0.056 -> 0.019-0.03 s), the trace's
pending text as pieces instead of a StringIO (writing malmo's trace 0.146 -> 0.135 s). This benchmark's
plain runs (``--repeat 3``, load 2.6-2.9, wall ~1.5x cpu) do not resolve these against the +-0.5 s the
simulate call varies by; the instrumented "outside sim." 3.70 -> 3.47 s (imports 0.81 -> 0.70, load +
plan 0.17 -> 0.10). Last, after merging main d4e084e (``--baseline main --repeat 2``, load 2.0-2.6): whole
process 16.34 ->
13.49 s cpu (1.21x; the simulate call 12.77 -> 10.67, of which the collector's share ~0.2-1 s and the rest
load), outside the simulate call (plain) 3.57 -> 2.82 s (1.26x), instrumented outside 4.24 -> 3.70
(imports 0.83 -> 0.64, of which ~0.1 s from importing matplotlib without its artists' docstrings,
a patch of ``matplotlib.artist.kwdoc`` later reverted as not worth it);
``--replay --baseline main --repeat 5`` least 3.02 -> 2.69, median
3.23 -> 2.91 s.
Then the analysis's per-resource loops as 2-D reductions (resource_stats 0.051 -> 0.014 s, the
attribution's integrals 0.033 -> 0.003 s) and a row's common case as one f-string; the session's total
against d4e084e (main before it; load 2.0-2.2): ``--replay --repeat 5`` least 3.14 -> 2.93, median 3.55 ->
3.18 s; ``--repeat 2`` plain outside the simulate call 2.71 -> 2.56 s, instrumented outside 4.03 -> 3.61
(imports 0.89 -> 0.67, load + plan 0.16 -> 0.12, trace write 0.72 -> 0.57, analysis 0.33 -> 0.29, report
1.35 -> 1.25); the whole process 12.31 -> 12.50 s is within the simulate call's +-0.5 s. What is left
outside the engine (~2.5 s idle): matplotlib's drawing ~0.9 s (FreeType/libraqm per label, measured and
drawn: ~1 ms a label, 447 labels and tick marks), imports ~0.6 (matplotlib ~0.25, pydantic + models
~0.12, numpy, pyarrow), the analysis ~0.25, reading the trace ~0.15, zlib of the trace ~0.13, row
formatting ~0.25, load + plan ~0.1, summary/tables/html ~0.1.
Third pass (procspeed, 2026-12-03 evening): matplotlib pinned below 3.11, whose Agg backend draws each
glyph from Python (set_size, a 2x2 matrix, a render call per glyph: ~2.5 ms a tick label against ~0.9 in
3.10; the report's 7 PNGs 1.0 -> 0.44 s). A hand-written PNG encoder (unfiltered rows, 0.145 -> 0.045 s)
was measured with it and reverted: ~0.1 s is not worth re-implementing what Pillow does. Figures of both together,
``--baseline 7821b27 --baseline-python`` (a copy of the virtualenv with matplotlib 3.11.2), ``--compiled``, idle
machine: ``--replay --repeat 5`` least 3.03 -> 2.22, median 3.52 -> 2.59 s (1.37x). Trace, summary,
tables, junit byte-equal; the PNGs differ in text anti-aliasing only (3.10's glyph rendering).
With PYTHONDONTWRITEBYTECODE set (this machine's sessions) every run also compiles
simulator's ~45 modules from source, ~0.1-0.3 s an installed package does not pay (``--compiled``).
Fourth pass (procspeed, 2026-12-03 night; trace, summary, tables, junit, every PNG byte-equal, report.html
equal but for timestamps and wall_s): the trace deflated by ISA-L (``isal``; level 1: malmo's 19 MB of steps
0.11 -> 0.026 s cpu, 3.86 -> 3.52 MB, "trace write" 0.18 -> 0.08), one OpenBLAS thread in the ``examday``
process (``import numpy`` 0.12 -> 0.06 s cpu on 2 cores), tick locators clipped to the view on the clock and
log axes (``style.InView``: 190 -> 139 tick objects for the same pixels), step rows printf-formatted
(``StepRows.add`` ~10-15 % less), fewer per-row reprs for all-zero queues, no newline count or copy of the
retained text, the plan digest in one sha256 update. ``--replay --baseline main --repeat 9 --compiled``, load
2.8-3.0 (two other sessions' benchmarks and ns-3 on the 2 cores, so every figure ~1.2x idle): least 2.65 ->
2.39, median 2.70 -> 2.54 s; again at load 0.6-1.2: least 2.71 -> 2.45 (1.10x). ``--baseline main --repeat 2``
(load 0.0-0.9): instrumented outside the simulation 3.58 -> 2.82 s (imports 0.81 -> 0.60, trace write 0.54 ->
0.40, report 1.12 -> 0.78, analysis 0.31 -> 0.24), plain whole minus the simulate call 2.80 -> 2.67; the whole
process 15.04 -> 15.04 (the simulate call's own +-0.5 s). Not reached: the issue's 1.2 s outside the engine; what is left is
matplotlib's import and drawing (~1.1 s), pydantic's model building (~0.13), pyarrow's parse (~0.1).

Where the time goes (malmo-worst-case, 30 min, 2026-12-02, load 3-6 on the
shared 2-core machine, so +-0.5 s per phase): outside the simulation about
3.5 s. Imports ~1.2-1.5 s (numpy ~0.15, pydantic + building the scenario
models ~0.2, matplotlib ~0.35-0.5, pyarrow, yaml), load + plan ~0.2 s, trace
read ~0.3-0.45 s (inflate ~0.07, pyarrow CSV parse ~0.15), analysis ~0.35-0.6
s, report ~1.5-2.3 s of which matplotlib's drawing and PNG encoding are
~1.5 s (text shaping and glyph rendering ~1.5 ms per label; the site heatmap
with 93 labels alone ~0.6 s). Inside ``model.simulate`` the trace costs
~0.5 s (row formatting ~0.25, gzip level 1 ~0.15, resource rows ~0.1).
Removed since aaa7aca, with identical outputs: ~0.7 s of cyclic GC in the
report (``report._long_lived_caller``), ~0.3-0.45 s of final collection at
exit (``cli.main``), ~0.15 s of per-resource medians in the analysis.
"""

from __future__ import annotations

import argparse
import builtins
import importlib
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model import ROOT, WORST, export, reference_s  # noqa: E402

PHASES = ("start-up", "imports", "load", "plan", "simulate", "trace rows", "trace write", "trace read",
          "analysis", "report", "other", "shutdown", "instrument")
#: the phases outside the simulation core (the issue's "report included" part; the trace is written during
#: ``model.simulate`` but is this side's cost): all but "simulate" and the wrappers' own cost
OUTSIDE = tuple(p for p in PHASES if p not in ("simulate", "instrument"))

#: (module, attribute path, phase) wrapped in the instrumented child; missing ones are skipped (older trees)
WRAP = (
    ("simulator.scenario.loader", "load_scenario", "load"),
    ("simulator.plan", "load_scenario", "load"),
    ("simulator.plan", "load_plan", "plan"),
    ("simulator.commands.simulate", "load_plan", "plan"),
    ("simulator.model", "simulate", "simulate"),
    ("simulator.model.engine", "simulate", "simulate"),
    ("simulator.trace", "StepRows.add", "trace rows"),
    ("simulator.trace", "_Shard.write_text", "trace write"),
    ("simulator.trace", "_Shard.close", "trace write"),
    ("simulator.model.engine", "write_samples", "trace write"),
    ("simulator.trace", "read_steps", "trace read"),
    ("simulator.trace", "read_resources", "trace read"),
    ("simulator.analysis.summary", "read_steps", "trace read"),
    ("simulator.analysis.summary", "read_resources", "trace read"),
    ("simulator.analysis.summary", "analyse", "analysis"),
    ("simulator.report", "analyse", "analysis"),
    ("simulator.report", "write_report", "report"),
    ("simulator.commands.simulate", "_report", "report"),
)


# ------------------------------------------------------------------ in the instrumented child
class Clock:
    """Charges process CPU to the innermost phase under way."""

    def __init__(self) -> None:
        self.totals = dict.fromkeys(PHASES, 0.0)
        self.calls = dict.fromkeys(PHASES, 0)
        self.stack = ["start-up"]
        self.last = 0.0  # the interpreter's own start is start-up too

    def enter(self, phase: str) -> None:
        now = time.process_time()
        self.totals[self.stack[-1]] += now - self.last
        self.last = now
        self.stack.append(phase)

    def leave(self) -> None:
        now = time.process_time()
        self.totals[self.stack.pop()] += now - self.last
        self.last = now

    def wrap(self, fn, phase: str):
        enter, leave = self.enter, self.leave

        calls = self.calls

        def timed(*a, **k):
            enter(phase)
            calls[phase] += 1
            try:
                return fn(*a, **k)
            finally:
                leave()
        timed.__wrapped__ = fn
        return timed

    def overhead_per_call(self, n: int = 100_000) -> float:
        """CPU seconds one wrapped call costs beyond the call itself (two clock reads, the stack), so the
        120k-call "trace rows" phase can be given net of it; measured on a no-op, best of three."""
        def noop(*a, **k):
            return None
        probe = Clock()
        timed = probe.wrap(noop, "other")
        best = math.inf
        for _ in range(3):
            t0 = time.process_time()
            for _ in range(n):
                noop(1, 2)
            t1 = time.process_time()
            for _ in range(n):
                timed(1, 2)
            best = min(best, (time.process_time() - t1) - (t1 - t0))
        return max(0.0, best / n)


def _patch(clock: Clock, done: set) -> None:
    """Wrap every ``WRAP`` entry whose module is loaded now (called after each new import)."""
    for mod_name, attr, phase in WRAP:
        mod = sys.modules.get(mod_name)
        if mod is None or (mod_name, attr) in done:
            continue
        owner, name = mod, attr
        if "." in attr:
            cls, name = attr.split(".")
            owner = getattr(mod, cls, None)
        fn = getattr(owner, name, None) if owner is not None else None
        if fn is None:
            continue
        done.add((mod_name, attr))
        setattr(owner, name, clock.wrap(fn, phase))


def instrumented(argv: list[str]) -> dict:
    clock = Clock()
    done: set = set()
    real_import = builtins.__import__

    def counting_import(name, globals=None, locals=None, fromlist=(), level=0):
        before = len(sys.modules)
        if clock.stack[-1] == "imports":
            return real_import(name, globals, locals, fromlist, level)
        clock.enter("imports")
        try:
            return real_import(name, globals, locals, fromlist, level)
        finally:
            clock.leave()
            if len(sys.modules) != before:
                _patch(clock, done)

    builtins.__import__ = counting_import
    importlib.import_module("simulator.cli")
    _patch(clock, done)
    clock.enter("other")
    from simulator.cli import main
    sys.argv = [sys.argv[0], *argv]
    code = main()  # as the command line runs it (argv None: the process ends after it)
    clock.leave()
    cpu = time.process_time()
    per_call = clock.overhead_per_call()  # after the run: its own CPU is not in cpu_s
    for ph, n in clock.calls.items():  # the wrappers' own cost, moved out of the phases they wrap
        cost = min(n * per_call, clock.totals[ph])
        clock.totals[ph] -= cost
        clock.totals["instrument"] += cost
    return {"exit_code": code, "phases": clock.totals, "cpu_s": cpu, "calibration_s": time.process_time() - cpu,
            "wrapped_calls": clock.calls,
            "wrapper_s_per_call": per_call, "wrapped": sorted(f"{m}.{a}" for m, a in done)}


def replay_child(stored: str, argv: list[str]) -> dict:
    """The command with ``model.simulate`` replaced by a replay of ``stored``'s trace (a run folder of the same
    scenario) through ``TraceWriter``, in the engine's blocks (5,000 step rows, one resource's samples at a
    time): everything the process does but the engine. The stored text is read before the clock starts."""
    import gzip
    import types

    import simulator.model as model
    from simulator.trace import TraceWriter

    prep0 = time.process_time()

    def lines(name: str) -> list[str]:
        return gzip.open(Path(stored) / name).read().decode().split("\n", 1)[1].splitlines(keepends=True)

    steps, res = lines("steps.csv.gz"), lines("resources.csv.gz")
    blocks, i = [], 0
    while i < len(res):
        name, j = res[i].split(",", 2)[1], i
        while j < len(res) and res[j].split(",", 2)[1] == name:
            j += 1
        blocks.append(("".join(res[i:j]), j - i))
        i = j
    steps = [("".join(steps[i:i + 5000]), len(steps[i:i + 5000])) for i in range(0, len(steps), 5000)]
    m = json.loads((Path(stored) / "manifest.json").read_text())["model"]

    def replay(plan, run_dir, until_s=None, progress=None):
        w = TraceWriter(run_dir)
        for text, n in steps:
            w.step_csv(text, n)
        for text, n in blocks:
            w.resource_csv(text, n)
        w.close()
        return types.SimpleNamespace(devices=len(plan.devices), **{k: m[k] for k in (
            "events", "wall_s", "flow_recomputes", "sample_interval_s", "autosave_detail", "sim_end_s")})
    model.simulate = replay
    prep = time.process_time() - prep0
    from simulator.cli import main
    sys.argv = [sys.argv[0], *argv]
    code = main()
    return {"exit_code": code, "prep_s": prep}


#: code tree -> the interpreter its runs use (``--baseline-python``: the baseline's own virtualenv)
PYTHONS: dict[Path, str] = {}


def _python(code: Path) -> str:
    return PYTHONS.get(code, sys.executable)


def replay_runs(codes: dict[str, Path], stored: Path, scenario: Path, until: str, repeat: int) -> None:
    """``--replay``: fresh processes, interleaved; each one's whole CPU (rusage: start-up to exit) minus what
    reading and splitting the stored trace cost it."""
    runs: dict[str, list[float]] = {label: [] for label in codes}
    for _ in range(repeat):
        for label, code in codes.items():
            with tempfile.TemporaryDirectory() as out:
                cmd = [_python(code), __file__, "--child-replay", str(stored), "simulate", str(scenario), "--until",
                       until, "-q", "-o", str(Path(out) / "run")]
                c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                res = subprocess.run(cmd, capture_output=True, text=True, cwd=code,
                                     env=dict(os.environ, PYTHONPATH=str(code)))
                c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                lines = res.stdout.strip().splitlines()
                if res.returncode not in (0, 1) or not lines:
                    raise SystemExit(f"benchmarks/process.py: replay run failed:\n{res.stderr[-2000:]}")
                whole = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
                runs[label].append(whole - json.loads(lines[-1])["prep_s"])
    print(f"{scenario.stem}, --until {until}: the process minus the engine (replay of {stored}), CPU s:")
    for label, v in runs.items():
        v = sorted(v)
        print(f"  {label:<24} least {v[0]:.2f}  median {v[len(v) // 2]:.2f}  ({' '.join(f'{x:.2f}' for x in v)})")
    if len(runs) == 2:
        (b, vb), (n, vn) = [(lb, sorted(v)) for lb, v in runs.items()]
        print(f"  least {vb[0]:.2f} -> {vn[0]:.2f} s ({vb[0] / vn[0]:.2f}x), median {vb[len(vb) // 2]:.2f} -> "
              f"{vn[len(vn) // 2]:.2f} s")


def plain_child(argv: list[str]) -> dict:
    """The command as it runs, with one clock pair around ``model.simulate`` (one call: no overhead to speak
    of), so the plain run also splits into the simulate call (trace writing included) and the rest."""
    import simulator.model as model

    spent = [0.0]
    real = model.simulate

    def timed(*a, **k):
        t0 = time.process_time()
        try:
            return real(*a, **k)
        finally:
            spent[0] += time.process_time() - t0
    model.simulate = timed
    from simulator.cli import main
    sys.argv = [sys.argv[0], *argv]
    code = main()
    return {"exit_code": code, "simulate_s": spent[0]}


# ------------------------------------------------------------------ in the parent
def plain_run(code: Path, scenario: Path, until: str) -> tuple[float, float, float]:
    """(wall, whole CPU, CPU of the ``model.simulate`` call) of one plain run in a fresh interpreter."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [_python(code), __file__, "--child-plain", "simulate", str(scenario), "--until", until, "-q",
               "-o", str(Path(out) / "run")]
        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=code, env=dict(os.environ, PYTHONPATH=str(code)))
        wall = time.perf_counter() - t0
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        lines = res.stdout.strip().splitlines()
        if res.returncode not in (0, 1) or not lines:
            raise SystemExit(f"benchmarks/process.py: plain run failed:\n{res.stderr[-2000:]}")
        r = json.loads(lines[-1])
        return wall, (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime), r["simulate_s"]


def _min_phases(runs: list[dict]) -> dict:
    """Per phase, the least CPU over the repeated instrumented runs (the machine may be shared)."""
    best = dict(runs[0])
    best["phases"] = {ph: min(r["phases"][ph] for r in runs) for ph in PHASES}
    return best


def breakdown(code: Path, scenario: Path, until: str) -> dict:
    with tempfile.TemporaryDirectory() as out:
        cmd = [_python(code), __file__, "--child", "simulate", str(scenario), "--until", until, "-q",
               "-o", str(Path(out) / "run")]
        env = dict(os.environ, PYTHONPATH=str(code))
        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=code, env=env)
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        lines = res.stdout.strip().splitlines()
        if res.returncode not in (0, 1) or not lines:
            raise SystemExit(f"benchmarks/process.py: instrumented run failed:\n{res.stderr[-2000:]}")
        r = json.loads(lines[-1])
        whole = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
        r["phases"]["shutdown"] = max(0.0, whole - r["cpu_s"] - r.get("calibration_s", 0.0))
        return r


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["--child"], ["--child-plain"], ["--child-replay"]):  # a measured run: examday's command line
        r = (instrumented(argv[1:]) if argv[0] == "--child" else plain_child(argv[1:]) if argv[0] == "--child-plain"
             else replay_child(argv[1], argv[2:]))
        sys.stdout.flush()
        print("\n" + json.dumps(r))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario", nargs="?", default=str(WORST))
    ap.add_argument("--until", default="30min")
    ap.add_argument("--baseline", metavar="REV", help="also measure this git revision (e.g. main)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="plain and instrumented runs per tree, interleaved between trees (the minimum CPU "
                         "is shown, per phase for the instrumented runs)")
    ap.add_argument("--compiled", action="store_true",
                    help="byte-compile each tree's simulator/ first (python -m compileall), as a pip install "
                         "does: with PYTHONDONTWRITEBYTECODE set no run writes .pyc files, so every run "
                         "compiles the ~45 simulator modules it imports from source (~0.1-0.3 s cpu)")
    ap.add_argument("--replay", metavar="RUN_DIR",
                    help="measure only the process minus the engine: model.simulate replays this run folder's "
                         "trace (a run of the same scenario and --until); --repeat runs per tree, least and median")
    ap.add_argument("--baseline-python", metavar="PYTHON",
                    help="the interpreter of the baseline's runs (another virtualenv: the same code against other "
                         "versions of its dependencies); default this one")
    args = ap.parse_args(argv)
    scenario = Path(args.scenario).resolve()
    if os.environ.get("PYTHONDONTWRITEBYTECODE") and not args.compiled:
        print("note: PYTHONDONTWRITEBYTECODE is set: each run compiles simulator's modules from source "
              "(an installed package would not; --compiled byte-compiles the trees first)")
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}; "
          f"reference loop {reference_s():.3f} s cpu")
    with tempfile.TemporaryDirectory(prefix="bench-process-") as tmp:
        codes = {"this tree": ROOT}
        if args.baseline:
            codes = {f"baseline {args.baseline}": export(args.baseline, Path(tmp)), **codes}
            if args.baseline_python:
                PYTHONS[codes[f"baseline {args.baseline}"]] = args.baseline_python
        if args.compiled:
            for code in codes.values():
                subprocess.run([_python(code), "-m", "compileall", "-q", str(code / "simulator")], check=True)
        if args.replay:
            replay_runs(codes, Path(args.replay).resolve(), scenario, args.until, args.repeat)
            print(f"load average after: {os.getloadavg()[0]:.2f}")
            return 0
        plain: dict[str, list] = {label: [] for label in codes}
        for _ in range(args.repeat):  # interleaved, so both trees see the same load
            for label, code in codes.items():
                plain[label].append(plain_run(code, scenario, args.until))
        instr: dict[str, list] = {label: [] for label in codes}
        for _ in range(args.repeat):
            for label, code in codes.items():
                instr[label].append(breakdown(code, scenario, args.until))
        res = {label: (min(plain[label], key=lambda w: w[1]), _min_phases(instr[label])) for label in codes}
        plain_runs = plain
    print(f"{scenario.stem}, --until {args.until}, whole `examday simulate` process (CPU s, one core):")
    labels = list(res)
    print(f"  {'phase':<12}" + "".join(f"{lb:>22}" for lb in labels))
    for ph in PHASES:
        print(f"  {ph:<12}" + "".join(f"{res[lb][1]['phases'][ph]:>22.2f}" for lb in labels))
    print(f"  {'sum (instr.)':<12}" + "".join(f"{sum(res[lb][1]['phases'].values()):>22.2f}" for lb in labels))
    outside = {lb: sum(res[lb][1]["phases"][p] for p in OUTSIDE) for lb in labels}
    print(f"  {'outside sim.':<12}" + "".join(f"{outside[lb]:>22.2f}" for lb in labels)
          + "   (every phase but simulate and instrument)")
    print(f"  {'whole, plain':<12}" + "".join(f"{res[lb][0][1]:>16.2f} (wall{res[lb][0][0]:>5.1f})"
                                            for lb in labels))
    rest = {lb: min(w[1] - w[2] for w in plain_runs[lb]) for lb in labels}
    print(f"  {'simulate()':<12}" + "".join(f"{min(w[2] for w in plain_runs[lb]):>22.2f}" for lb in labels)
          + "   (plain: the model.simulate call, trace writing included)")
    print(f"  {'the rest':<12}" + "".join(f"{rest[lb]:>22.2f}" for lb in labels)
          + "   (plain: whole minus that call; least of the runs)")
    if len(labels) == 2:
        b, n = res[labels[0]][0][1], res[labels[1]][0][1]
        print(f"  whole process: {b:.2f} -> {n:.2f} s cpu ({b / n:.2f}x)")
        ob, on = outside[labels[0]], outside[labels[1]]
        print(f"  outside the simulation (instrumented): {ob:.2f} -> {on:.2f} s cpu ({ob / on:.2f}x)")
        rb, rn = rest[labels[0]], rest[labels[1]]
        print(f"  outside the simulate call (plain): {rb:.2f} -> {rn:.2f} s cpu ({rb / rn:.2f}x)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
