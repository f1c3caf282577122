"""``examday sweep SCENARIO --vary KEY=V1,V2 [--vary ...] [--repeat K]``: the model over a grid, as a capacity report.

Every grid point (x repeat, with seeds seed, seed+1, ...) is a full model run
in ``<out>/points/NNN/`` (its own manifest and trace), run on all cores.
Each is analysed (time-to-ready, bottleneck); ``<out>/sweep.json`` holds the
points and the curves, ``<out>/plots/sweep-<key>.png`` one slide-ready plot
per varied key. All points are planned (and so validated) before any runs.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from ..errors import UserError
from ..plan import load_plan
from . import add_run_options

HELP = "run the model over a grid of scenario values"
EXAMPLE = ("examday sweep scenarios/school-ak9.yaml --vary 'sites[0].uplink.down=50 Mbit/s,100 Mbit/s,1 Gbit/s' "
           "--repeat 3")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_run_options(p)
    p.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2,...", required=True,
                   help="a scenario path and the values to try, e.g. 'sites[0].uplink.down=50 Mbit/s,1 Gbit/s' "
                        "(repeatable: the grid is every combination)")
    p.add_argument("--repeat", type=int, default=1, metavar="K", help="runs per grid point, seeds seed..seed+K-1")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, metavar="N", help="parallel runs (default: all cores)")
    p.add_argument("--until", default=None, metavar="DURATION", help="stop each run this long after the exam start")


def _parse_vary(items: list[str]) -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    for item in items:
        if "=" not in item:
            raise UserError(f"--vary {item!r}: write KEY=V1,V2,... e.g. 'sites[0].uplink.down=50 Mbit/s,1 Gbit/s'")
        key, values = (s.strip() for s in item.split("=", 1))
        vals = [v.strip() for v in values.split(",") if v.strip()]
        if not key or not vals:
            raise UserError(f"--vary {item!r}: needs a key and at least one value")
        if key in keys:
            raise UserError(f"--vary {key}: given twice")
        keys[key] = vals
    return keys


def _run_point(scenario: str, overrides: list[str], seed: int, run_dir: str, until: float | None,
               values: dict[str, str], repeat: int) -> dict:
    """Worker: plan, simulate, analyse one point; returns the SweepPoint as JSON (picklable)."""
    from ..analysis.summary import analyse
    from ..analysis.sweep import point_from_analysis
    from ..model import simulate
    from ..results import planned_counts, update_manifest, write_manifest

    plan = load_plan(scenario, overrides, seed)
    path = Path(run_dir)
    path.mkdir(parents=True, exist_ok=True)
    write_manifest(path, scenario_path=scenario, scenario_name=plan.scenario, engine="model", seed=plan.seed,
                   overrides=overrides, t0_clock=plan.t0_clock, slo=plan.slo, until_s=until,
                   devices=len(plan.devices), planned=planned_counts(plan), sweep={"values": values, "repeat": repeat})
    try:
        simulate(plan, path, until_s=until)
    except BaseException:
        update_manifest(path, status="failed")
        raise
    update_manifest(path, status="finished")
    return point_from_analysis(analyse(path), values, repeat, plan.seed).to_json()


def run(args: argparse.Namespace) -> int:
    from ..results import new_run_dir
    from ..units import UnitError, parse_duration

    keys = _parse_vary(args.vary)
    if args.repeat < 1 or args.jobs < 1:
        raise UserError("--repeat and --jobs must be at least 1")
    try:
        until = parse_duration(args.until) if args.until else None
    except UnitError as e:
        raise UserError(f"--until: {e}") from None
    base = load_plan(args.scenario, list(args.overrides), args.seed)
    seed0 = base.seed
    grid = [dict(zip(keys, combo)) for combo in itertools.product(*keys.values())]
    for values in grid:  # bad keys/values stop here, before any run
        load_plan(args.scenario, list(args.overrides) + [f"{k}={v}" for k, v in values.items()], seed0)
    out = new_run_dir(base.scenario, "sweep", args.out)
    jobs = [(values, r, idx) for idx, (values, r) in enumerate(
        (v, r) for v in grid for r in range(args.repeat))]
    docs: list[dict] = []
    show = not (args.quiet or args.json)
    with ProcessPoolExecutor(max_workers=min(args.jobs, len(jobs))) as pool:
        futures = {pool.submit(_run_point, args.scenario, list(args.overrides) + [f"{k}={v}" for k, v in values.items()],
                               seed0 + r, str(out / "points" / f"{idx:03d}"), until, values, r): idx
                   for values, r, idx in jobs}
        progress = _progress(len(jobs)) if show else None
        try:
            for fut in as_completed(futures):
                docs.append(fut.result())
                if progress:
                    progress[0].advance(progress[1])
        finally:
            if progress:
                progress[0].stop()
    docs.sort(key=lambda d: (grid.index(d["values"]), d["repeat"]))
    return _write(out, base, keys, docs, args)


def _progress(total: int):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=Console(stderr=True), transient=True)
    bar.start()
    return bar, bar.add_task("points", total=total)


def _write(out: Path, base, keys: dict[str, list[str]], docs: list[dict], args) -> int:
    from ..analysis.sweep import SweepPoint, curves
    from ..report.plots import save_png
    from ..report.sweep import sweep_plot, write_sweep_csv

    points = [SweepPoint.from_json(d) for d in docs]
    cs = curves(points, keys)
    plots = []
    (out / "plots").mkdir(exist_ok=True)
    for key in keys:
        fig = sweep_plot(key, [c for c in cs if c.key == key], base.scenario, dict(base.slo or {}))
        path = out / "plots" / f"sweep-{re.sub(r'[^A-Za-z0-9_.-]+', '_', key)}.png"
        save_png(fig, path)
        plots.append(str(path))
    csv_path = write_sweep_csv(out / "sweep.csv", points, keys, list(base.slo or {}))
    doc = {"format": "examday-sweep/2", "scenario": base.scenario, "scenario_path": str(Path(args.scenario).resolve()),
           "vary": keys, "repeat": args.repeat, "seed": base.seed, "slo": dict(base.slo or {}), "points": docs,
           "curves": [c.to_json() for c in cs], "answers": [c.answer for c in cs], "plots": plots,
           "csv": str(csv_path)}
    (out / "sweep.json").write_text(json.dumps(doc, indent=2) + "\n")
    if args.json:
        print(json.dumps(doc, indent=2))
    elif not args.quiet:
        print(_table(points, list(base.slo or {})))
        for c in cs:
            print(c.answer)
        print(f"sweep: {out / 'sweep.json'}; table: {csv_path}; plots: {', '.join(plots)}", file=sys.stderr)
    return 0


def _table(points, slo_names: list[str]) -> str:
    """The points as a text table: values, repeat, ready p95, each SLO's verdict, what else breached, bottleneck."""
    def p95(p) -> str:
        return "never" if p.ready_p95_s == float("inf") else f"{p.ready_p95_s:.1f} s"

    head = ["point", "rep", "ready p95", *slo_names, "other breaches", "bottleneck"]
    rows = []
    for p in points:
        other = [b for b in p.breached if b not in slo_names]
        rows.append([", ".join(f"{k}={v}" for k, v in p.values.items()), str(p.repeat), p95(p)]
                    + [("ok" if p.slo[n]["ok"] else "FAIL") if n in p.slo else "-" for n in slo_names]
                    + [", ".join(other) or "-", p.bottleneck or "-"])
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *rows])
