"""Model engine speed (issue 9): the city's worst case, a classroom against ns-3, cost per device.

Run: ``.venv/bin/python benchmarks/model.py`` (``--quick`` skips the 50k-device
point; ``--baseline main`` also measures that git revision's ``simulator/``
in the same command and prints the ratios; ``--repeat N`` runs each figure N
times, the codes interleaved, and keeps the least CPU). It prints the issue's figures:

1. ``malmo-worst-case`` through its first 30 minutes (``--until 30min``): the
   whole ``examday simulate`` process, report included, wall and CPU (CPU =
   one core's work; goal < 10 s), beside the simulation alone.
2. The largest ns-3 classroom (n = 30, ``tests/model/ns3_reference.py``)
   simulated alone, per ns-3 seed (the median of ``CLASSROOM_REPS`` runs of
   every seed: one run varies 49-120 ms), as a ratio to ns-3's wall time per
   seed from its table (goal ≥ 1000×).
3. Cost per device at 1k/5k/20k/50k devices (a generated city: schools of
   nine 28-device classrooms, 1 Gbit/s uplinks, 10 Gbit/s core; first 30
   minutes), and the linearity figure: CPU per device at the largest point
   over CPU per device at 1k (1.0 = linear).

Each simulation runs in a fresh interpreter (peak memory is its own). The
machine may be shared: every CPU figure is also shown as a multiple of a
fixed pure-Python reference loop timed in the same command ("x ref").

Where the time goes (py-spy, malmo-worst-case, 30 min, 2026-12-02): the
device processes and event loop about half (339k events; the heap pop alone
~6 %), fluid recomputes ~35 % (5,056 recomputes, of which the 765 city-wide
ones while the content egress is saturated, t = 0-330 s with up to ~8k
flows, take ~70 % of the recompute CPU), trace row formatting ~8 %
(``trace.StepRows``), imports ~4 %. Per recompute the work is some 200 small
numpy calls spread over ``flows``, ``tcp`` and ``mac`` (1.2-1.7 ms each for a
classroom or one school; no single hot spot). Since 2026-12-02 (speed2) what
depends only on the set of active flows (who is on each radio, its Bianchi
contention, collision times) is kept between recomputes (``engine.OnAir``),
the radio FIFO delay is computed once per allocation, and wired levels that
cannot limit are skipped: ~0.6-0.8 ms per classroom recompute, results
identical. Since 2026-12-03 (kernels) a site's recompute of at most 24 flows runs ``tcp._demand`` (with
the radio FIFO delay), ``tcp._schedule_tcp``'s per-flow part, ``mac.flow_cost`` and
``ContentionTable.lookup`` in plain Python (as ``flows.waterfill_py``; bit-identical): --quick --repeat 2
--baseline main, 1k city 8.20 -> 5.83 s cpu, 5k 9.28 -> 6.55 s, 20k 16.95 -> 14.35 s, classroom 51 -> 48 ms,
malmo simulation 12.30 -> 11.90 s (a shared machine: an earlier run gave 1.20x at 1k).
A small city still costs more per device (linearity < 1) mostly
because it recomputes more often: the 1k city makes ~11k recomputes, as many
as the 5k one, and the 20k city ~3.5k (its top saturates, so recomputes are
city-wide and batched by ``max_gap``). The report: analysis ~2 s, plots ~2.5 s
(fixed margins; a constrained layout doubled it), matplotlib import ~0.6 s.

Since 2026-12-02 (simspeed; instrumented run, perf_counter per recompute, load ~3): of malmo's
5,139 recomputes the 772 city-wide ones take ~80 % of the recompute CPU and the 223 of them with
>= 3,000 flows ~26 ms each (~6 s): each makes 3.4 allocations on average (a drop episode at the
content egress changes windows, ``FluidNetwork.update`` allocates again, at most 4), and each
allocation refreshes the airtime costs (``flow_cost`` per radio class), water-fills the three
saturated top levels (core, data centre, egress: each limits in turn, one 7k-flow sort each) and
draws the drops. The small city: 11,218 recomputes (TCP events 5,340, arrivals 3,020, completions
3,018, the rest joined batches), median 5 flows, ~0.4 ms each of fixed numpy-call overhead; 90 %
of them recompute one site. The 50k point (non-quick only, 51,678 devices) takes about a minute
per tree: 60.2 s cpu, 1.17 ms/device, 2,434 recomputes (load ~5, 2026-12-02).

Since 2026-12-02 (simspeed, results identical): after a drop episode the next allocation re-costs only
the flows whose windows it changed (per-station-queue radios), aggregated autosaves are added in one
batch before any reader, and the city-wide ``next_time`` keeps its minimum between updates: the
simulation alone 24.06 -> 22.52 s cpu (1.07x, two interleaved pairs, load 0.4-0.8).

Since 2026-12-03 (simspeed; per-function CPU of an instrumented run, load ~4, before the changes
below): malmo's simulation 13.1 s cpu, of which fluid updates 6.7 s: the 225 city-wide recomputes
with >= 3,000 flows 4.1 s (18 ms each, 761 allocations: water-filling 2.1 ms, ``tcp`` drops 1.4 ms,
airtime refresh 1.1 ms, mostly ``mac.flow_cost``), 4,351 per-site ones of < 100 flows 1.6 s
(0.37 ms each), the rest 1 s; device processes, event loop, trace rows and sampling the other 6.4 s.
The top levels' water-filling sorted ~7k flows 1,987 times (0.6 s). The 1k city: 11,218 recomputes
at 0.67 ms, 7.5 of its 9.2 s (airtime refresh 0.19 ms, half of it ``mac.flow_cost``; allocation
0.16; drops 0.09; TCP schedule 0.08; integration 0.07). Changed, results bit-identical: a pass of
<= 24 flows (a classroom's recompute) and an AP FIFO's shares water-fill in plain Python
(``flows.waterfill_py``; ~2x cheaper a pass at 5-24 flows), a single-node level following another
over the same flows (core, data centre, egress) takes the order below as a checked guess instead
of sorting (1,561 of those 1,987 sorts, 58 vs 175 us), the levels' smallest capacities are kept,
the integration gathers every wired capacity at once. Tried and dropped: reusing the previous
allocation's order as a timsort guess (orders change too much between allocations, half the keys
tie), a plain-Python integration (slower than NumPy: scalar indexing and dicts).

The ~79k TCP retransmission timeouts of malmo-worst-case's first 30 min all
happen at the content egress (the shared top of the tree) during the
download surge (t < 340 s): ~8k flows share 10 Gbit/s, so windows are a few
segments and a loss is mostly recovered by a timeout (84 % a lost
retransmission, 16 % a loss in a flow's last segments), the many-flows
regime of Morris (1997, "TCP behavior with many flows"). They cost little CPU
themselves: recomputes are batched (at most one per ``max_gap`` city-wide).

Since 2026-12-03 (simspeed, second pass; py-spy at 250 Hz, malmo's simulation after main e840760):
the event loop and device processes ~22 % (the heap pop alone ~7 %), ``tcp`` ~17 % (drops ~7 %),
``mac`` ~7 %, water-filling ~8 % (the top levels' ~7k-flow runs: two ``cumsum`` of ~26 us and four
gathers each, a stable sort of mostly tied levels), trace rows ~4 %. The small city's fixed cost is the
recompute count, not the devices: 12,885 recomputes at ~0.55 ms (the 5k city 12,936: a recompute takes
every site due in its window, so five times the sites cost about the same count), of which about half
is ``tcp``/``mac``. Changed, results bit-identical: a per-site update selects its flows among the
active ones, not with a mask over every slot (a city's slots outnumber a site's flows a thousandfold),
and admits pending flows with one gather; ``_integrate`` with every flow on one clock uses one span per
bin; a one-site update takes its next completion with one ``min``, the top-of-tree load is one
``bincount`` (the sums ``np.add.at`` made, in the same order); the site uplinks' up capacities are set
again only when the sampling bin or the aggregated autosaves changed. Tried and dropped: a combined
(group, truncated level) sort key and an unstable sort of (level, position) keys for the water-fill
order (most top-level runs tie: the current stable sort is already ~20 us for 1.8k flows, the check
failed in 219 of 300 recorded runs), column arrays for the short exchanges (``np.array`` of the 153k
tuples is 0.05 s, not 0.4 s), ``argmax`` for the first binding index (no measurable change).
The 50k point (1.10 ms/device, worse than 20k's 0.73): 622 city-wide recomputes of > 3,000 flows take
49 of its 66 s (instrumented), ~79 ms each: drops ~16 s, allocation ~15 s (of it the three top levels'
water-fills 8.3 s, 7,473 calls over ~5-20k flows, ~1.1 ms each: the core's sort, two cumsums and
gathers; its data centre and egress, also 10 Gbit/s, find the core's rates within 1e-13 of capacity
and return after one bincount), integration 3.4 s. So its cost per device grows with the flows per
city-wide recompute (O(n log n) per allocation, ~3.4 allocations per recompute).
Figures (``--quick --repeat 2 --baseline main``, main 3d49892, load 1.1-2.0): malmo's simulation
9.90 -> 9.39 s cpu (1.05x; 10.75 -> 10.24 against e840760 in an earlier run), whole process 14.15 ->
12.95 s (report unchanged: partly noise), classroom 58 -> 54 ms (1,339x ns-3), 1k/5k/20k cities
7.71/8.05/17.18 -> 7.00/9.20/15.06 s (the 5k pair is noise: 9.93 -> 7.60 s in the earlier run).

Since 2026-12-03 (simspeed, third pass; results bit-identical): a resumed process's next wake is pushed with
the loop's next pop (one ``heappushpop``), finished flows are retired with array operations and their
completions gathered at once (``Completion`` a NamedTuple), a FIFO exchange takes its down and up shares
in one call, the short exchanges' table is read with ``fromiter``. ``--quick --repeat 2 --baseline 7821b27``
(load 0.7-1.6): malmo's simulation
12.03 -> 10.31 s cpu (1.17x), whole process 13.38 -> 13.37 s (goal not met); cities 1k/5k/20k
7.12/8.54/16.84 -> 8.61/10.35/17.23 s in that command, but the same call counts ran ~8 % slower in
every function, untouched ones included: in reversed order the 1k city was 8.11/8.04 (this) vs
8.22/8.74 s (main), i.e. neutral. Tried and dropped: a stable order from unstable sorts of
(rank, position) keys (np.unique + searchsorted + sort: 3-5x slower than the uint64 timsort at ~5k
flows, 70 % of levels distinct); skipping zero-probability binomial draws (almost none are zero).

Since 2026-12-03 (simspeed, fourth pass: algorithmic changes allowed if validation holds; per-kind CPU of
instrumented runs, load 1.5-3): of malmo's simulation the fluid updates are ~5.9 s: 225 city-wide ones of
>= 3,000 flows 3.6 s (741 allocations: allocation 1.8 ms, drop round 1.3 ms, airtime refresh 1.0 ms each),
4,557 per-site ones 1.5 s (~0.33 ms, a third of it the airtime refresh: ``topology.collision_times``,
``ContentionTable.lookup``, ``mac.flow_cost``), 510 other city-wide 0.8 s; the other ~4.4 s are the 293k
process resumes, 29k network events (24k of them stale) and 15k PS events. Why the partial recomputes the
issue suggests do not apply there: after a drop round the next allocation moves the rate of 97.6 % of
the flows (8 % in L1) and ~60-80 % of them were cut, since the saturated egress couples them all; 96 % of
the airtime costs change between updates (windows grow); 2.4 % of the flows are paused; per-site
contention caches would hit 205 of 3,000 misses. Tried and dropped (the commits are on branch simspeed):
drop rounds of one episode at held rates with one allocation after the episode (741 -> 448 allocations,
~0.4 s): at every node it moved compare.py's 802.11g cases by up to 1.8 points; at wired nodes only the
classroom tables stay identical but malmo's dc-up wait moves 9.2 % (two other seeds of the drop stream:
4.5 %) for a gain within the machine's noise. Note for output-changing work: another seed of the drop
stream alone moves autosave p50 by 12 %, download max by 3.9 %, login failures by 1.3 % and reorders the
ranking's AP tail (``benchmarks/summary_diff.py --noise`` judges a change against that spread).
Changed, results bit-identical: consecutive wired levels on which every flow has the same node (switch and
uplink; core, data centre and egress, 40/20/10 Gbit/s down) are one fill at each node's smallest capacity
(``FluidNetwork._level_runs``; it replaces the reused-order guess), a 5k-flow allocation ~1.3-1.4 ->
~1.1-1.2 ms (best of 40, captured states); ``--quick --repeat 2 --baseline 7821b27`` at load 2.4-2.8:
simulation 12.53 -> 12.19 s cpu (1.03x), whole process 17.12 -> 14.33 s (noise: the report is untouched).

Since 2026-12-03 (simspeed, fifth pass: the per-resume cost; cProfile of malmo's simulation, results
bit-identical): of the process side the exchanges dominate (159k FIFO offers, 153k short responses, 120k
trace rows), not the loop: the 24k stale network events cost a push, a pop and one version compare each
(~50 ms in all, not worth a second index), PS events 15k. Changed: a bulk flow's nodes, TCP start state
and site are built once per (room, class, connections, direction) (``Simulation._bulk_route``; 45k flows),
a short exchange's record and airtime are one call (``short_exchange``), a response within the initial
window skips the slow-start arithmetic (profiled ``_resp_time`` 0.45 -> 0.22 s), the initial window is on
``DeviceState``, a site's ``next_time`` reads Python scalars. ``--quick --repeat 2 --baseline 44484d3``
(load 1.1-2.5): simulation 8.57 -> 8.52 s cpu; four interleaved runs of the simulation alone, least
CPU: 8.59 -> 8.35 s (1.03x); the 1k city neutral (6.01 -> 5.96 s, the benchmark's 5.70 -> 7.40 was the
shared machine: runs of one code varied 6.0-9.2 s).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORST = ROOT / "scenarios" / "malmo-worst-case.yaml"
SCALE = (1000, 5000, 20000, 50000)
GOAL_WHOLE_S, GOAL_NS3_RATIO = 10.0, 1000.0
CLASSROOM_REPS = 7  # repetitions of the classroom figure (its median: single runs vary 49-120 ms)

CITY = """\
name: bench-city-{devices}
seed: 11
domain: bench.skola.example
profiles: {profiles}
exam:
  test: english-listening-9
  start: "09:00"
  end: "10:00"
  arrival: {{median: 45 s, p95: 3 min}}
  teacher_lead: 3 min
core: {{down: 10 Gbit/s, up: 10 Gbit/s, rtt: 1 ms}}
datacentre: {{down: 10 Gbit/s, up: 10 Gbit/s, rtt: 4 ms}}
services:
  idp: {{profile: idp-broker}}
  platform: {{profile: dnp-platform}}
  content: {{profile: dnp-content}}
  provisioning: {{profile: egil-provisioning}}
  dhcp: {{profile: city-dhcp}}
templates:
  classrooms:
    room: {{ap: aruba-535, devices: {{chromebook: 24, ipad: 4}}}}
  sites:
    school:
      uplink: {{down: 1 Gbit/s, up: 1 Gbit/s, rtt: 3 ms}}
      classrooms:
        - {{template: room, count: {rooms}, name: "R{{n}}"}}
sites:
  - {{template: school, count: {sites}, name: "s{{n:03d}}"}}
"""


def city_scenario(devices: int, folder: Path) -> Path:
    """A generated city of about ``devices`` pupils (28 per classroom, 9 classrooms per school)."""
    rooms_total = max(1, round(devices / 28))
    sites = max(1, rooms_total // 9)
    rooms = max(1, round(rooms_total / sites))
    path = folder / f"bench-city-{devices}.yaml"
    path.write_text(CITY.format(devices=devices, profiles=ROOT / "profiles", rooms=rooms, sites=sites))
    return path


# ------------------------------------------------------------------ in the child interpreter
def _measure_here(path: str, until: float | None) -> dict:
    """One measurement in this process: wall and CPU of ``simulate``, peak RSS growth per device."""
    from simulator.model import simulate
    from simulator.plan import load_plan

    plan = load_plan(path)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with tempfile.TemporaryDirectory() as out:
        t0, c0 = time.perf_counter(), time.process_time()
        r = simulate(plan, out, until_s=until)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    n = len(plan.devices)
    return {"devices": n, "wall_s": wall, "cpu_s": cpu, "events": r.events, "peak_bytes_per_device":
            max(0, peak - base_rss) / n, "step_rows": r.step_rows, "recomputes": r.flow_recomputes}


def _classroom_here(code: Path) -> dict:
    """The n = 30 (largest downlink) ns-3 classroom, simulated once per ns-3 seed: CPU and wall per seed."""
    sys.path.insert(0, str(code / "tests" / "model"))
    from ns3_reference import scenario_for, tables  # noqa: E402

    from simulator.model import simulate
    from simulator.plan import load_plan

    cands = [t for t in tables() if t["config"]["download_bytes"] and not t["config"]["upload_bytes"]]
    if not cands:
        return {}
    t = max(cands, key=lambda t: (t["config"]["stations"], t["case"].startswith("ax")))
    n = len(t["per_seed"])
    cpus, walls = [], []
    with tempfile.TemporaryDirectory() as tmp:
        plans = [load_plan(str(scenario_for(t, row, Path(tmp)))) for row in t["per_seed"]]
        for rep in range(CLASSROOM_REPS):  # one run is ~50-100 ms: the median of several, per seed
            cpu = wall = 0.0
            for row, plan in zip(t["per_seed"], plans):
                t0, c0 = time.perf_counter(), time.process_time()
                simulate(plan, Path(tmp) / f"run-{rep}-{row['seed']}")
                wall, cpu = wall + time.perf_counter() - t0, cpu + time.process_time() - c0
            cpus.append(cpu / n)
            walls.append(wall / n)
    return {"case": t["case"], "seeds": n, "reps": CLASSROOM_REPS, "cpu_s": statistics.median(cpus),
            "wall_s": statistics.median(walls), "cpu_spread_s": [min(cpus), max(cpus)],
            "ns3_wall_s": t["summary"]["wall_s"]}


# ------------------------------------------------------------------ in the parent
def _child(code: Path, *args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(code))
    cmd = [sys.executable, __file__, "--code", str(code), *args]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, cwd=code).stdout
    return json.loads(out.strip().splitlines()[-1])


def measure(code: Path, path: Path, until: float | None) -> dict:
    return _child(code, "--one", str(path), *(["--until", str(until)] if until else []))


def whole_simulate(code: Path, path: Path, until: str) -> tuple[float, float]:
    """(wall, CPU) seconds of the whole ``examday simulate`` process (start-up, simulation, report)."""
    with tempfile.TemporaryDirectory() as out:
        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "simulator", "simulate", str(path), "--until", until, "-q",
                        "-o", str(Path(out) / "run")], check=False, capture_output=True, cwd=code,
                       env=dict(os.environ, PYTHONPATH=str(code)))
        wall = time.perf_counter() - t0
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        return wall, (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)


def reference_s() -> float:
    """CPU seconds of a fixed pure-Python loop: the machine's speed right now (figures are divided by it)."""
    t0 = time.process_time()
    x = 0
    for i in range(3_000_000):
        x += i * i % 7
    return time.process_time() - t0


def export(rev: str, folder: Path) -> Path:
    """``simulator/`` and ``profiles/`` of git revision ``rev`` in ``folder`` (the baseline's code)."""
    git = subprocess.Popen(["git", "-C", str(ROOT), "archive", rev, "simulator", "profiles", "tests/model",
                            "validation/tables"], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(folder)], stdin=git.stdout, check=True)
    if git.wait():
        raise SystemExit(f"benchmarks/model.py: --baseline {rev}: git archive failed")
    return folder


def _line(name: str, m: dict, ref: float) -> str:
    return (f"{name:<34} {m['devices']:>6} dev  wall {m['wall_s']:>6.2f} s  cpu {m['cpu_s']:>6.2f} s "
            f"({m['cpu_s'] / ref:>5.1f} x ref)  {m['events']:>7} ev  {m['recomputes']:>6} recomputes  "
            f"{m['peak_bytes_per_device'] / 1e3:>5.1f} kB/dev")


def _vs(new: float, old: float | None) -> str:
    return "" if old is None else f"   [baseline {old:.2f} s: {old / new:.2f}x faster]"


def _best(runs: list, cpu=lambda m: m["cpu_s"]):
    """The run with the least CPU of several (a shared machine only ever adds time)."""
    return min(runs, key=cpu)


def run_all(codes: dict[str, Path], quick: bool, repeat: int = 1) -> None:
    ref = reference_s()
    print(f"reference loop: {ref:.3f} s cpu ('x ref' = figure / this; the machine may be shared)")
    sizes = SCALE[:-1] if quick else SCALE
    base = codes.get("baseline")
    new = codes["this tree"]
    res: dict[str, dict] = {k: {} for k in codes}
    with tempfile.TemporaryDirectory() as tmp:
        cities = {n: city_scenario(n, Path(tmp)) for n in sizes}
        runs: dict[str, dict[str, list]] = {k: {"whole": [], "sim": [], "classroom": [], "scale": []} for k in codes}
        for _ in range(repeat):  # the codes interleaved per figure: a load change hits both alike
            for label, code in codes.items():
                runs[label]["whole"].append(whole_simulate(code, WORST, "30min"))
            for label, code in codes.items():
                runs[label]["sim"].append(measure(code, WORST, 1800.0))
            for label, code in codes.items():
                runs[label]["classroom"].append(_child(code, "--classroom"))
            for label, code in codes.items():
                runs[label]["scale"].append([measure(code, cities[n], 1800.0) for n in sizes])
        for label in codes:
            got, r = runs[label], res[label]
            r["whole"] = _best(got["whole"], cpu=lambda m: m[1])
            r["sim"] = _best(got["sim"])
            r["classroom"] = _best(got["classroom"], cpu=lambda m: m.get("cpu_s", 0.0))
            r["scale"] = [_best([rep[i] for rep in got["scale"]]) for i in range(len(sizes))]
    if repeat > 1:
        print(f"(each figure: the least CPU of {repeat} runs, the codes interleaved)")
    for label in codes:
        r, b = res[label], (res["baseline"] if base is not None and label != "baseline" else None)
        print(f"\n== {label} ({codes[label]}) ==")
        wall, cpu = r["whole"]
        print(f"1. {WORST.stem}, first 30 min, whole `examday simulate` (report included): wall {wall:.2f} s, "
              f"cpu {cpu:.2f} s ({cpu / ref:.1f} x ref)  goal < {GOAL_WHOLE_S:.0f} s on one core: "
              f"{'met' if cpu < GOAL_WHOLE_S else 'NOT met'} (cpu){_vs(cpu, b and b['whole'][1])}")
        print("   " + _line("simulation alone", r["sim"], ref) + _vs(r["sim"]["cpu_s"], b and b["sim"]["cpu_s"]))
        c = r["classroom"]
        if c:
            ratio_cpu, ratio_wall = c["ns3_wall_s"] / c["cpu_s"], c["ns3_wall_s"] / c["wall_s"]
            spread = c.get("cpu_spread_s")
            reps = (f" (median of {c['reps']} runs of every seed, cpu {spread[0] * 1e3:.0f}-{spread[1] * 1e3:.0f} ms)"
                    if spread else "")
            print(f"2. classroom {c['case']} (ns-3 {c['ns3_wall_s']:.1f} s wall per seed), model per seed{reps}: "
                  f"cpu {c['cpu_s'] * 1e3:.0f} ms -> {ratio_cpu:,.0f}x, wall {c['wall_s'] * 1e3:.0f} ms -> "
                  f"{ratio_wall:,.0f}x  goal >= {GOAL_NS3_RATIO:,.0f}x: {'met' if ratio_cpu >= GOAL_NS3_RATIO else 'NOT met'}"
                  f" (cpu){_vs(c['cpu_s'], b and b['classroom'].get('cpu_s'))}")
        print("3. cost per device (first 30 min of a generated city):")
        print("   devices   cpu_s   wall_s   cpu ms/device   x ref   recomputes   events/device")
        for m in r["scale"]:
            print(f"   {m['devices']:>7} {m['cpu_s']:>7.2f} {m['wall_s']:>8.2f} {m['cpu_s'] / m['devices'] * 1e3:>15.3f}"
                  f" {m['cpu_s'] / ref:>7.1f} {m['recomputes']:>12} {m['events'] / m['devices']:>15.1f}")
        lo, hi = r["scale"][0], r["scale"][-1]
        lin = (hi["cpu_s"] / hi["devices"]) / (lo["cpu_s"] / lo["devices"])
        print(f"   linearity: cpu per device at {hi['devices']} / at {lo['devices']} = {lin:.2f} (1.0 = linear; "
              f"< 1 means the small city pays fixed per-recompute costs)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="skip the 50k-device point")
    ap.add_argument("--baseline", metavar="REV", help="also measure this git revision (e.g. main) and print ratios")
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="run every figure N times (codes interleaved) and keep each one's least CPU")
    ap.add_argument("--code", help=argparse.SUPPRESS)
    ap.add_argument("--one", metavar="SCENARIO", help=argparse.SUPPRESS)
    ap.add_argument("--classroom", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--until", type=float, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one or args.classroom:
        code = Path(args.code or ROOT)
        sys.path.insert(0, str(code))
        print(json.dumps(_measure_here(args.one, args.until) if args.one else _classroom_here(code)))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-model-") as tmp:
        codes = {"this tree": ROOT}
        if args.baseline:
            codes = {"baseline": export(args.baseline, Path(tmp)), **codes}
        run_all(codes, args.quick, max(1, args.repeat))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
