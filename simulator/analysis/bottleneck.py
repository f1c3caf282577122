"""Resource utilisation statistics: peak, mean, time saturated, peak queue, per sampled resource.

The report's *bottleneck* is no longer chosen here: it is the top of the
pupil-seconds ranking in ``simulator.analysis.attribution`` (one unit,
refusals and retries included). The saturation-based pick below is kept for
the utilisation table and for callers that want "which resource ran hottest".

Two sources of waiting, used together:

- resource samples: the integral of the queue length over time (Little's law:
  queue-length x seconds = request-seconds spent waiting);
- the trace's ``queue_s`` column (model): per step, the time a device spent
  queued at a server or DHCP, attributed to the resource that serves that step.

When both exist for a resource the trace figure wins (it is per device and
exact); the source is recorded. The single *bottleneck* is the resource
that spent longest saturated (>= 95 % busy), ties broken by waiting; if
nothing saturated, the one that caused most waiting; else none. Load
generator resources (``generator:*``) are never the bottleneck: they are the
measuring instrument, reported separately as generator saturation.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numpy as np

from ..trace import ResourceTable, StepTable
from .stats import factorize

__all__ = ["ResourceStats", "Bottlenecks", "ResourceSeries", "resource_series", "resource_stats", "bottlenecks", "equal_rows",
           "step_resource", "SATURATED"]

#: Utilisation at or above which a resource counts as saturated.
SATURATED = 0.95

#: Which resource serves (and queues) each step. ``{site}`` is the device's site.
_STEP_RESOURCE = {
    "join": "dhcp:{site}",
    "login": "service:idp",
    "assertion": "service:platform",
    "download": "service:content",
    "autosave": "service:platform",
    "submit": "service:platform",
    "provision": "service:provisioning",
}


def step_resource(step: str, site: str) -> str:
    """The resource a step queues at (``queue_s`` attribution)."""
    return _STEP_RESOURCE.get(step, f"service:{step}").format(site=site)


@dataclass(frozen=True, slots=True)
class ResourceStats:
    """One resource over the run."""

    resource: str
    kind: str
    samples: int
    peak_utilisation: float
    mean_utilisation: float
    saturated_s: float  # time at >= SATURATED utilisation
    peak_queue: float
    wait_s: float  # request-seconds of waiting caused
    wait_source: str  # "trace" (queue_s column) | "samples" (queue integral) | "none"
    peak_at_s: float  # trace time of peak utilisation

    def to_json(self) -> dict:
        def num(v: float, nd: int) -> float | None:
            return None if math.isnan(v) else round(v, nd)

        return {"resource": self.resource, "kind": self.kind, "samples": self.samples,
                "peak_utilisation": num(self.peak_utilisation, 4),
                "mean_utilisation": num(self.mean_utilisation, 4),
                "saturated_s": round(self.saturated_s, 3), "peak_queue": num(self.peak_queue, 3),
                "wait_s": round(self.wait_s, 3), "wait_source": self.wait_source,
                "peak_at_s": None if math.isnan(self.peak_at_s) else round(self.peak_at_s, 3)}


@dataclass(frozen=True, slots=True)
class Bottlenecks:
    by_peak_utilisation: list[ResourceStats]
    by_waiting: list[ResourceStats]
    bottleneck: ResourceStats | None
    reason: str  # why that one (or why none)

    def to_json(self, top: int = 20) -> dict:
        return {"bottleneck": self.bottleneck.resource if self.bottleneck else None, "reason": self.reason,
                "by_peak_utilisation": [r.to_json() for r in self.by_peak_utilisation[:top]],
                "by_waiting": [r.to_json() for r in self.by_waiting[:top]]}


@dataclass(frozen=True, slots=True)
class ResourceSeries:
    """The resource samples grouped per resource and ordered by time (shared by the statistics and attribution).

    Group ``g`` is rows ``order[bounds[g]:bounds[g + 1]]`` of the table; ``t``, ``util`` (NaN as 0) and
    ``queue`` (NaN as 0) are already in that order; ``step`` is each group's median sample interval (1.0 for
    a lone sample; NaN if a time is NaN), as ``np.median(np.diff(t))`` gives it.
    """

    names: np.ndarray  # resource name per group (object)
    codes: np.ndarray  # per sorted row: group index
    bounds: np.ndarray  # len(names) + 1
    t: np.ndarray
    util: np.ndarray
    queue: np.ndarray
    kind: np.ndarray
    step: np.ndarray


_SERIES_CACHE: dict[int, tuple[weakref.ref, ResourceSeries]] = {}


def _median_steps(t: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """``np.median(np.diff(t[a:b]))`` for every group [a, b) at once (the same values: the middle element, or
    the mean of the middle two)."""
    groups = len(bounds) - 1
    counts = np.diff(bounds)
    step = np.ones(groups)
    if len(t) < 2:
        return step
    diffs = np.diff(t)
    valid = np.ones(len(diffs), bool)
    valid[bounds[1:-1] - 1] = False  # the gap from one group's last sample to the next group's first
    gid = np.repeat(np.arange(groups), counts)[:-1][valid]
    d = diffs[valid]
    n = counts - 1
    has = n > 0
    nan = np.isnan(d)
    d_sorted = d[np.lexsort((d, gid))]
    start = np.concatenate(([0], np.cumsum(n)[:-1]))
    mid = start + n // 2
    odd = has & (n % 2 == 1)
    even = has & (n % 2 == 0)
    step[odd] = d_sorted[mid[odd]]
    step[even] = (d_sorted[mid[even] - 1] + d_sorted[mid[even]]) / 2.0
    if nan.any():
        step[np.bincount(gid[nan], minlength=groups) > 0] = math.nan
    return step


def resource_series(r: ResourceTable) -> ResourceSeries:
    """``r`` grouped per resource, time-ordered (memoised per table: trace tables are never mutated)."""
    hit = _SERIES_CACHE.get(id(r))
    if hit is not None and hit[0]() is r:
        return hit[1]
    _, res_codes = factorize(r.resource)
    step = np.diff(res_codes)
    if len(res_codes) < 2 or ((step >= 0).all() and (np.diff(r.t_s)[step == 0] >= 0).all()):
        order = np.arange(len(res_codes))  # as written (per resource, in time): what the stable sort returns
    else:
        order = np.lexsort((r.t_s, res_codes))
    rc = res_codes[order]
    bounds = np.flatnonzero(np.r_[True, rc[1:] != rc[:-1], True]) if len(rc) else np.zeros(1, np.int64)
    ts = r.t_s[order]
    names = r.resource[order][bounds[:-1]]
    codes = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))
    series = ResourceSeries(names, codes, bounds, ts, np.nan_to_num(r.utilisation[order]),
                            np.nan_to_num(r.queue[order]), r.kind[order], _median_steps(ts, bounds))
    _SERIES_CACHE.clear()  # one table at a time: keep no more than the latest
    _SERIES_CACHE[id(r)] = (weakref.ref(r), series)
    return series


def _trace_waits(t: StepTable) -> dict[str, float]:
    """Sum of ``queue_s`` per serving resource (only rows where it is known)."""
    if len(t) == 0:
        return {}
    known = ~np.isnan(t.queue_s) & (t.queue_s > 0)
    if not known.any():
        return {}
    steps, step_codes = factorize(t.step)
    sites, site_codes = factorize(t.site)
    pair = step_codes[known] * len(sites) + site_codes[known]
    sums = np.bincount(pair, weights=t.queue_s[known], minlength=len(steps) * len(sites))
    out: dict[str, float] = {}
    for k in np.flatnonzero(sums):
        name = step_resource(str(steps[k // len(sites)]), str(sites[k % len(sites)]))
        out[name] = out.get(name, 0.0) + float(sums[k])
    return out


def equal_rows(bounds: np.ndarray, n: int) -> int:
    """The common length of every group ``bounds`` delimits over ``n`` rows (the model samples every resource
    at the same times), 0 when they differ or there are none: then the groups can be one 2-D array."""
    if len(bounds) < 2:
        return 0
    size = int(bounds[1] - bounds[0])
    return size if size > 0 and size * (len(bounds) - 1) == n and (np.diff(bounds) == size).all() else 0


def _per_resource(sr: ResourceSeries, dt: np.ndarray, qdt: np.ndarray, rows: bool = True):
    """Per group: index of its first peak, mean utilisation, sampled wait, peak queue, saturated seconds.

    With groups of one length, as one 2-D reduction per statistic: numpy reduces each row of a C-ordered
    array as it does the same 1-D slice (pairwise sums, first maximum), so the numbers are the loop's to the
    bit; the saturated seconds (a masked sum) stay per group, for the groups that have any. ``rows=False``
    forces the loop (tests)."""
    bounds, util, queue = sr.bounds, sr.util, sr.queue
    size = equal_rows(bounds, len(util)) if rows else 0
    n = len(bounds) - 1
    if size:
        u = util.reshape(n, size)
        peak_i = u.argmax(axis=1)
        mean = u.mean(axis=1)
        wait = qdt.reshape(n, size).sum(axis=1)
        peak_q = queue.reshape(n, size).max(axis=1)
        sat = np.zeros(n)
        hot = u >= SATURATED
        d = dt.reshape(n, size)
        for g in np.flatnonzero(hot.any(axis=1)).tolist():
            sat[g] = d[g][hot[g]].sum()
        return peak_i.tolist(), mean.tolist(), wait.tolist(), peak_q.tolist(), sat.tolist()
    peak_i, mean, wait, peak_q, sat = [], [], [], [], []
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        u = util[a:b]
        peak_i.append(int(u.argmax()))
        mean.append(float(u.mean()))
        wait.append(float(qdt[a:b].sum()))
        peak_q.append(float(queue[a:b].max()))
        sat.append(float(dt[a:b][u >= SATURATED].sum()))
    return peak_i, mean, wait, peak_q, sat


def resource_stats(r: ResourceTable, t: StepTable | None = None) -> list[ResourceStats]:
    """Statistics of every sampled resource (plus resources only the trace's queue_s names)."""
    waits = _trace_waits(t) if t is not None else {}
    out: list[ResourceStats] = []
    if len(r):
        sr = resource_series(r)
        ts, util, bounds = sr.t, sr.util, sr.bounds
        dt = np.empty(len(ts))  # per sample: the interval it covers; the last of a resource one typical step
        dt[:-1] = np.diff(ts)
        dt[bounds[1:] - 1] = sr.step
        qdt = sr.queue * dt
        peak_i, mean, sample_waits, peak_q, sat = _per_resource(sr, dt, qdt)
        names, kinds, starts = sr.names.tolist(), sr.kind[bounds[:-1]].tolist(), bounds.tolist()
        for g in range(len(names)):
            name, a, b = str(names[g]), starts[g], starts[g + 1]
            sample_wait = sample_waits[g]
            if name in waits:
                wait, src = waits.pop(name), "trace"
            else:
                wait, src = sample_wait, "samples" if sample_wait > 0 else "none"
            i = peak_i[g]
            out.append(ResourceStats(name, str(kinds[g]), b - a, float(util[a + i]), mean[g], sat[g], peak_q[g],
                                     wait, src, float(ts[a + i])))
    for name, wait in waits.items():  # waited at, but never sampled
        kind = name.split(":", 1)[0]
        out.append(ResourceStats(name, kind, 0, math.nan, math.nan, 0.0, math.nan, wait, "trace", math.nan))
    return out


def bottlenecks(stats: list[ResourceStats]) -> Bottlenecks:
    """Rank resources and name the bottleneck (see module docstring)."""
    def peak(s: ResourceStats) -> float:
        return -1.0 if math.isnan(s.peak_utilisation) else s.peak_utilisation

    by_peak = sorted(stats, key=lambda s: (-peak(s), -s.wait_s, s.resource))
    by_wait = sorted([s for s in stats if s.wait_s > 0], key=lambda s: (-s.wait_s, -peak(s), s.resource))
    candidates = [s for s in stats if not s.resource.startswith("generator:")]
    saturated = [s for s in candidates if s.saturated_s > 0]
    if saturated:
        best = max(saturated, key=lambda s: (s.saturated_s, s.wait_s))
        reason = f"saturated (>= {SATURATED:.0%} busy) for {best.saturated_s:.0f} s"
    elif any(s.wait_s > 0 for s in candidates):
        best = max(candidates, key=lambda s: s.wait_s)
        reason = f"caused the most waiting ({best.wait_s:.0f} request-seconds)"
    else:
        best, reason = None, "no resource saturated or queued" if stats else "no resource samples in the trace"
    return Bottlenecks(by_peak, by_wait, best, reason)
