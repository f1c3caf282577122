"""Diff the key figures of two ``summary.json`` files (issue 9: a speed change that moves outputs).

Run: ``.venv/bin/python benchmarks/summary_diff.py BEFORE.json AFTER.json [--noise A.json B.json ...]``

Key figures: per step the attempt, success and failure counts and the duration
percentiles, the ready count and time-to-ready, each bottleneck's pupil-seconds
of waiting and the ranking's order. Prints every figure that moved with its
relative change, flags those above ``--tolerance`` (default 1 %), and says
whether the ranking kept its order (its first ``--rank-top`` entries: the tail
of the ranking is rooms within a few per cent of each other, whose order any
perturbation shuffles).

``--noise``: summaries of the BEFORE code run with other seeds of the same
random stream (the seed's own spread). A figure then fails only if it moved
more than the largest seed change, so a model change is judged against what
chance alone does to the same figure. Exit status 1 if any figure fails.
"""

from __future__ import annotations

import argparse
import json
import sys


def figures(path: str) -> tuple[dict[str, float], list[str]]:
    """The key figures of one summary (name → value) and its bottleneck ranking (resource names in order)."""
    with open(path) as fh:
        d = json.load(fh)
    out: dict[str, float] = {}
    for step, s in d["steps"].items():
        for k in ("count", "ok", "failed", "retries"):
            if isinstance(s.get(k), (int, float)):
                out[f"steps.{step}.{k}"] = s[k]
        for k, v in s["duration_s"].items():
            if k != "count" and isinstance(v, (int, float)):
                out[f"steps.{step}.duration.{k}"] = v
    ready = d["ready"]
    out["ready.ready"] = ready["ready"]
    for k, v in ready["time_to_ready_s"].items():
        if k != "count" and isinstance(v, (int, float)):
            out[f"ready.time_to_ready.{k}"] = v
    ranking = d["bottleneck"]["ranking"]
    for x in ranking:
        out[f"bottleneck.{x['resource']}.pupil_wait_s"] = x["pupil_wait_s"]
    return out, [x["resource"] for x in ranking]


def relative(a: float, b: float) -> float:
    """|b − a| / |a| (0 when equal)."""
    return 0.0 if a == b else abs(b - a) / max(abs(a), 1e-12)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--noise", nargs="*", default=[], help="BEFORE-code summaries of other seeds")
    ap.add_argument("--tolerance", type=float, default=0.01, help="relative change allowed without --noise")
    ap.add_argument("--rank-top", type=int, default=4, help="ranking entries whose order must hold")
    args = ap.parse_args(argv)
    a, rank_a = figures(args.before)
    b, rank_b = figures(args.after)
    noise = [figures(p)[0] for p in args.noise]
    failed = 0
    for k in sorted(set(a) & set(b)):
        rel = relative(a[k], b[k])
        spread = max((relative(a[k], n[k]) for n in noise if k in n), default=None)
        limit = args.tolerance if spread is None else max(args.tolerance, spread)
        bad = rel > limit
        failed += bad
        if rel > 0:
            seeds = "" if spread is None else f"  seeds {spread * 100:5.2f} %"
            print(f"{k:52s} {a[k]:>13.6g} -> {b[k]:>13.6g} {rel * 100:6.2f} %{seeds}{'  FAIL' if bad else ''}")
    one_side = sorted(set(a) ^ set(b))
    if one_side:
        print(f"in one summary only (ranking tail): {', '.join(one_side)}")
    top = args.rank_top
    same = rank_a[:top] == rank_b[:top]
    print(f"bottleneck ranking, first {top}: {'unchanged' if same else 'CHANGED'} ({' > '.join(rank_b[:top])}); "
          f"whole ranking {'unchanged' if rank_a == rank_b else 'reordered in its tail'}")
    print(f"{failed} figure(s) moved more than {'the seeds do' if noise else f'{args.tolerance:.0%}'}")
    return 1 if failed or not same else 0


if __name__ == "__main__":
    sys.exit(main())
