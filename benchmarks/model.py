"""Model engine speed: school-ak9, the city's worst case (first 30 min), a classroom against ns-3, scaling.

Run: ``.venv/bin/python benchmarks/model.py`` (``--quick`` skips the 50k point).
Prints wall and CPU time, events processed per (CPU) second, peak memory per
device (RSS growth in a fresh process); the whole ``examday simulate`` process
for malmo-worst-case's first 30 minutes (report included; goal < 10 s) beside
the simulation alone; the n = 30 (or largest) ns-3 classroom simulated alone,
as a ratio to ns-3's wall time per seed from its table (goal ≥ 1000×); and a
scaling table for 1k/5k/20k/50k devices generated from a city template (sites
of nine 28-device classrooms, 1 Gbit/s uplinks, 10 Gbit/s core), simulated
through their first 30 minutes. Every figure is also shown as a multiple of a
fixed pure-Python reference loop timed in the same command, since the machine
may be shared.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator.plan import load_plan  # noqa: E402
from simulator.model import simulate  # noqa: E402

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


def _measure_here(path: str, until: float | None) -> dict:
    """One measurement in this process: wall and CPU time of ``simulate``, peak RSS growth per device."""
    plan = load_plan(path)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with tempfile.TemporaryDirectory() as out:
        t0, c0 = time.perf_counter(), time.process_time()
        r = simulate(plan, out, until_s=until)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    n = len(plan.devices)
    return {"devices": n, "wall_s": wall, "cpu_s": cpu, "events": r.events, "events_per_s": r.events / cpu,
            "peak_bytes_per_device": max(0, peak - base_rss) / n, "step_rows": r.step_rows,
            "resource_rows": r.resource_rows, "recomputes": r.flow_recomputes}


def measure(path: Path, until: float | None) -> dict:
    """Measure in a fresh interpreter, so peak memory belongs to this run alone."""
    cmd = [sys.executable, __file__, "--one", str(path)] + (["--until", str(until)] if until else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def reference_s() -> float:
    """CPU seconds of a fixed pure-Python loop: the machine's speed right now (figures are divided by it)."""
    t0 = time.process_time()
    x = 0
    for i in range(3_000_000):
        x += i * i % 7
    return time.process_time() - t0


def whole_simulate(path: Path, until: str) -> tuple[float, float]:
    """(wall, CPU) seconds of the whole ``examday simulate`` process (start-up, simulation, report)."""
    with tempfile.TemporaryDirectory() as out:
        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "simulator", "simulate", str(path), "--until", until, "-q",
                        "-o", str(Path(out) / "run")], check=False, capture_output=True, cwd=ROOT)
        wall = time.perf_counter() - t0
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        return wall, (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)


def classroom_vs_ns3() -> str:
    """The largest ns-3 classroom table simulated alone (per seed) against ns-3's wall time per seed."""
    sys.path.insert(0, str(ROOT / "tests" / "model"))
    from ns3_reference import tables, model_figures  # noqa: E402

    cands = [t for t in tables() if t["config"]["download_bytes"] and not t["config"]["upload_bytes"]]
    if not cands:
        return "no ns-3 tables in validation/tables"
    t = max(cands, key=lambda t: (t["config"]["stations"], t["case"].startswith("ax")))
    with tempfile.TemporaryDirectory() as tmp:
        m = model_figures(t, Path(tmp))
    ratio = t["summary"]["wall_s"] / m.wall_s
    return (f"{t['case']}: model {m.wall_s * 1e3:.0f} ms per seed, ns-3 {t['summary']['wall_s']:.1f} s per seed "
            f"-> {ratio:,.0f}x faster (goal >= 1000x)")


def _line(name: str, m: dict) -> str:
    return (f"{name:<40} {m['devices']:>6} dev  wall {m['wall_s']:>6.2f} s  cpu {m['cpu_s']:>6.2f} s  "
            f"{m['events']:>7} ev  "
            f"{m['events_per_s'] / 1e3:>6.0f} kev/s  {m['peak_bytes_per_device'] / 1e3:>6.1f} kB/dev  "
            f"{m['step_rows']:>7} rows  {m['recomputes']:>6} recomputes")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="skip the 50k-device point")
    ap.add_argument("--one", metavar="SCENARIO", help=argparse.SUPPRESS)
    ap.add_argument("--until", type=float, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(_measure_here(args.one, args.until)))
        return 0
    ref = reference_s()
    print("each figure from a fresh process; cpu = process CPU time (the machine is shared: see the reference), "
          "memory = peak RSS growth during simulate / devices")
    print(f"reference loop: {ref:.3f} s cpu (figures below also as multiples of it: 'x ref')")
    ak9 = measure(ROOT / "scenarios" / "school-ak9.yaml", None)
    print(_line("school-ak9 (whole run, aim < 1 s)", ak9))
    print(classroom_vs_ns3())
    worst = ROOT / "scenarios" / "malmo-worst-case.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        if not worst.exists():
            worst = city_scenario(20000, Path(tmp))
            print("(scenarios/malmo-worst-case.yaml missing: using a generated 20k-device city)")
        m = measure(worst, 1800.0)
        print(_line(f"{worst.stem} first 30 min, simulation", m) + f"  ({m['cpu_s'] / ref:.1f} x ref)")
        wall, cpu = whole_simulate(worst, "30min")
        print(f"{worst.stem} first 30 min, whole `examday simulate` (report included): {wall:.2f} s wall, "
              f"{cpu:.2f} s cpu ({cpu / ref:.1f} x ref; goal < 10 s on an idle core)")
        print("\nscaling (first 30 min):")
        rows = []
        for n in (1000, 5000, 20000) + (() if args.quick else (50000,)):
            rows.append(measure(city_scenario(n, Path(tmp)), 1800.0))
            print(_line(f"city {n}", rows[-1]))
        base = rows[0]
        print("\n devices    cpu_s   cpu s per 1k devices   relative to the 1k point (1.0 = linear)"
              "   events/device   us/event")
        for r in rows:
            per_k = r["cpu_s"] / r["devices"] * 1000
            rel = per_k / (base["cpu_s"] / base["devices"] * 1000)
            print(f"{r['devices']:>8} {r['cpu_s']:>8.2f} {per_k:>20.3f} {rel:>24.2f} {' ' * 14}"
                  f"{r['events'] / r['devices']:>14.1f} {r['cpu_s'] / r['events'] * 1e6:>10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
