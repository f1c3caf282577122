"""Benchmark: analysis (summary + every plot) of a 10^6-row trace (target < 10 s), and the report of a
city-scale model run (malmo-worst-case, 20,736 pupils).

1. Generates a realistic city-scale exam start with ``TraceWriter`` — ~165k pupil
   devices over 50 sites x 100 rooms walking join -> login -> assertion -> download
   (+ two autosaves), 3 % failed logins retried, 1 % downloads that never finish —
   and AP/link/service resource samples every 10 s. Times ``read_steps`` (the
   baseline), ``analyse`` and ``write_report`` (summary.json, sites/rooms.csv,
   plots, HTML, JUnit), and prints analyse / read_steps as a ratio.
2. Runs the model on ``scenarios/malmo-worst-case.yaml`` and times its full report
   (the per-site/room tables, the bottleneck attribution, every plot), printing the
   verdict (it must name the IdP) and the time as a ratio of the synthetic one.

    .venv/bin/python benchmarks/analysis.py [--rows 1000000] [--keep DIR] [--no-city]

Where the time goes (procspeed, 2026-12-03; the report of malmo-worst-case's first 30 min, 120k step
rows, 182k resource samples, 93 sites, 792 rooms; cProfile/py-spy shares, load 3-4): plots ~55 % (in
matplotlib 3.11 text costs ~1.5 ms per label: a Python loop per glyph plus a libraqm layout when
measured and again when drawn; a tick is two lines and two texts; the site heatmap with 93 row labels
is the dearest figure, ~0.3 s), imports ~20 % (matplotlib ~0.35 s), analysis ~20 % (attribution
~0.15 s, resource stats ~0.06, step stats ~0.05, site/room groups ~0.05), reading the trace ~0.15 s
(pyarrow's parse ~0.09), summary.json + tables + html + junit ~0.1 s. With the 21k-device plan in
memory (as after ``examday simulate``), the report including its imports: 3.49 -> 2.89 s cpu (least of
5 interleaved runs each, load ~3.5) since main 97c1e6b: the collector frozen over the imports, text
columns keeping the parser's codes (no pass over the strings to factorise them), fewer tick objects
and no mathtext in the plots, one mean per sampled resource in the attribution.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulator.trace import ResourceSample, TraceWriter  # noqa: E402


def generate(run_dir: Path, rows: int, seed: int = 7) -> int:
    """Write about ``rows`` step rows; return how many were written."""
    rng = np.random.default_rng(seed)
    n = int(rows / 6.03)  # rows per device incl. retries
    sites = [f"s{k:02d}" for k in range(50)]
    site_i = rng.integers(0, len(sites), n)
    room_i = rng.integers(0, 100, n)
    t = rng.uniform(-60, 120, n)
    join_e = t + 2 + rng.exponential(3, n)
    login_q = rng.exponential(8, n)
    login_e = join_e + 1 + login_q + rng.exponential(1, n)
    fail_first = rng.random(n) < 0.03
    login_e += np.where(fail_first, 6, 0)
    ass_e = login_e + 0.2 + rng.exponential(0.3, n)
    dl_e = ass_e + 10 + rng.exponential(40, n)
    dl_ok = rng.random(n) > 0.01
    # plain Python floats: TraceWriter's _fmt writes numpy scalars as 'np.float64(...)' (reported)
    t, join_e, login_q, login_e, ass_e, dl_e = (x.tolist() for x in (t, join_e, login_q, login_e, ass_e, dl_e))
    fail_first, dl_ok = fail_first.tolist(), dl_ok.tolist()  # numpy bools would be written as 'True'
    w = TraceWriter(run_dir, flush_every=5000)
    written = 0
    put = w.step_values
    for i in range(n):
        site, room = sites[site_i[i]], f"r{room_i[i]:02d}"
        dev, ap = f"{site}-{room}-{i}", f"ap:{site}/{room}"
        base = ("bench", "model", dev, "chromebook", site, room, ap)
        put(base + ("join", t[i], t[i], join_e[i], 1200, True, "", math.nan, 1, 0.5))
        ls = join_e[i] + 1
        if fail_first[i]:
            put(base + ("login", ls, ls, ls + 5, 2000, False, "http 503", math.nan, 1, 4.0))
            ls += 6
            written += 1
        put(base + ("login", ls, ls, login_e[i], 9000, True, "", math.nan, 2 if fail_first[i] else 1, login_q[i]))
        put(base + ("assertion", login_e[i], login_e[i], ass_e[i], 6000, True, "", math.nan, 1, 0.01))
        put(base + ("download", ass_e[i], ass_e[i], dl_e[i], 35_000_000, dl_ok[i],
                    "" if dl_ok[i] else "reset", ass_e[i] + 0.1, 1, 0.0))
        put(base + ("autosave", dl_e[i] + 60, dl_e[i] + 60, dl_e[i] + 60.4, 4000, True, "", math.nan, 1, 0.0))
        put(base + ("autosave", dl_e[i] + 120, dl_e[i] + 120, dl_e[i] + 120.3, 4000, True, "", math.nan, 1, 0.0))
        written += 6
    ts = np.arange(-60, 600, 10.0)
    shape = np.exp(-((ts - 90) / 120) ** 2).tolist()
    ts = ts.tolist()
    peaks = rng.uniform(0.3, 1.0, len(sites) * 50).tolist()
    for s in sites:
        for r in range(0, 100, 2):  # half the rooms have an AP sample series
            peak = peaks.pop()
            for k, tt in enumerate(ts):
                w.resource(ResourceSample(tt, f"ap:{s}/r{r:02d}", "ap", min(1.0, peak * shape[k]), 0.0))
        for k, tt in enumerate(ts):
            w.resource(ResourceSample(tt, f"uplink-down:{s}", "link", 0.7 * shape[k], 0.0))
    for k, tt in enumerate(ts):
        w.resource(ResourceSample(tt, "service:idp", "service", min(1.0, 1.3 * shape[k]), 400 * shape[k]))
        w.resource(ResourceSample(tt, "service:content", "service", 0.5 * shape[k], 0.0))
    w.close()
    import json
    (run_dir / "manifest.json").write_text(json.dumps({
        "engine": "model", "scenario": {"name": "bench-city"}, "status": "finished", "t0_clock": 32400.0,
        "planned": {"devices": n, "pupils": n},
        "slo": {"ready_p95": 300.0, "ready_by_0905": 0.9, "login_p99": 60.0, "error_rate": 0.05}}))
    return written


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--keep", metavar="DIR", help="write (or reuse) the trace in DIR instead of a temp dir")
    ap.add_argument("--no-city", action="store_true", help="skip the malmo-worst-case model run and its report")
    args = ap.parse_args()
    tmp = None
    if args.keep:
        run_dir = Path(args.keep)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="examday-bench-")
        run_dir = Path(tmp.name)
    if not any(run_dir.glob("steps*.csv.gz")):
        t = time.perf_counter()
        rows = generate(run_dir, args.rows)
        print(f"generated {rows} step rows in {time.perf_counter() - t:.1f} s ({run_dir})")
    t, c = time.perf_counter(), time.process_time()
    from simulator.report import write_report  # import cost (matplotlib) counts

    res = write_report(run_dir)
    t_all, c_all = time.perf_counter() - t, time.process_time() - c
    nrows, nres = res.summary["run"]["step_rows"], res.summary["run"]["resource_rows"]
    del res
    from simulator.analysis.summary import analyse
    from simulator.trace import read_steps

    t = time.perf_counter()
    read_steps(run_dir)
    t_read = time.perf_counter() - t
    t, c = time.perf_counter(), time.process_time()
    a = analyse(run_dir)
    t_an, c_an = time.perf_counter() - t, time.process_time() - c
    print(f"rows: {nrows} steps, {nres} resource samples")
    print(f"write_report (read + summary + all plots + html + junit): {t_all:6.2f} s  (target < 10 s; "
          f"CPU {c_all:.2f} s: on a loaded machine the CPU time is the fairer figure)")
    print(f"  of which read_steps alone:                             {t_read:6.2f} s")
    print(f"  of which analyse (read + all numbers + SLOs):          {t_an:6.2f} s  (CPU {c_an:.2f} s)")
    print(f"  analyse / read_steps:                                  {t_an / t_read:6.2f} x")
    print(f"verdict: {a.verdict_line()}")
    if tmp:
        tmp.cleanup()
    if not args.no_city:
        city_report(t_all)
    return 0


def city_report(t_synthetic: float) -> None:
    """The model on malmo-worst-case (>= 20k devices), then its whole report, timed."""
    from simulator.model import simulate
    from simulator.plan import load_plan
    from simulator.report import write_report
    from simulator.results import planned_counts, update_manifest, write_manifest

    scenario = Path(__file__).resolve().parents[1] / "scenarios" / "malmo-worst-case.yaml"
    with tempfile.TemporaryDirectory(prefix="examday-bench-city-") as d:
        run = Path(d)
        plan = load_plan(scenario)
        write_manifest(run, scenario_path=str(scenario), scenario_name=plan.scenario, engine="model",
                       seed=plan.seed, t0_clock=plan.t0_clock, slo=plan.slo, planned=planned_counts(plan))
        t = time.perf_counter()
        simulate(plan, run)
        t_sim = time.perf_counter() - t
        update_manifest(run, status="finished")
        t, c = time.perf_counter(), time.process_time()
        res = write_report(run)
        t_rep, c_rep = time.perf_counter() - t, time.process_time() - c
        s = res.summary
        print(f"city: {plan.scenario}, {s['ready']['population']} pupils, {s['run']['step_rows']} step rows, "
              f"{len(s['sites'])} sites, {len(s['rooms'])} rooms")
        print(f"  model run:                                             {t_sim:6.2f} s")
        print(f"  write_report (everything):                             {t_rep:6.2f} s  (CPU {c_rep:.2f} s; "
              f"{t_rep / t_synthetic:.2f} x the 10^6-row report)")
        print(f"  bottleneck: {s['bottleneck']['label']} [{s['bottleneck']['resource']}]")
        print(f"  verdict: {s['verdict'][:300]}")


if __name__ == "__main__":
    raise SystemExit(main())
