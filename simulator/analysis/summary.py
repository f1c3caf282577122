"""One analysed run: manifest facts + trace numbers + SLO verdicts, and its ``summary.json``.

``analyse(run_dir)`` reads the trace once and computes everything the report
shows. It never fails on a thin run: a missing manifest, an empty or
truncated trace, or zero successful logins all yield an ``Analysis`` whose
``notes`` say what happened.

Honest verdicts: a run that did not walk every planned pupil (status capped,
interrupted, failed or running; fewer pupils in the trace than planned; a
saturated load generator) is *incomplete*: the pupils it did not walk count
as never ready, and it cannot pass (``slo_ok`` false, exit 1). The SLOs are
applied to every site as well as city-wide; a breaching site fails the run.
"""

from __future__ import annotations

import json
import math
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..trace import ResourceTable, StepTable, read_resources, read_steps
from ..units import format_clock
from .advice import read_recommendations
from .attribution import Attribution, ResourceWait, attribute
from .bottleneck import Bottlenecks, bottlenecks, resource_stats
from .groups import GroupStats, group_stats
from .slo import DEFAULT_T0_CLOCK, Verdict, evaluate, parse_name
from .stats import Percentiles, Readiness, StepStats, percentiles, readiness, step_stats, with_unwalked
from .explain import explain

__all__ = ["RunInfo", "DeadlineShare", "Analysis", "analyse", "load_run", "SUMMARY_FORMAT"]

SUMMARY_FORMAT = "examday-summary/2"
DEFAULT_DEADLINES_S = (120.0, 300.0, 600.0)


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What the manifest (or, without one, the trace) says about the run."""

    run_dir: Path
    name: str
    engine: str  # "model" | "live" | "unknown"
    scenario: str
    status: str  # "finished" | "capped" | "running" | "interrupted" | "failed" | "unknown"
    t0_clock: float
    t0_known: bool
    deadlines_s: tuple[float, ...]
    slo: dict[str, float]
    generator: dict | None
    checks: dict | None
    manifest: dict | None  # raw, for the metadata table
    planned: dict | None = None  # {"devices", "pupils", "rooms": {"site/room": n}} (results.planned_counts)
    planned_source: str = "unknown"


@dataclass(frozen=True, slots=True)
class DeadlineShare:
    t_s: float  # trace time
    clock: str  # "09:05"
    ready: int
    population: int

    @property
    def share(self) -> float:
        return self.ready / self.population if self.population else math.nan

    def to_json(self) -> dict:
        return {"t_s": self.t_s, "clock": self.clock, "ready": self.ready, "population": self.population,
                "share": None if math.isnan(self.share) else round(self.share, 6)}


@dataclass
class Analysis:
    info: RunInfo
    steps: StepTable
    resources: ResourceTable
    step_stats: dict[str, StepStats]
    readiness: Readiness
    deadlines: list[DeadlineShare]
    bottlenecks: Bottlenecks
    co_lag_s: Percentiles | None  # live only: start_s - planned_s of first attempts
    verdicts: list[Verdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    truncated_shards: list[str] = field(default_factory=list)
    attribution: Attribution | None = None
    sites: list[GroupStats] = field(default_factory=list)  # worst first
    rooms: list[GroupStats] = field(default_factory=list)  # worst first
    not_walked: int = 0  # planned pupils absent from the trace (counted as never ready)
    incomplete: list[str] = field(default_factory=list)  # why the run cannot pass, most important first
    recommendations: list = field(default_factory=list)  # simulator.analysis.recommend.Recommendation

    @property
    def city_ok(self) -> bool:
        """Every SLO holds on the whole population."""
        return all(v.ok for v in self.verdicts)

    @property
    def breaching_sites(self) -> list[GroupStats]:
        return [s for s in self.sites if not s.ok] if len(self.sites) > 1 else []

    @property
    def slo_ok(self) -> bool:
        """Green: the run is complete, every SLO holds city-wide and at every site."""
        return self.city_ok and self.complete and not self.breaching_sites

    @property
    def complete(self) -> bool:
        """False for a run that did not walk every planned pupil (see ``incomplete`` for why)."""
        return not self.incomplete

    @property
    def bottleneck(self) -> ResourceWait | None:
        """The resource the pupils waited for most (pupil-seconds, refusals and retries included)."""
        return self.attribution.top if self.attribution else None

    @property
    def exit_code(self) -> int:
        return 0 if self.slo_ok else 1

    def clock(self, t_s: float) -> str:
        return format_clock(self.info.t0_clock + t_s)

    def verdict_line(self) -> str:
        """'09:00 start of school-ak9: 97 % ready by 09:05; bottleneck: ap:ak9/9C'."""
        head = f"{format_clock(self.info.t0_clock)} start of {self.info.scenario}"
        rd = self.readiness
        if rd.population == 0:
            body = "no pupil devices in the trace"
        else:
            d = self._headline_deadline()
            body = f"{d.share * 100:.0f} % ready by {d.clock}"
            if rd.not_ready:
                body += f" ({rd.not_ready} of {rd.population} never ready)"
        login = self.step_stats.get("login")
        if login is not None and login.ok == 0:
            top = next(iter(login.errors), "unknown")
            body += f"; no successful login ({login.count} attempts, mostly {top})"
        b = self.bottleneck
        line = f"{head}: {body}; bottleneck: {f'{b.label} [{b.resource}]' if b else 'none found'}"
        breached = [v.name for v in self.verdicts if not v.ok]
        if breached:
            line += f"; SLO breached: {', '.join(breached)}"
        sites = self.breaching_sites
        if sites:
            named = ", ".join(f"{s.name} ({s.breached[0].text()})" for s in sites[:3])
            more = f" and {len(sites) - 3} more" if len(sites) > 3 else ""
            line += f"; {'sites' if len(sites) > 1 else 'site'} breaching: {named}{more}"
        if not self.complete:
            line = f"NOT A PASS, run incomplete ({self.incomplete[0]}): " + line
        return line

    def _headline_deadline(self) -> DeadlineShare:
        by = [v for v in self.verdicts if v.spec.kind == "ready_by"]
        if by:
            t = by[0].spec.clock_s - self.info.t0_clock
            return DeadlineShare(t, format_clock(by[0].spec.clock_s),
                                 int((self.readiness.ready_at_s <= t).sum()), self.readiness.population)
        return min(self.deadlines, key=lambda d: abs(d.t_s - 300.0))

    def headline_clock(self) -> str | None:
        return self._headline_deadline().clock if self.deadlines else None

    def live_json(self) -> dict | None:
        """The ``live`` part of ``summary.json`` (None for a model run)."""
        if self.info.engine != "live":
            return None
        gen_peak = [r for r in self.bottlenecks.by_peak_utilisation if r.resource.startswith("generator:")]
        return {"co_lag_s": self.co_lag_s.to_json() if self.co_lag_s else None,
                "generator": self.info.generator,
                "generator_peak_cpu": max((r.peak_utilisation for r in gen_peak), default=None)}

    def to_json(self) -> dict:
        """The ``summary.json`` document (see README of the report for the layout)."""
        rd = self.readiness
        live = self.live_json()
        return {
            "format": SUMMARY_FORMAT,
            "verdict": self.verdict_line(),
            "slo_ok": self.slo_ok,
            "run_complete": self.complete,
            "incomplete_reasons": self.incomplete,
            "city_slo_ok": self.city_ok,
            "run": {"name": self.info.name, "engine": self.info.engine, "scenario": self.info.scenario,
                    "status": self.info.status, "planned": _planned_json(self.info),
                    "planned_source": self.info.planned_source, "not_walked": self.not_walked,
                    "t0_clock": format_clock(self.info.t0_clock),
                    "t0_known": self.info.t0_known, "step_rows": len(self.steps),
                    "resource_rows": len(self.resources), "truncated_shards": self.truncated_shards,
                    "manifest": self.info.manifest is not None},
            "notes": self.notes,
            "steps": {s: st.to_json() for s, st in self.step_stats.items()},
            "ready": {"population": rd.population, "ready": rd.ready, "not_ready": rd.not_ready,
                      "excluded_kinds": list(rd.excluded_kinds),
                      "definition": "first planned_s of the device -> end of its last successful download; "
                                    "never-ready devices count as infinite (null above the ready share)",
                      "time_to_ready_s": rd.percentiles().to_json(),
                      "by_deadline": [d.to_json() for d in self.deadlines]},
            "bottleneck": self._bottleneck_json(),
            "resources": {"by_peak_utilisation": [r.to_json() for r in self.bottlenecks.by_peak_utilisation[:20]]},
            "slo": [v.to_json() for v in self.verdicts],
            "sites": [g.to_json() for g in self.sites],
            "rooms": [g.to_json() for g in self.rooms],
            "recommendations": [r.to_json() for r in self.recommendations],
            "live": live,
            "checks": self.info.checks,
        }


    def _bottleneck_json(self) -> dict:
        b = self.bottleneck
        ranking = self.attribution.ranking if self.attribution else []
        return {"resource": b.resource if b else None, "label": b.label if b else None,
                "unit": "pupil-seconds of waiting (queued + slowed + refused/retried + never ready)",
                "ranking": [w.to_json() for w in ranking[:20]]}


def _planned_json(info: RunInfo) -> dict | None:
    if info.planned is None:
        return None
    return {"devices": info.planned.get("devices"), "pupils": info.planned.get("pupils")}


def load_run(run_dir: str | os.PathLike) -> tuple[Path, dict | None]:
    """Validate a run folder path; return it and its manifest (None if absent or unreadable)."""
    path = Path(run_dir)
    if not path.is_dir():
        raise UserError(f"{path}: not a run folder (no such directory)")
    has_trace = any(path.glob("steps*.csv.gz")) or any(path.glob("resources*.csv.gz"))
    mpath = path / "manifest.json"
    manifest = None
    if mpath.exists():
        try:
            manifest = json.loads(mpath.read_text())
        except (OSError, ValueError):
            manifest = None
    if not has_trace and manifest is None:
        raise UserError(f"{path}: not a run folder (no manifest.json and no steps*.csv.gz trace)")
    return path, manifest


def _shard_truncated(path: Path) -> bool:
    """True when a gzip shard lacks its end (writer killed before close)."""
    d = zlib.decompressobj(31)
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 22):
                d.decompress(chunk)
    except zlib.error:
        return True
    return not d.eof


def _info(path: Path, manifest: dict | None, steps: StepTable) -> tuple[RunInfo, list[str]]:
    m = manifest or {}
    notes: list[str] = []
    if manifest is None:
        notes.append("no manifest.json: engine, scenario, start clock and SLOs are unknown or taken from the trace")
    engine = m.get("engine") or (str(steps.engine[0]) if len(steps) else "unknown")
    scen = m.get("scenario")
    scenario = (scen.get("name") if isinstance(scen, dict) else scen) or path.name
    t0 = m.get("t0_clock")
    t0_known = isinstance(t0, (int, float)) and not isinstance(t0, bool)
    if not t0_known:
        t0 = DEFAULT_T0_CLOCK
        notes.append("start clock (t0_clock) unknown: assuming 09:00")
    dl = m.get("deadlines_s") or DEFAULT_DEADLINES_S
    try:
        deadlines = tuple(sorted(float(x) for x in dl))
    except (TypeError, ValueError):
        deadlines = DEFAULT_DEADLINES_S
        notes.append(f"manifest deadlines_s {dl!r} unreadable: using +2/+5/+10 min")
    slo = m.get("slo") or {}
    if not isinstance(slo, dict):
        raise UserError(f"{path / 'manifest.json'}: slo must be a mapping of name -> SI value, got {slo!r}")
    status = str(m.get("status", "unknown"))
    live = m.get("live") if isinstance(m.get("live"), dict) else {}
    if status == "finished" and live.get("capped"):
        status = "capped"  # an older live manifest: finished, but stopped by --max-duration
    planned, source = (None, "unknown (no manifest)")
    if manifest is not None:
        from ..results import planned_from_manifest
        planned, source = planned_from_manifest(manifest)
    return RunInfo(path, path.name, str(engine), str(scenario), status, float(t0), t0_known, deadlines,
                   dict(slo), m.get("generator"), m.get("checks"), manifest, planned, source), notes


def analyse(run_dir: str | os.PathLike, slo_overrides: dict[str, float] | None = None,
            report_dir: str | os.PathLike | None = None) -> Analysis:
    """Read a run folder and compute everything the report shows (recommendations from ``report_dir``)."""
    path, manifest = load_run(run_dir)
    for name in (slo_overrides or {}):
        parse_name(name)  # bad names are bad input, before any work
    steps = read_steps(path)
    resources = read_resources(path)
    info, notes = _info(path, manifest, steps)
    truncated: list[str] = []
    if info.status != "finished":
        truncated = [p.name for p in sorted(path.glob("*.csv.gz")) if _shard_truncated(p)]
        if truncated:
            notes.append(f"trace truncated (writer stopped before closing): {', '.join(truncated)}; "
                         "complete rows were read, devices still in progress count as not ready")
    stats = step_stats(steps)
    rd = readiness(steps)
    walked = rd.population
    planned = info.planned or {}
    rd, not_walked = with_unwalked(rd, planned.get("rooms"), planned.get("pupils"))
    deadlines = [DeadlineShare(t, format_clock(info.t0_clock + t), int((rd.ready_at_s <= t).sum()), rd.population)
                 for t in info.deadlines_s]
    rstats = resource_stats(resources, steps)
    co_lag = None
    if info.engine == "live" and len(steps):
        # steps whose planned time comes from the plan (wake, arrival, autosave clock, submit) or a retry's backoff;
        # assertion/download/open are planned "when the previous step ended" and carry no lag information
        planned = np.isin(steps.step, ("join", "login", "autosave", "submit", "provision")) | (steps.attempt > 1)
        co_lag = percentiles((steps.start_s - steps.planned_s)[planned])
    a = Analysis(info, steps, resources, stats, rd, deadlines, bottlenecks(rstats), co_lag,
                 notes=notes, truncated_shards=truncated, not_walked=not_walked)
    a.incomplete = incomplete_reasons(info, walked, not_walked)
    a.attribution = attribute(steps, resources, rd)
    thresholds = {**info.slo, **(slo_overrides or {})}
    a.verdicts = evaluate(a, thresholds)
    clocks = [(d.clock, d.t_s) for d in deadlines]
    headline = a.headline_clock()
    a.sites = group_stats("site", steps, rd, a.attribution, clocks, thresholds, info.t0_clock, headline)
    a.rooms = group_stats("room", steps, rd, a.attribution, clocks, thresholds, info.t0_clock, headline)
    a.recommendations = read_recommendations(Path(report_dir) if report_dir is not None else path)
    explain(a)
    if not thresholds:
        a.notes.append("no SLOs defined (manifest slo block empty, no --slo): exit code 0 by default")
    return a


def incomplete_reasons(info: RunInfo, walked: int, not_walked: int) -> list[str]:
    """Why this run cannot pass, most important first (empty: it walked the whole plan)."""
    out = []
    planned = (info.planned or {}).get("pupils")
    of = f"{walked} of {planned} planned pupils walked" if planned is not None else f"{walked} pupils walked"
    if info.manifest is None:
        out.append(f"no manifest.json: cannot tell whether the run finished or walked every planned pupil ({of})")
    elif info.status != "finished":
        what = {"capped": "stopped by a cap (--max-duration / --until)", "interrupted": "interrupted",
                "failed": "failed", "running": "still running or killed (status 'running')"}.get(
                    info.status, f"status '{info.status}'")
        out.append(f"run {what}: {of}")
    if not_walked and info.status == "finished":
        out.append(f"{of}: {not_walked} never appear in the trace")
    gen = info.generator or {}
    if gen.get("saturated"):
        out.append(f"load generator saturated (max CPU {float(gen.get('max_cpu', math.nan)):.0%}): devices started "
                   "late and timings include generator delay")
    return out
