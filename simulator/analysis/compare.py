"""Two runs side by side: per-step percentile deltas, time-to-ready deltas, a calibration hint.

The calibration hint appears when one run is the model and the other live: it
compares the median *service work* of the IdP (``login``) and the platform's
ACS (``assertion``) — the model's durations minus its known ``queue_s`` against
the live durations — and says by how much the model is off, e.g. "IdP service
time in the model is 40 % below what the live run shows".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .stats import percentiles
from .summary import Analysis

__all__ = ["StepDelta", "Comparison", "compare", "CALIBRATION_TOLERANCE"]

#: Differences smaller than this (relative) are not worth a hint.
CALIBRATION_TOLERANCE = 0.10

_KEYS = ("p50", "p95", "p99", "max")
_SERVICES = (("login", "IdP service time"), ("assertion", "platform ACS (assertion) time"),
             ("download", "content download time"))


@dataclass(frozen=True, slots=True)
class StepDelta:
    step: str
    count_a: int
    count_b: int
    a: dict[str, float]
    b: dict[str, float]

    def delta(self, key: str) -> float:
        return self.b[key] - self.a[key]

    def ratio(self, key: str) -> float:
        return self.b[key] / self.a[key] if self.a[key] else math.nan

    def to_json(self) -> dict:
        def num(v: float) -> float | None:
            return None if (math.isnan(v) or math.isinf(v)) else round(v, 6)

        return {"step": self.step, "count_a": self.count_a, "count_b": self.count_b,
                **{f"{k}_a": num(self.a[k]) for k in _KEYS}, **{f"{k}_b": num(self.b[k]) for k in _KEYS},
                **{f"{k}_delta": num(self.delta(k)) for k in _KEYS}}


@dataclass(frozen=True, slots=True)
class Comparison:
    label_a: str
    label_b: str
    steps: list[StepDelta]  # "ready" first, then steps present in either run
    hints: list[str]
    notes: list[str] = field(default_factory=list)  # caveats (a step only one run has)

    def to_json(self) -> dict:
        return {"a": self.label_a, "b": self.label_b, "steps": [s.to_json() for s in self.steps],
                "calibration_hints": self.hints, "notes": self.notes}


def _pct(values: np.ndarray) -> tuple[int, dict[str, float]]:
    p = percentiles(values)
    return p.count, {k: p.values[k] for k in _KEYS}


def _work(a: Analysis, step: str) -> np.ndarray:
    """Durations of successful attempts minus queueing where the engine knows it (model)."""
    t = a.steps
    m = (t.step == step) & t.ok
    d = t.duration_s[m]
    q = np.nan_to_num(t.queue_s[m])
    return d - np.clip(q, 0, d) if a.info.engine == "model" else d


def calibration_hints(model: Analysis, live: Analysis, tolerance: float = CALIBRATION_TOLERANCE) -> list[str]:
    hints = []
    for step, what in _SERVICES:
        m, lv = _work(model, step), _work(live, step)
        if len(m) == 0 or len(lv) == 0:
            continue
        pm, pl = percentiles(m)["p50"], percentiles(lv)["p50"]
        if pl <= 0 or not math.isfinite(pm / pl):
            continue
        rel = pm / pl - 1
        if abs(rel) >= tolerance:
            how = (f"{pm / pl:.1f}x" if rel >= 1 else f"{abs(rel) * 100:.0f} % {'below' if rel < 0 else 'above'}")
            hints.append(f"{what} in the model is {how} what the live run shows (median {pm:.3g} s vs {pl:.3g} s, "
                         f"{step} step{', queueing removed from the model' if step != 'download' else ''})")
    return hints


def compare(a: Analysis, b: Analysis, label_a: str | None = None, label_b: str | None = None) -> Comparison:
    """Run ``b`` against run ``a`` (deltas are b - a)."""
    rows = [StepDelta("ready", *_merge(_pct(a.readiness.time_to_ready_s), _pct(b.readiness.time_to_ready_s)))]
    names = list(a.step_stats) + [s for s in b.step_stats if s not in a.step_stats]
    for step in names:
        sa, sb = a.step_stats.get(step), b.step_stats.get(step)
        ca, pa = (sa.ok, {k: sa.duration_s.values[k] for k in _KEYS}) if sa else (0, {k: math.nan for k in _KEYS})
        cb, pb = (sb.ok, {k: sb.duration_s.values[k] for k in _KEYS}) if sb else (0, {k: math.nan for k in _KEYS})
        rows.append(StepDelta(step, ca, cb, pa, pb))
    engines = {a.info.engine: a, b.info.engine: b}
    hints = calibration_hints(engines["model"], engines["live"]) if set(engines) == {"model", "live"} else []
    la, lb = label_a or a.info.name, label_b or b.info.name
    notes = []
    for step in ("join", "login", "download"):
        has_a, has_b = step in a.step_stats, step in b.step_stats
        if has_a != has_b:
            missing = lb if has_a else la
            notes.append(f"{missing} has no {step} step: its time-to-ready "
                         f"{'starts later (not comparable as is)' if step == 'join' else 'cannot include it'}")
    return Comparison(la, lb, rows, hints, notes)


def _merge(pa: tuple[int, dict], pb: tuple[int, dict]) -> tuple[int, int, dict, dict]:
    return pa[0], pb[0], pa[1], pb[1]
