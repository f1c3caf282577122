"""Per site and per room: who is at risk, with the run's SLOs applied to each group as well as city-wide.

A group's numbers come from its pupils (time-to-ready, share ready by each
deadline, dominant resource by attributed pupil-seconds) and its trace rows
(failures, error rates, step percentiles). Groups are ranked worst first:
breaching an SLO, then the longest ready p95 (never-ready pupils first), then
the lowest share ready by the headline deadline.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ..trace import StepTable
from ..units import format_duration
from .attribution import Attribution, resource_label
from .slo import SloSpec, parse_name
from .stats import Readiness, factorize, percentile_of

__all__ = ["GroupStats", "GroupVerdict", "group_stats"]


@dataclass(frozen=True, slots=True)
class GroupVerdict:
    name: str
    threshold: float
    observed: float
    ok: bool

    def text(self) -> str:
        spec = parse_name(self.name)
        worse = ">" if not self.ok else "≤"
        if spec.kind == "percentile":
            obs = "never" if math.isinf(self.observed) else format_duration(self.observed)
            return f"{self.name} {obs} {worse} {format_duration(self.threshold)}"
        if spec.higher_is_better:
            worse = "<" if not self.ok else "≥"
        return f"{self.name} {self.observed * 100:.1f} % {worse} {self.threshold * 100:.1f} %"


@dataclass(frozen=True, slots=True)
class GroupStats:
    """One site or room."""

    name: str  # "sodervang" or "sodervang/9A"
    site: str
    room: str  # "" for a site
    devices: int
    ready: int
    ready_p50_s: float  # inf: more than half never ready
    ready_p95_s: float
    by_deadline: dict[str, float]  # "09:05" -> share ready
    attempts: int
    failures: int
    failures_by_step: dict[str, int]
    dominant: str | None  # resource with most pupil-seconds of waiting here
    dominant_wait_s: float
    verdicts: list[GroupVerdict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.verdicts)

    @property
    def breached(self) -> list[GroupVerdict]:
        return [v for v in self.verdicts if not v.ok]

    def to_json(self) -> dict:
        def num(v: float) -> float | None:
            return None if (math.isnan(v) or math.isinf(v)) else round(v, 3)

        doc = {"name": self.name, "site": self.site}
        if self.room:
            doc["room"] = self.room
        doc.update({"devices": self.devices, "ready": self.ready, "not_ready": self.devices - self.ready,
                    "ready_p50_s": num(self.ready_p50_s), "ready_p95_s": num(self.ready_p95_s),
                    "ready_by": {k: num(v) for k, v in self.by_deadline.items()},
                    "attempts": self.attempts, "failures": self.failures, "failures_by_step": self.failures_by_step,
                    "dominant_bottleneck": self.dominant,
                    "dominant_bottleneck_label": resource_label(self.dominant) if self.dominant else None,
                    "dominant_wait_s": round(self.dominant_wait_s, 3), "slo_ok": self.ok,
                    "breached": [v.text() for v in self.breached]})
        return doc


def _sorted_groups(codes: np.ndarray, values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((values, codes))
    return values[order], np.searchsorted(codes[order], np.arange(n + 1))


def group_stats(level: str, t: StepTable, rd: Readiness, att: Attribution, deadlines: list[tuple[str, float]],
                thresholds: dict[str, float], t0_clock: float, headline: str | None) -> list[GroupStats]:
    """Stats of every site (``level='site'``) or room (``'room'``), ranked worst first."""
    dev_groups = rd.groups_site if level == "site" else rd.groups_room
    names, dcodes = factorize(dev_groups)
    n = len(names)
    if n == 0:
        return []
    lookup = {str(g): i for i, g in enumerate(names.tolist())}
    # rows -> group code (-1: a group without pupils, e.g. a teacher-only room)
    if level == "site":
        row_names, row_codes = factorize(t.site)
        row_label = np.array([lookup.get(str(s), -1) for s in row_names.tolist()], dtype=np.int64)
    else:
        s_names, s_codes = factorize(t.site)
        r_names, r_codes = factorize(t.room)
        pair = s_codes * max(len(r_names), 1) + r_codes
        up, row_codes = np.unique(pair, return_inverse=True)
        row_label = np.array([lookup.get(f"{s_names[p // len(r_names)]}/{r_names[p % len(r_names)]}", -1)
                              for p in up.tolist()], dtype=np.int64)
    rg = row_label[row_codes] if len(t) else np.zeros(0, np.int64)
    in_g = rg >= 0
    attempts = np.bincount(rg[in_g], minlength=n)
    failed_rows = in_g & ~t.ok if len(t) else np.zeros(0, bool)
    failures = np.bincount(rg[failed_rows], minlength=n)
    fail_steps: list[dict[str, int]] = [{} for _ in range(n)]
    for (g, s), k in Counter(zip(rg[failed_rows].tolist(), t.step[failed_rows].tolist())).items():
        fail_steps[g][s] = k  # (sorted by step below)
    ttr, bounds = _sorted_groups(dcodes, rd.time_to_ready_s, n)
    counts = np.diff(bounds)
    ready = np.bincount(dcodes, weights=np.isfinite(rd.time_to_ready_s), minlength=n).astype(int)
    shares = {clock: np.bincount(dcodes, weights=rd.ready_at_s <= ts, minlength=n) / np.maximum(counts, 1)
              for clock, ts in deadlines}
    dominant = att.by_group(dev_groups)
    specs = [(name, parse_name(name), thr) for name, thr in thresholds.items()]
    step_cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    out = []
    for i, g in enumerate(names.tolist()):
        v = ttr[bounds[i]:bounds[i + 1]]
        verdicts = []
        for name, spec, thr in specs:
            obs = _observe(spec, i, v, rd, dcodes, t, rg, t0_clock, step_cache, n)
            if math.isnan(obs):
                continue  # nothing to judge in this group (no such step here)
            ok = obs >= thr - 1e-12 if spec.higher_is_better else obs <= thr + 1e-12
            verdicts.append(GroupVerdict(name, float(thr), float(obs), bool(ok)))
        site, _, room = str(g).partition("/") if level == "room" else (str(g), "", "")
        dom, dom_s = dominant.get(str(g), (None, 0.0))
        out.append(GroupStats(str(g), site, room, int(counts[i]), int(ready[i]), percentile_of(v, 50),
                              percentile_of(v, 95), {c: float(shares[c][i]) for c, _ in deadlines},
                              int(attempts[i]), int(failures[i]), dict(sorted(fail_steps[i].items())), dom, dom_s,
                              verdicts))
    return sorted(out, key=lambda s: _risk(s, headline))


def _risk(s: GroupStats, headline: str | None) -> tuple:
    share = s.by_deadline.get(headline, 1.0) if headline else 1.0
    p95 = s.ready_p95_s if not math.isnan(s.ready_p95_s) else -1.0
    return (s.ok, -p95, share, -s.failures, s.name)


def _observe(spec: SloSpec, i: int, ttr: np.ndarray, rd: Readiness, dcodes: np.ndarray, t: StepTable,
             rg: np.ndarray, t0_clock: float, cache: dict, n: int) -> float:
    """The group's value of one SLO (NaN when the group has no data for it)."""
    if spec.kind == "ready_by":
        key = ("by", spec.clock_s)
        if key not in cache:
            cache[key] = np.bincount(dcodes, weights=rd.ready_at_s <= spec.clock_s - t0_clock, minlength=n)
        return float(cache[key][i] / len(ttr)) if len(ttr) else math.nan
    if spec.kind == "error_rate":
        key = ("err", spec.subject)
        if key not in cache:
            m = rg >= 0
            if spec.subject:
                m &= t.step == spec.subject
            cache[key] = (np.bincount(rg[m & ~t.ok], minlength=n), np.bincount(rg[m], minlength=n))
        failed, total = cache[key]
        return float(failed[i] / total[i]) if total[i] else math.nan
    if spec.subject == "ready":
        return percentile_of(ttr, spec.q) if len(ttr) else math.nan
    if spec.subject not in cache:
        m = (t.step == spec.subject) & t.ok & (rg >= 0)
        cache[spec.subject] = _sorted_groups(rg[m], t.duration_s[m], n)
    vals, b = cache[spec.subject]
    v = vals[b[i]:b[i + 1]]
    return percentile_of(v, spec.q) if len(v) else math.nan
