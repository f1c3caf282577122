"""``sites.csv`` and ``rooms.csv``: one row per site / room, worst first (the ``summary.json`` arrays as tables)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from ..analysis.groups import GroupStats
from ..analysis.summary import Analysis

__all__ = ["write_tables", "GROUP_COLUMNS"]

GROUP_COLUMNS = ("rank", "site", "room", "devices", "ready", "not_ready", "ready_p50_s", "ready_p95_s")


def _num(v: float) -> str:
    if math.isinf(v):
        return "inf"
    return "" if math.isnan(v) else f"{v:.3f}"


def _write(path: Path, groups: list[GroupStats], clocks: list[str], rooms: bool) -> Path:
    cols = [c for c in GROUP_COLUMNS if rooms or c != "room"]
    cols += [f"ready_by_{c.replace(':', '')}" for c in clocks]
    cols += ["attempts", "failures", "failures_by_step", "dominant_bottleneck", "dominant_wait_s", "slo_ok",
             "breached"]
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for i, g in enumerate(groups, 1):
            row = [i, g.site] + ([g.room] if rooms else [])
            row += [g.devices, g.ready, g.devices - g.ready, _num(g.ready_p50_s), _num(g.ready_p95_s)]
            row += [_num(g.by_deadline.get(c, math.nan)) for c in clocks]
            row += [g.attempts, g.failures, " ".join(f"{k}:{v}" for k, v in g.failures_by_step.items()),
                    g.dominant or "", f"{g.dominant_wait_s:.1f}", int(g.ok), "; ".join(v.text() for v in g.breached)]
            w.writerow(row)
    tmp.replace(path)
    return path


def write_tables(a: Analysis, root: Path) -> tuple[Path, Path]:
    clocks = [d.clock for d in a.deadlines]
    return (_write(root / "sites.csv", a.sites, clocks, False), _write(root / "rooms.csv", a.rooms, clocks, True))
