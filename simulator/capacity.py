"""What would make the SLOs hold: a search over the model for each breaching site and shared service.

For every breaching site (worst first, up to ``max_sites``) the knob follows
its dominant resource (``simulator.analysis.attribution``): the uplink, the
school switch, or APs per classroom (each room's devices split over k APs).
Those probes run the model on *that site alone* (its bottleneck is its own),
so each takes a fraction of a second. When the city-wide SLOs breach, the
knob follows the city's bottleneck — the service's workers, the core or
data-centre link — and, always, the pupils' arrival spread; those probes run
the whole scenario.

The search is a bisection over an ordered ladder of candidate values
(round bit rates, multiples of the current value), assuming more capacity
never hurts: the largest candidate is tried first (if even it fails, the
limit is elsewhere and the answer says so), then ⌈log₂ n⌉ more runs find the
smallest candidate that holds. Probe runs stop at the last moment any SLO
looks at, and live in a temporary folder.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import tempfile
from pathlib import Path
from typing import Callable

from .analysis.advice import Recommendation
from .analysis.summary import Analysis, analyse
from .errors import UserError
from .plan import build_plan
from .results import planned_counts, update_manifest, write_manifest
from .scenario import load_scenario
from .scenario.models import Scenario
from .units import format_bitrate, format_duration

__all__ = ["recommend", "LADDER_BPS", "FACTORS"]

LADDER_BPS = tuple(m * 1e6 for m in (10, 20, 50, 100, 200, 250, 300, 400, 500, 600, 800, 1000, 1500, 2000, 2500,
                                     4000, 5000, 10000, 20000, 40000, 100000))
FACTORS = (1.25, 1.5, 2, 3, 4, 6, 8, 12, 16)

Transform = Callable[[Scenario], Scenario]


@dataclasses.dataclass(frozen=True)
class _Knob:
    target: str  # site name or "city"
    name: str
    key: str
    current: str
    candidates: list[tuple[str, list[str], Transform | None]]  # (label, overrides, scenario transform)
    searched: str


class _Prober:
    def __init__(self, path: Path, overrides: list[str], seed: int | None, thresholds: dict[str, float],
                 say: Callable[[str], None]):
        self.path, self.overrides, self.seed, self.thresholds, self.say = path, overrides, seed, thresholds, say

    def holds(self, extra: list[str], transform: Transform | None, site: str | None) -> bool:
        """One model run with ``extra`` overrides (on ``site`` alone when given): do the SLOs hold?"""
        from .model import simulate

        loaded = load_scenario(self.path, self.overrides + extra)
        sc = loaded.scenario
        if site is not None:
            sc = sc.model_copy(update={"sites": tuple(s for s in sc.sites if s.name == site)})
        if transform is not None:
            sc = transform(sc)
        plan = build_plan(dataclasses.replace(loaded, scenario=sc), self.seed)
        with tempfile.TemporaryDirectory(prefix="examday-probe-") as d:
            run = Path(d)
            write_manifest(run, scenario_path=str(self.path), scenario_name=plan.scenario, engine="model",
                           seed=plan.seed, overrides=self.overrides + extra, t0_clock=plan.t0_clock,
                           slo=self.thresholds, planned=planned_counts(plan))
            simulate(plan, run, until_s=self._until(plan))
            update_manifest(run, status="finished")
            a = analyse(run)
            return a.city_ok and not a.breaching_sites

    def _until(self, plan) -> float:
        """Late enough for every SLO: the last pupil's start plus the longest percentile threshold."""
        starts = [d.start_s for d in plan.devices if d.role == "pupil"]
        pct = [v for k, v in self.thresholds.items() if "_p" in k] or [1800.0]
        by = [(int(k[-4:-2]) * 3600 + int(k[-2:]) * 60) - plan.t0_clock for k in self.thresholds
              if k.startswith("ready_by_")]
        return max([max(starts, default=0.0) + max(pct) + 60.0, *by])


def _slo_text(name: str, thr: float) -> str:
    if "_p" in name:
        return f"{name} ≤ {format_duration(thr)}"
    return f"{name} {'≥' if name.startswith('ready_by') else '≤'} {thr * 100:g} %"


def _bitrate_knob(target: str, name: str, key: str, current: float, top: float = 10e9) -> _Knob:
    values = [v for v in LADDER_BPS if current * 1.001 < v <= top]
    return _Knob(target, name, key, format_bitrate(current),
                 [(f"≥ {format_bitrate(v)}", [f"{key}={format_bitrate(v)}"], None) for v in values],
                 f"{format_bitrate(values[0]) if values else '–'} … {format_bitrate(values[-1]) if values else '–'}")


def _split_rooms(site: str, k: int) -> Transform:
    """Every classroom of ``site`` served by ``k`` APs: its devices split over k rooms of the same AP model."""
    def part(n: int, i: int) -> int:
        return n // k + (1 if i < n % k else 0)

    def transform(sc: Scenario) -> Scenario:
        sites = []
        for s in sc.sites:
            if s.name == site:
                rooms = []
                for c in s.classrooms:
                    for i in range(k):
                        devices = {kind: part(n, i) for kind, n in c.devices.items() if part(n, i)}
                        if devices:
                            rooms.append(c.model_copy(update={"name": f"{c.name}~{i + 1}", "devices": devices,
                                                              "teacher": c.teacher if i == 0 else None}))
                s = s.model_copy(update={"classrooms": tuple(rooms)})
            sites.append(s)
        return sc.model_copy(update={"sites": tuple(sites)})
    return transform


def _site_knob(a: Analysis, sc: Scenario, site: str, dominant: str | None) -> _Knob | None:
    spec = next(s for s in sc.sites if s.name == site)
    sel = f"sites[name={site}]"
    kind = (dominant or "").split(":", 1)[0]
    if kind == "uplink-down":
        return _bitrate_knob(site, "uplink (down)", f"{sel}.uplink.down", spec.uplink.down)
    if kind == "uplink-up":
        return _bitrate_knob(site, "uplink (up)", f"{sel}.uplink.up", spec.uplink.up)
    if kind == "switch":
        return _bitrate_knob(site, "school switch", f"{sel}.switch", spec.switch)
    if kind in ("ap", "ap-port"):
        return _Knob(site, "APs per classroom", f"{sel}.classrooms[*] split", "1",
                     [(f"{k}", [], _split_rooms(site, k)) for k in (2, 3, 4, 6)], "2 … 6")
    return None


def _city_knobs(a: Analysis, sc: Scenario, plan_services: dict) -> list[_Knob]:
    knobs = []
    b = a.bottleneck
    res = b.resource if b else ""
    kind, _, where = res.partition(":")
    if kind == "service" and where in plan_services:
        cur = plan_services[where]
        vals = sorted({max(cur + 1, math.ceil(cur * f)) for f in FACTORS})
        knobs.append(_Knob("city", f"{b.label} workers", f"services.{where}.workers", str(cur),
                           [(f"≥ {v}", [f"services.{where}.workers={v}"], None) for v in vals], f"{vals[0]} … {vals[-1]}"))
    elif kind == "dhcp":
        cur = plan_services["dhcp"]
        vals = sorted({max(cur + 1, math.ceil(cur * f)) for f in FACTORS})
        knobs.append(_Knob("city", "DHCP workers", "services.dhcp.workers", str(cur),
                           [(f"≥ {v}", [f"services.dhcp.workers={v}"], None) for v in vals], f"{vals[0]} … {vals[-1]}"))
    elif res in ("core-down", "core-up", "dc-down", "dc-up"):
        link, d = ("core" if res.startswith("core") else "datacentre"), res.rsplit("-", 1)[1]
        cur = getattr(getattr(sc, link), d)
        knobs.append(_bitrate_knob("city", f"{'city core' if link == 'core' else 'data-centre link'} ({d})",
                                   f"{link}.{d}", cur, top=100e9))
    ar = sc.exam.arrival
    knobs.append(_Knob("city", "pupils' arrival spread (p95 of start delay)", "exam.arrival",
                       f"p95 {format_duration(ar.p95)} (median {format_duration(ar.median)})",
                       [(f"≥ p95 {format_duration(ar.p95 * f)} (median {format_duration(ar.median * f)})",
                         [f"exam.arrival.median={ar.median * f:g} s", f"exam.arrival.p95={ar.p95 * f:g} s"], None)
                        for f in FACTORS], f"×{FACTORS[0]} … ×{FACTORS[-1]}"))
    return knobs


def _search(knob: _Knob, prober: _Prober, site: str | None, slos: tuple[str, ...]) -> Recommendation:
    cands = knob.candidates
    probes = 0

    def ok(i: int) -> bool:
        nonlocal probes
        probes += 1
        label, extra, transform = cands[i]
        res = prober.holds(extra, transform, site)
        prober.say(f"  probe {knob.target}: {knob.name} {label}: {'holds' if res else 'breaches'}")
        return res

    if not cands or not ok(len(cands) - 1):
        return Recommendation(knob.target, knob.name, knob.key, knob.current, None, slos, probes, knob.searched)
    lo, hi = -1, len(cands) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return Recommendation(knob.target, knob.name, knob.key, knob.current, cands[hi][0], slos, probes, knob.searched)


def recommend(a: Analysis, max_sites: int = 5, city: bool = True, quiet: bool = False) -> list[Recommendation]:
    """Recommendations for the analysed model run ``a`` (scenario, overrides and seed from its manifest)."""
    m = a.info.manifest or {}
    scen = m.get("scenario") if isinstance(m.get("scenario"), dict) else {}
    path = Path(scen.get("path") or "")
    if not path.is_file():
        raise UserError(f"{a.info.run_dir}: cannot search for recommendations: scenario file {path} not found")
    overrides = list(scen.get("overrides") or [])
    thresholds = {v.name: v.threshold for v in a.verdicts}  # the manifest's SLOs with any --slo applied
    say = (lambda s: None) if quiet else (lambda s: print(s, file=sys.stderr))
    prober = _Prober(path, overrides, m.get("seed"), thresholds, say)
    loaded = load_scenario(path, overrides)
    sc = loaded.scenario
    out: list[Recommendation] = []
    shared = False
    for s in a.breaching_sites[:max_sites] if len(a.sites) > 1 else []:
        knob = _site_knob(a, sc, s.name, s.dominant)
        if knob is None:
            shared = True  # its waiting is at a shared resource: the city-wide search covers it
            continue
        slos = tuple(_slo_text(v.name, v.threshold) for v in s.breached)
        out.append(_search(knob, prober, s.name, slos))
    if city and (not a.city_ok or shared):
        plan_services = {role: sp.workers for role, sp in build_plan(loaded, m.get("seed")).services.items()}
        failing = [v for v in a.verdicts if not v.ok] or [v for s in a.breaching_sites for v in s.breached]
        slos = tuple(dict.fromkeys(_slo_text(v.name, v.threshold) for v in failing))
        for knob in _city_knobs(a, sc, plan_services):
            out.append(_search(knob, prober, None, slos))
    return out
