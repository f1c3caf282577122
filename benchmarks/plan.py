"""Plan expansion speed and memory for malmo-worst-case (issue 2: < 2 s, modest memory).

Prints wall seconds and peak MB (tracemalloc: Python allocations of loading +
expanding), and the same for school-ak9 as a baseline in the same process.
Run: .venv/bin/python benchmarks/plan.py
"""

import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.plan import load_plan  # noqa: E402
from simulator.scenario import loader  # noqa: E402


def measure(name: str, trace_memory: bool = False) -> tuple[float, float, int]:
    """Seconds to load + expand (profiles re-read each time); peak MB when ``trace_memory``."""
    loader._profile_cache.clear()
    if trace_memory:
        tracemalloc.start()
    t = time.perf_counter()
    plan = load_plan(ROOT / "scenarios" / f"{name}.yaml")
    dt = time.perf_counter() - t
    peak = 0
    if trace_memory:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return dt, peak / 1e6, len(plan.devices)


if __name__ == "__main__":
    measure("ci-smoke")  # warm imports
    for name in ("school-ak9", "malmo-city", "malmo-worst-case"):
        best = min(measure(name)[0] for _ in range(3))
        _, mb, n = measure(name, trace_memory=True)
        print(f"{name:18s} devices {n:6d}  plan {best:6.3f} s (best of 3)  peak {mb:6.1f} MB  "
              f"{mb * 1e6 / n:6.0f} B/device")
