"""``examday compare RUN_A RUN_B``: per-step percentile deltas, a CDF overlay, calibration hints."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from ..units import format_duration

HELP = "compare two runs side by side"
EXAMPLE = "examday compare results/school-ak9-model-20260301T080000Z results/school-ak9-live-20260301T090000Z"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_a", metavar="RUN_A", help="baseline run folder (e.g. the model run)")
    parser.add_argument("run_b", metavar="RUN_B", help="run folder to compare (deltas are B - A)")
    parser.add_argument("--out", metavar="DIR", help="where to write compare.json and the CDF plot "
                                                     "(default: RUN_B/compare-<RUN_A name>)")
    parser.add_argument("--json", action="store_true", help="print compare.json to stdout")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing")


def _d(v: float) -> str:
    return "–" if math.isnan(v) else ("never" if math.isinf(v) else format_duration(v))


def run(args: argparse.Namespace) -> int:
    from ..analysis.compare import compare
    from ..analysis.summary import analyse
    from ..report.plots import cdf_overlay, save_png

    a, b = analyse(args.run_a), analyse(args.run_b)
    la, lb = Path(args.run_a).name, Path(args.run_b).name
    cmp = compare(a, b, la, lb)
    out = Path(args.out) if args.out else Path(args.run_b) / f"compare-{la}"
    out.mkdir(parents=True, exist_ok=True)
    doc = cmp.to_json()
    (out / "compare.json").write_text(json.dumps(doc, indent=2) + "\n")
    save_png(cdf_overlay([(la, a), (lb, b)]), out / "ready_cdf_compare.png")
    if args.json:
        print(json.dumps(doc, indent=2))
    elif not args.quiet:
        print(f"A = {la} ({a.info.engine})\nB = {lb} ({b.info.engine})")
        print(f"{'step':<12}{'n A':>8}{'n B':>8}{'p50 A':>10}{'p50 B':>10}{'p95 A':>10}{'p95 B':>10}"
              f"{'p99 A':>10}{'p99 B':>10}")
        for s in cmp.steps:
            print(f"{s.step:<12}{s.count_a:>8}{s.count_b:>8}" +
                  "".join(f"{_d(s.a[k]):>10}{_d(s.b[k]):>10}" for k in ("p50", "p95", "p99")))
        for h in cmp.hints:
            print(f"calibration: {h}")
        for n in cmp.notes:
            print(f"note: {n}")
        print(f"written: {out / 'compare.json'}, {out / 'ready_cdf_compare.png'}")
    return 0
