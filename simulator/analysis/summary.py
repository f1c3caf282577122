"""One analysed run: manifest facts + trace numbers + SLO verdicts, and its ``summary.json``.

``analyse(run_dir)`` reads the trace once and computes everything the report
shows. It never fails on a thin run: a missing manifest, an empty or
truncated trace, or zero successful logins all yield an ``Analysis`` whose
``notes`` say what happened.
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
from ..units import format_clock, format_duration
from .bottleneck import Bottlenecks, bottlenecks, resource_stats
from .slo import DEFAULT_T0_CLOCK, Verdict, evaluate, parse_name
from .stats import Percentiles, Readiness, StepStats, percentiles, readiness, step_stats

__all__ = ["RunInfo", "DeadlineShare", "Analysis", "analyse", "load_run", "SUMMARY_FORMAT"]

SUMMARY_FORMAT = "examday-summary/1"
DEFAULT_DEADLINES_S = (120.0, 300.0, 600.0)


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What the manifest (or, without one, the trace) says about the run."""

    run_dir: Path
    name: str
    engine: str  # "model" | "live" | "unknown"
    scenario: str
    status: str  # "finished" | "running" | "interrupted" | "failed" | "unknown"
    t0_clock: float
    t0_known: bool
    deadlines_s: tuple[float, ...]
    slo: dict[str, float]
    generator: dict | None
    checks: dict | None
    manifest: dict | None  # raw, for the metadata table


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

    @property
    def slo_ok(self) -> bool:
        return all(v.ok for v in self.verdicts)

    @property
    def complete(self) -> bool:
        """False for a run that stopped early: its SLOs cover only the devices it reached."""
        return self.info.status not in ("running", "interrupted", "failed")

    @property
    def exit_code(self) -> int:
        return 0 if self.slo_ok and self.complete else 1

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
        b = self.bottlenecks.bottleneck
        line = f"{head}: {body}; bottleneck: {b.resource if b else 'none found'}"
        breached = [v.name for v in self.verdicts if not v.ok]
        if breached:
            line += f"; SLO breached: {', '.join(breached)}"
        if not self.complete:
            line += f" [run {self.info.status}: only part of the plan ran, so it cannot pass]"
        elif self.info.status != "finished":
            line += f" [run {self.info.status}]"
        return line

    def _headline_deadline(self) -> DeadlineShare:
        by = [v for v in self.verdicts if v.spec.kind == "ready_by"]
        if by:
            t = by[0].spec.clock_s - self.info.t0_clock
            return DeadlineShare(t, format_clock(by[0].spec.clock_s),
                                 int((self.readiness.ready_at_s <= t).sum()), self.readiness.population)
        return min(self.deadlines, key=lambda d: abs(d.t_s - 300.0))

    def to_json(self) -> dict:
        """The ``summary.json`` document (see README of the report for the layout)."""
        rd = self.readiness
        live = None
        if self.info.engine == "live":
            gen_peak = [r for r in self.bottlenecks.by_peak_utilisation if r.resource.startswith("generator:")]
            live = {"co_lag_s": self.co_lag_s.to_json() if self.co_lag_s else None,
                    "generator": self.info.generator,
                    "generator_peak_cpu": max((r.peak_utilisation for r in gen_peak), default=None)}
        return {
            "format": SUMMARY_FORMAT,
            "verdict": self.verdict_line(),
            "slo_ok": self.slo_ok,
            "run_complete": self.complete,
            "run": {"name": self.info.name, "engine": self.info.engine, "scenario": self.info.scenario,
                    "status": self.info.status, "t0_clock": format_clock(self.info.t0_clock),
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
            "resources": self.bottlenecks.to_json(),
            "slo": [v.to_json() for v in self.verdicts],
            "live": live,
            "checks": self.info.checks,
        }


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
    status = m.get("status", "unknown")
    return RunInfo(path, path.name, str(engine), str(scenario), str(status), float(t0), t0_known, deadlines,
                   dict(slo), m.get("generator"), m.get("checks"), manifest), notes


def analyse(run_dir: str | os.PathLike, slo_overrides: dict[str, float] | None = None) -> Analysis:
    """Read a run folder and compute everything the report shows."""
    path, manifest = load_run(run_dir)
    for name in (slo_overrides or {}):
        parse_name(name)  # bad names are bad input, before any work
    steps = read_steps(path)
    resources = read_resources(path)
    info, notes = _info(path, manifest, steps)
    truncated: list[str] = []
    if info.status != "finished":
        truncated = [p.name for p in sorted(path.glob("*.csv.gz")) if _shard_truncated(p)]
        if info.status in ("running", "interrupted", "failed"):
            notes.append(f"run status is '{info.status}': the trace covers only part of the exam start")
        if truncated:
            notes.append(f"trace truncated (writer stopped before closing): {', '.join(truncated)}; "
                         "complete rows were read, devices still in progress count as not ready")
    stats = step_stats(steps)
    rd = readiness(steps)
    deadlines = [DeadlineShare(t, format_clock(info.t0_clock + t), int((rd.ready_at_s <= t).sum()), rd.population)
                 for t in info.deadlines_s]
    rstats = resource_stats(resources, steps)
    co_lag = None
    if info.engine == "live" and len(steps):
        # steps whose planned time comes from the plan (arrival, autosave clock, submit) or a retry's backoff;
        # assertion/download/open are planned "when the previous step ended" and carry no lag information
        planned = np.isin(steps.step, ("login", "autosave", "submit", "provision")) | (steps.attempt > 1)
        co_lag = percentiles((steps.start_s - steps.planned_s)[planned])
    a = Analysis(info, steps, resources, stats, rd, deadlines, bottlenecks(rstats), co_lag,
                 notes=notes, truncated_shards=truncated)
    _explain(a)
    thresholds = {**info.slo, **(slo_overrides or {})}
    a.verdicts = evaluate(a, thresholds)
    if not thresholds:
        a.notes.append("no SLOs defined (manifest slo block empty, no --slo): exit code 0 by default")
    return a


def _explain(a: Analysis) -> None:
    """Plain-language notes on what went wrong, for the top of the report."""
    if len(a.steps) == 0:
        a.notes.append("the trace has no step rows: the run produced no measurements")
    login = a.step_stats.get("login")
    if login is not None and login.ok == 0:
        reasons = ", ".join(f"{k} x{v}" for k, v in list(login.errors.items())[:3]) or "none recorded"
        a.notes.append(f"zero successful logins out of {login.count} attempts ({reasons}): nobody could be ready")
    elif login is None and len(a.steps):
        a.notes.append("no login step in the trace")
    rd = a.readiness
    if rd.population and rd.not_ready:
        a.notes.append(f"{rd.not_ready} of {rd.population} pupil devices never finished their download "
                       "(counted as not ready)")
    for step, st in a.step_stats.items():
        if st.count and st.error_rate > 0.01 and step != "login":
            top = next(iter(st.errors), "unknown")
            a.notes.append(f"{step}: {st.error_rate * 100:.1f} % of attempts failed (mostly {top})")
    gen = a.info.generator or {}
    if gen.get("saturated"):
        a.notes.append(f"load generator saturated (max CPU {gen.get('max_cpu', float('nan')):.0%}): "
                       "live timings include generator delay")
    if a.co_lag_s is not None and a.co_lag_s.count and a.co_lag_s["p99"] > 1.0:
        a.notes.append(f"coordinated omission: p99 start lag {format_duration(a.co_lag_s['p99'])} behind plan")
    checks = a.info.checks or {}
    ack, stored = checks.get("autosaves_acknowledged"), checks.get("autosaves_stored")
    if isinstance(ack, (int, float)) and isinstance(stored, (int, float)) and stored < ack:
        a.notes.append(f"{int(ack - stored)} acknowledged autosaves were not stored by the platform")
