""""What happened": plain-language notes for the top of the report, most important first.

Failures are explained by the step where they happened: a pupil who never
got ready is counted at the step of its last attempt (failed at login with
http 503, still downloading when the trace ended, never walked by the run),
and each failing step names the server it waits at.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..units import format_duration
from .attribution import STEP_SERVER, resource_label
from .stats import READY_STEPS, factorize

if TYPE_CHECKING:
    from .summary import Analysis

__all__ = ["explain", "never_ready_by_step"]


def _n(k: int) -> str:
    return f"{k:,}"


def never_ready_by_step(a: "Analysis") -> list[tuple[str, int]]:
    """Never-ready pupils grouped by where they stopped: ('failed at login (http 503)', 5600), ..."""
    rd = a.readiness
    t = a.steps
    never = ~np.isfinite(rd.ready_at_s)
    out: dict[str, int] = {}
    if a.not_walked:
        out["never walked by the run (planned, absent from the trace)"] = a.not_walked
    if not never.any() or not len(t):
        return sorted(out.items(), key=lambda kv: -kv[1])
    rows = np.flatnonzero((rd.row_device >= 0) & np.isin(t.step, READY_STEPS))
    rows = rows[never[rd.row_device[rows]]]
    if len(rows):
        dev = rd.row_device[rows]
        order = np.lexsort((t.end_s[rows], dev))
        last = rows[order][np.r_[dev[order][1:] != dev[order][:-1], True]]
        _, codes = factorize(t.step[last])
        for step, ok, err in zip(t.step[last].tolist(), t.ok[last].tolist(), t.error[last].tolist()):
            if ok:
                nxt = READY_STEPS[READY_STEPS.index(step) + 1] if step in READY_STEPS[:-1] else "download"
                key = f"after {step}, no {nxt} finished before the trace ended"
            else:
                key = f"failed at {step} ({err or 'no reason recorded'})"
            out[key] = out.get(key, 0) + 1
    return sorted(out.items(), key=lambda kv: -kv[1])


def explain(a: "Analysis") -> None:
    """Append the notes (``a.notes`` already holds reader notes such as truncation)."""
    notes: list[str] = []
    for reason in a.incomplete:
        notes.append(f"NOT A PASS: {reason}; pupils not walked count as never ready")
    if a.info.planned is None and a.info.manifest is not None:
        notes.append(f"planned device count {a.info.planned_source}: not checked that every pupil was walked")
    if len(a.steps) == 0:
        notes.append("the trace has no step rows: the run produced no measurements")
    rd = a.readiness
    if rd.population and rd.not_ready:
        parts = "; ".join(f"{_n(k)} {what}" for what, k in never_ready_by_step(a)[:4])
        notes.append(f"{_n(rd.not_ready)} of {_n(rd.population)} pupils never got ready: {parts}")
    login = a.step_stats.get("login")
    if login is None and len(a.steps):
        notes.append("no login step in the trace")
    for step, st in a.step_stats.items():
        if st.count and (st.error_rate > 0.01 or (step == "login" and st.ok == 0)):
            reasons = ", ".join(f"{k} ×{_n(v)}" for k, v in list(st.errors.items())[:3]) or "none recorded"
            server = resource_label(STEP_SERVER.get(step, f"service:{step}").format(site="<site>"))
            zero = "zero successful logins: " if step == "login" and st.ok == 0 else ""
            notes.append(f"{step}: {zero}{_n(st.failed)} of {_n(st.count)} attempts failed ({reasons}) "
                         f"at the {server}")
    b = a.bottleneck
    if b is not None and b.wait_s > 0:
        causes = ", ".join(f"{k.replace('_', ' ')} {_pupil_time(v)}" for k, v in
                           sorted(b.by_cause.items(), key=lambda kv: -kv[1]))
        notes.append(f"most waiting: {b.label} [{b.resource}], {_pupil_time(b.wait_s)} of waiting "
                     f"({b.share:.0%} of all waiting; {causes}; {_n(b.devices)} pupils affected)")
    sites = a.breaching_sites
    if len(sites) > 5:
        notes.append(f"{len(sites)} of {len(a.sites)} sites breach an SLO; the 5 worst:")
    for s in sites[:5]:
        where = f"; most waiting at {resource_label(s.dominant)}" if s.dominant else ""
        notes.append(f"site {s.name} ({_n(s.devices)} pupils) breaches {', '.join(v.text() for v in s.breached)}"
                     f"{' while the city-wide SLOs hold' if a.city_ok else ''}{where}")
    for r in a.recommendations:
        notes.append(f"to change: {r.text}")
    gen = a.info.generator or {}
    if gen.get("saturated") and not any("generator" in r for r in a.incomplete):
        notes.append(f"load generator saturated (max CPU {gen.get('max_cpu', float('nan')):.0%}): "
                     "live timings include generator delay")
    if a.co_lag_s is not None and a.co_lag_s.count and a.co_lag_s["p99"] > 1.0:
        notes.append(f"coordinated omission: p99 start lag {format_duration(a.co_lag_s['p99'])} behind plan")
    checks = a.info.checks or {}
    ack, stored = checks.get("autosaves_acknowledged"), checks.get("autosaves_stored")
    if isinstance(ack, (int, float)) and isinstance(stored, (int, float)) and stored < ack:
        notes.append(f"{int(ack - stored)} acknowledged autosaves were not stored by the platform")
    a.notes[:0] = notes[: len(a.incomplete)]
    a.notes.extend(notes[len(a.incomplete):])


def _pupil_time(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "n/a"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:,.0f} pupil-hours"
    if seconds >= 120:
        return f"{seconds / 60:,.0f} pupil-minutes"
    return f"{seconds:.0f} pupil-seconds"
