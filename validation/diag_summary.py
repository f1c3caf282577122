"""Summarise a ``run_ns3.py --diag`` log over a time window: who contends, collisions, BlockAckReqs, airtime.

Usage: python3 validation/diag_summary.py PREFIX.<case>.<seed>.txt T0 T1   (simulated seconds, e.g. 2.6 3.3)

Reads the ``tx`` lines (every data PSDU: time, sender, receiver, MPDUs, retried MPDUs, duration), the
``ctl`` lines (every control/management PSDU: time, sender, type, duration) and the ``sq`` samples
(stations with frames in their AC_BE queue, every ``--diag-interval``). A collision is a group of
data PSDUs whose air times overlap; a success a data PSDU alone on the air (at 2 m the SNR is far
above what the MCS needs, so frame errors come only from overlaps). No ns-3 needed: plain Python.
"""

from __future__ import annotations

import collections
import statistics as st
import sys


def summarise(path: str, t0: float, t1: float) -> list[str]:
    sq, tx, ctl = [], [], collections.Counter()
    for line in open(path):
        p = line.split()
        if not p or p[0] not in ("sq", "tx", "ctl"):
            continue
        t = float(p[1])
        if not t0 <= t <= t1:
            continue
        if p[0] == "sq":
            sq.append(int(p[2]))
        elif p[0] == "tx":
            tx.append((t, t + float(p[6]), p[2], int(p[4]), int(p[5])))
        else:
            ctl[("ap" if p[2] == "ap" else "sta", p[3])] += 1
    tx.sort()
    groups, cur, end = [], [], -1.0
    for s, e, who, n, r in tx:
        if cur and s < end:
            cur.append((s, e, who, n, r))
            end = max(end, e)
        else:
            if cur:
                groups.append(cur)
            cur, end = [(s, e, who, n, r)], e
    if cur:
        groups.append(cur)
    if not groups:
        return ["no data PSDUs in the window"]
    succ = [g[0] for g in groups if len(g) == 1]
    coll = [g for g in groups if len(g) > 1]
    span = t1 - t0
    busy = sum(max(x[1] for x in g) - min(x[0] for x in g) for g in groups)
    ul = [x for x in succ if x[2] != "ap"]
    ap = [x for x in succ if x[2] == "ap"]
    kinds = collections.Counter(tuple(sorted("ap" if x[2] == "ap" else "sta" for x in g)) for g in coll)
    ct = sum(max(x[1] for x in g) - min(x[0] for x in g) for g in coll)
    out = [f"window {t0}-{t1} s: data PSDUs on the air {busy / span:.1%} of the time (union of their air times)"]
    if sq:
        out.append(f"stations with queued frames (uplink contenders): mean {st.mean(sq):.2f}, "
                   f"distribution {sorted(collections.Counter(sq).items())}")
    out.append(f"successes: {len(ul)} station PSDUs (mean {st.mean(x[3] for x in ul) if ul else 0:.1f} MPDUs), "
               f"{len(ap)} AP PSDUs (mean {st.mean(x[3] for x in ap) if ap else 0:.1f} MPDUs); AP share {len(ap) / len(succ):.2f}")
    out.append(f"collisions: {len(coll)} ({len(coll) / len(succ):.3f} per success), {ct * 1e3:.1f} ms of air "
               f"({ct / len(coll) * 1e6 if coll else 0:.0f} us each), kinds {dict(kinds)}")
    out.append("control PSDUs: " + ", ".join(f"{k[0]} {k[1]} {v}" for k, v in sorted(ctl.items())))
    bars = ctl[("sta", "CTL_BACKREQ")] + ctl[("ap", "CTL_BACKREQ")]
    out.append(f"BlockAckReqs: {bars} ({bars / len(coll) if coll else 0:.2f} per collision)")
    if ul:
        out.append(f"per station success: {span / len(ul) * 1e6:.0f} us of medium, of which collisions "
                   f"{ct / len(ul) * 1e6:.0f} us, idle/control {(span - busy) / len(ul) * 1e6:.0f} us; "
                   f"AP PSDUs {len(ap) / len(ul):.2f}")
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print(__doc__.splitlines()[2], file=sys.stderr)
        return 2
    try:
        lines = summarise(args[0], float(args[1]), float(args[2]))
    except (OSError, ValueError) as e:
        print(f"diag_summary: {e}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
