"""Print the model against every committed ns-3 table: p50, p95, goodput and their relative errors.

Usage: .venv/bin/python validation/compare.py [CASE-GLOB ...] [--holdout] [--seeds N] [--markdown] [--per-seed]
       [--per-station]

Runs the model once per ns-3 seed of each table (its start offsets), exactly as
``tests/model/test_ns3_reference.py`` does, and prints model/ns-3 − 1 against
the goal (p50/p95 within 15 %, goodput within 10 %). Needs the project venv
(not the ns-3 one): the model only reads the committed tables. ``--per-seed``
prints each seed instead: ns-3's and the model's p50/p95/goodput and how many
stations took longer than ns-3's ConnTimeout (a lost SYN in both), then both
sorted completion lists — the way to tell a bimodal-median flip or a single
rare event from a systematic error. ``--per-station`` prints each station's
start, ns-3's and the model's end (s after the flows' start) and their
difference, by station, with each radio class's mean difference: which stations
(slow or fast, early or late starters, late handshakes) the error sits on. ``--holdout`` takes the held-out tables
(``validation/tables/holdout/``, README "Held-out cases") instead of the main ones.
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.model.ns3_reference import HOLDOUT, TABLES, _per_station, model_figures, seed_run, tables  # noqa: E402

GOAL = (0.15, 0.15, 0.10)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cases", nargs="*", metavar="CASE-GLOB", help="case ids (default: every table)")
    ap.add_argument("--seeds", type=int, default=None, help="at most this many seeds per table")
    ap.add_argument("--markdown", action="store_true", help="a Markdown table (docs/model.md)")
    ap.add_argument("--per-seed", action="store_true", help="each seed's figures and completions, model and ns-3")
    ap.add_argument("--per-station", action="store_true", help="each station's start and end, model and ns-3")
    ap.add_argument("--holdout", action="store_true", help="the held-out tables (validation/tables/holdout/)")
    args = ap.parse_args(argv)
    chosen = [t for t in tables(HOLDOUT if args.holdout else TABLES) if not args.cases or any(fnmatch.fnmatch(t["case"], g) for g in args.cases)]
    if args.per_seed or args.per_station:
        for t in chosen:
            (per_station if args.per_station else per_seed)(t, args.seeds)
        return 0
    if args.markdown:
        print("| case | seeds | p50 model / ns-3 (s) | p95 model / ns-3 (s) | goodput model / ns-3 (Mbit/s) | goal met |")
        print("|---|---|---|---|---|---|")
    met = 0
    for t in chosen:
        want = t["summary"]
        t0 = time.process_time()
        with tempfile.TemporaryDirectory(prefix="examday-compare-") as d:
            got = model_figures(t, Path(d), args.seeds)
        pairs = ((got.p50_s, want["completion_p50_s"]), (got.p95_s, want["completion_p95_s"]),
                 (got.goodput_mbps, want["aggregate_goodput_mbps"]))
        err = [g / w - 1 for g, w in pairs]
        ok = all(abs(e) <= goal for e, goal in zip(err, GOAL))
        met += ok
        seeds = len(t["per_seed"][: args.seeds])
        if args.markdown:
            cells = [f"{g:.3f} / {w:.3f} ({e:+.0%})" if i < 2 else f"{g:.0f} / {w:.0f} ({e:+.0%})"
                     for i, ((g, w), e) in enumerate(zip(pairs, err))]
            print(f"| {t['case']} | {seeds} | " + " | ".join(cells) + f" | {'yes' if ok else 'no'} |")
        else:
            print(f"{t['case']:20s} p50 {err[0]:+6.1%} p95 {err[1]:+6.1%} gp {err[2]:+6.1%}  "
                  f"ns-3 p50 {want['completion_p50_s']:.3f} (±{want['p50_seed_spread_pct']:.0f}%) "
                  f"p95 {want['completion_p95_s']:.3f} (±{want['p95_seed_spread_pct']:.0f}%) "
                  f"gp {want['aggregate_goodput_mbps']:.0f}  {'ok' if ok else '--'}  "
                  f"model cpu {time.process_time() - t0:.1f} s", flush=True)
    if not args.markdown:
        print(f"{met}/{len(chosen)} cases meet the goal (p50, p95 ±15 %, goodput ±10 %)")
    return 0


def per_seed(table: dict, seeds: int | None) -> None:
    """One line per seed (ns-3 | model) and both sorted per-station completion lists."""
    import numpy as np

    late_s = table["config"]["tcp"].get("conn_timeout_s", 3.0)
    print(f"== {table['case']}")
    for row in table["per_seed"][:seeds]:
        with tempfile.TemporaryDirectory(prefix="examday-compare-") as d:
            run = seed_run(table, row, Path(d))
        comp, gp = sorted(run.completions_s), run.goodput_mbps
        ns = sorted(c for c in row["completion_s"] if c is not None)
        print(f"seed {row['seed']}: ns-3 p50 {row['completion_p50_s']:.3f} p95 {row['completion_p95_s']:.3f} "
              f"gp {row['aggregate_goodput_mbps']:.0f} >{late_s:g}s {sum(c > late_s for c in ns)} | model p50 "
              f"{np.percentile(comp, 50):.3f} p95 {np.percentile(comp, 95):.3f} gp {gp:.0f} "
              f">{late_s:g}s {sum(c > late_s for c in comp)}")
        print("   ns-3 ", " ".join(f"{c:.2f}" for c in ns))
        print("   model", " ".join(f"{c:.2f}" for c in comp))


def per_station(table: dict, seeds: int | None) -> None:
    """Per seed, one line per station by start time (ns-3 | model end) and each radio class's mean end difference."""
    cfg = table["config"]
    n = cfg["stations"]
    late_s = cfg["tcp"].get("conn_timeout_s", 3.0) / 3  # a handshake retried once (ARP 1 s, SYN-ACK RTO 1 s, SYN 3 s)
    klass = [f"{s}ss/{m}" for s, m in zip(_per_station(cfg["station_streams"], n), _per_station(cfg["mcs"], n))]
    print(f"== {table['case']}")
    for row in table["per_seed"][:seeds]:
        with tempfile.TemporaryDirectory(prefix="examday-compare-") as d:
            run = seed_run(table, row, Path(d))
        first = row.get("upload_first_byte_s") or row.get("download_first_byte_s") or [None] * n
        print(f"seed {row['seed']}: station class start | ns-3 end (first byte) | model end | model − ns-3")
        diff: dict[str, list[float]] = {}
        for i in sorted(range(n), key=lambda i: row["start_offset_s"][i]):
            start, took = row["start_offset_s"][i], row["completion_s"][i]
            ns_end = None if took is None else start + took
            model_end = run.ends_s.get(i)
            fb = first[i]
            mark = " late" if fb is not None and fb >= late_s else ""
            d_s = None if ns_end is None or model_end is None else model_end - ns_end
            if d_s is not None:
                diff.setdefault(klass[i], []).append(d_s)
            print(f"  {i:3d} {klass[i]:>6s} {start:6.3f} | {_fmt(ns_end)} ({_fmt(fb)}{mark}) | {_fmt(model_end)} | "
                  f"{'' if d_s is None else f'{d_s:+.3f}'}")
        print("  mean model − ns-3 by class: " + ", ".join(f"{k} {sum(v) / len(v):+.3f} s (n={len(v)})"
                                                          for k, v in sorted(diff.items())))


def _fmt(x: float | None) -> str:
    return "   -  " if x is None else f"{x:6.3f}"


if __name__ == "__main__":
    sys.exit(main())
