"""Model engine speed: school-ak9, the city's worst case (first 30 min), and how cost grows with devices.

Run: ``.venv/bin/python benchmarks/model.py`` (``--quick`` skips the 50k point).
Prints wall time, events processed per second, peak memory per device
(tracemalloc, Python heap), and a scaling table for 1k/5k/20k/50k devices
generated from a city template (sites of nine 28-device classrooms, 1 Gbit/s
uplinks, 10 Gbit/s core), simulated through their first 30 minutes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator.commands import load_plan  # noqa: E402
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


def measure(path: Path, until: float | None, overrides=()) -> dict:
    plan = load_plan(str(path), list(overrides))
    with tempfile.TemporaryDirectory() as out:
        tracemalloc.start()
        t0 = time.perf_counter()
        r = simulate(plan, out, until_s=until)
        wall = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return {"devices": len(plan.devices), "wall_s": wall, "events": r.events, "events_per_s": r.events / wall,
            "peak_bytes_per_device": peak / max(1, len(plan.devices)), "step_rows": r.step_rows,
            "resource_rows": r.resource_rows, "recomputes": r.flow_recomputes}


def _line(name: str, m: dict) -> str:
    return (f"{name:<34} {m['devices']:>7} dev {m['wall_s']:>7.2f} s  {m['events']:>9} ev  "
            f"{m['events_per_s'] / 1e3:>6.0f} kev/s  {m['peak_bytes_per_device'] / 1e3:>6.1f} kB/dev  "
            f"{m['step_rows']:>7} rows  {m['recomputes']:>6} recomputes")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="skip the 50k-device point")
    args = ap.parse_args(argv)
    print("(wall time measured with tracemalloc on, which slows Python ~1.3-2x; figures are upper bounds)")
    ak9 = measure(ROOT / "scenarios" / "school-ak9.yaml", None)
    print(_line("school-ak9 (whole run, aim < 1 s)", ak9))
    worst = ROOT / "scenarios" / "malmo-worst-case.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        if not worst.exists():
            worst = city_scenario(20000, Path(tmp))
            print(f"(scenarios/malmo-worst-case.yaml missing: using a generated 20k-device city)")
        m = measure(worst, 1800.0)
        print(_line(f"{worst.stem} first 30 min (aim < 10 s)", m))
        print("\nscaling (first 30 min):")
        rows = []
        for n in (1000, 5000, 20000) + (() if args.quick else (50000,)):
            rows.append(measure(city_scenario(n, Path(tmp)), 1800.0))
            print(_line(f"city {n}", rows[-1]))
        base = rows[0]
        print("\n devices   wall_s   s per 1k devices   ratio to linear")
        for r in rows:
            per_k = r["wall_s"] / r["devices"] * 1000
            print(f"{r['devices']:>8} {r['wall_s']:>8.2f} {per_k:>14.3f} {per_k / (base['wall_s'] / base['devices'] * 1000):>16.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
