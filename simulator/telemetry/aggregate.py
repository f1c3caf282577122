"""Per-second aggregates of a run's trace rows: what the publisher puts on the bus.

Rows arrive as the engine writes them (``STEP_COLUMNS`` / ``RESOURCE_COLUMNS``
order). The live engine writes a step row when the attempt *ends*, so a
window's counts are attempts reported in that window: ``started`` (attempts,
each one begun), ``done`` (ok) and ``failed``; ``p50_s``/``p95_s`` are
nearest-rank percentiles of the durations of that window's successful
attempts. Devices ready follows the report's definition
(``simulator.analysis.stats.readiness``): a pupil device (kind not in
``NON_PUPIL_KINDS``) with a successful ``download``. The SLO verdicts are the
report's own evaluator (``simulator.analysis.slo.evaluate``) over the rows so
far, so they are *provisional* until the run ends.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from types import SimpleNamespace

import numpy as np

from ..analysis.stats import NON_PUPIL_KINDS, READY_STEPS, percentile_of
from ..trace import RESOURCE_COLUMNS, STEP_COLUMNS, StepTable
from .bus import VERSION

__all__ = ["RunSpec", "Aggregator", "Window"]

_I = {c: i for i, c in enumerate(STEP_COLUMNS)}
_FLOATS = ("planned_s", "start_s", "end_s", "ttfb_s", "queue_s")
MAX_SLO_ROWS = 500_000  # rows kept for the provisional SLO (memory bound for big model replays)


@dataclass
class RunSpec:
    """What the publisher process is told about the run (JSON file across the process boundary)."""

    run: str
    engine: str
    url: str  # broker URL (password from the environment)
    socket: str  # unix datagram socket path the taps send to
    run_dir: str
    planned: dict[str, int]  # site -> pupil devices planned
    devices: int
    slo: dict[str, float] = field(default_factory=dict)
    t0_clock: float = 9 * 3600.0
    manifest: dict = field(default_factory=dict)
    speed: float = 1.0  # trace seconds per wall second (simulate --speed)
    ap_filter: str | None = None  # --ap-telemetry topic filter
    ap_mapping: dict | None = None  # the scenario's telemetry block (json), resolved APs
    parent_pid: int = 0

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "RunSpec":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass
class Window:
    """One step's counts over one window (and its running totals)."""

    started: int = 0
    done: int = 0
    failed: int = 0
    durations: list = field(default_factory=list)
    started_total: int = 0
    done_total: int = 0
    failed_total: int = 0

    def add(self, ok: bool, duration: float) -> None:
        self.started += 1
        self.started_total += 1
        if ok:
            self.done += 1
            self.done_total += 1
            self.durations.append(duration)
        else:
            self.failed += 1
            self.failed_total += 1

    def to_json(self) -> dict:
        d = np.sort(np.asarray(self.durations, float))
        p = (lambda q: round(float(percentile_of(d, q)), 6)) if len(d) else (lambda q: None)
        return {"started": self.started, "done": self.done, "failed": self.failed, "p50_s": p(50.0),
                "p95_s": p(95.0), "started_total": self.started_total, "done_total": self.done_total,
                "failed_total": self.failed_total}

    def roll(self) -> None:
        self.started = self.done = self.failed = 0
        self.durations = []


class Aggregator:
    """Counts rows into per-site and per-step windows; ``tick()`` returns the messages of one window."""

    def __init__(self, spec: RunSpec):
        self.spec = spec
        self.site_steps: dict[str, dict[str, Window]] = defaultdict(lambda: defaultdict(Window))
        self.steps: dict[str, Window] = defaultdict(Window)
        self.started: dict[str, set] = defaultdict(set)
        self.ready: dict[str, set] = defaultdict(set)
        self.errors: dict[str, Counter] = defaultdict(Counter)
        self.resources: dict[str, dict] = {}
        self.rows: list = []  # step rows so far, up to MAX_SLO_ROWS (for the SLO evaluation)
        self.seen_rows = 0
        self.pending_steps: list = []
        self.pending_resources: list = []
        self.t_s = -math.inf
        self.seq = 1  # next trace message's sequence number (1, 2, ...)
        self.first = True
        self.last_tick = time.monotonic()
        self._slo_at = 0.0

    # ------------------------------------------------------------ input
    def add_steps(self, rows: list) -> None:
        for r in rows:
            site, step, kind, ok = r[_I["site"]] or "", r[_I["step"]], r[_I["kind"]], bool(r[_I["ok"]])
            start, end = _f(r[_I["start_s"]]), _f(r[_I["end_s"]])
            self.steps[step].add(ok, end - start)
            self.t_s = max(self.t_s, end)
            if not site:
                continue  # provisioning clients belong to no site: in the per-step figures only
            self.site_steps[site][step].add(ok, end - start)
            if kind not in NON_PUPIL_KINDS and step in READY_STEPS:
                self.started[site].add(r[_I["device"]])
                if ok and step == "download":
                    self.ready[site].add(r[_I["device"]])
            if not ok:
                self.errors[site][r[_I["error"]] or "unknown"] += 1
        if len(self.rows) < MAX_SLO_ROWS:
            self.rows.extend(rows[:MAX_SLO_ROWS - len(self.rows)])
        self.seen_rows += len(rows)
        self.pending_steps.extend(rows)

    def add_resources(self, rows: list) -> None:
        for r in rows:
            t, name, kind, util, queue = r
            self.resources[name] = {"resource": name, "kind": kind, "t_s": _f(t), "utilisation": _num(util),
                                    "queue": _num(queue)}
            self.t_s = max(self.t_s, _f(t))
        self.pending_resources.extend(rows)

    # ------------------------------------------------------------ output
    def _head(self, kind: str) -> dict:
        return {"v": VERSION, "type": kind, "run": self.spec.run, "t_s": _num(self.t_s), "wall": round(time.time(), 3)}

    def tick(self) -> list[tuple[str, dict, bool]]:
        """(topic suffix, payload, retained) of one window; windows roll over."""
        now = time.monotonic()
        window_s = round((now - self.last_tick) * self.spec.speed, 3)
        self.last_tick = now
        out: list[tuple[str, dict, bool]] = []
        sites = sorted(set(self.spec.planned) | set(self.site_steps))
        for site in sites:
            planned = self.spec.planned.get(site, 0)
            ready = len(self.ready[site])
            out.append((f"site/{site}", {**self._head("site"), "site": site, "window_s": window_s,
                                         "planned": planned, "started": len(self.started[site]), "ready": ready,
                                         "ready_share": round(ready / planned, 6) if planned else None,
                                         "steps": {s: w.to_json() for s, w in self.site_steps[site].items()},
                                         "errors": dict(self.errors[site].most_common())}, True))
        for step, w in self.steps.items():
            out.append((f"step/{step}", {**self._head("step"), "step": step, "window_s": window_s,
                                             **w.to_json()}, True))
        if self.pending_resources or self.first:
            out.append(("resources", {**self._head("resources"), "samples": sorted(
                self.resources.values(), key=lambda s: -(s["utilisation"] or 0.0))}, True))
        if self.pending_steps or self.pending_resources:
            for chunk_s, chunk_r in _chunks(self.pending_steps, self.pending_resources, 2000):
                out.append(("trace", {**self._head("trace"), "seq": self.seq, "steps": chunk_s,
                                      "resources": chunk_r}, False))
                self.seq += 1
        self.first = False
        self.pending_steps, self.pending_resources = [], []
        for w in self.steps.values():
            w.roll()
        for by_step in self.site_steps.values():
            for w in by_step.values():
                w.roll()
        if self.spec.slo and (now - self._slo_at >= max(2.0, len(self.rows) / 50_000) or not self._slo_at):
            self._slo_at = now
            out.append(("slo", self.slo(), True))
        return out

    def slo(self, final: bool = False) -> dict:
        """The report's SLO verdicts over the rows so far."""
        from ..analysis.slo import evaluate
        from ..analysis.stats import readiness

        t = table(self.rows)
        a = SimpleNamespace(steps=t, readiness=readiness(t), info=SimpleNamespace(t0_clock=self.spec.t0_clock))
        try:
            verdicts = [v.to_json() for v in evaluate(a, self.spec.slo)]
        except Exception as err:  # noqa: BLE001 - a dashboard hint must not stop the publisher
            return {**self._head("slo"), "ok": None, "provisional": not final, "verdicts": [], "error": str(err)}
        return {**self._head("slo"), "ok": all(v["ok"] for v in verdicts), "provisional": not final,
                "verdicts": verdicts, "rows": len(self.rows), "partial": len(self.rows) < self.seen_rows}

    def totals(self) -> dict:
        return {"planned": sum(self.spec.planned.values()), "ready": sum(len(v) for v in self.ready.values()),
                "ready_by_site": {s: len(v) for s, v in sorted(self.ready.items())}, "step_rows": self.seen_rows}


def table(rows: list) -> StepTable:
    """A ``StepTable`` from rows in ``STEP_COLUMNS`` order (None -> NaN / "")."""
    cols = list(zip(*rows)) if rows else [()] * len(STEP_COLUMNS)
    out = {}
    for c, values in zip(STEP_COLUMNS, cols):
        if c in _FLOATS:
            out[c] = np.array([_f(v) for v in values], float)
        elif c in ("bytes", "attempt"):
            out[c] = np.array([int(v or 0) for v in values], np.int64)
        elif c == "ok":
            out[c] = np.array([bool(v) for v in values], bool)
        else:
            out[c] = np.array(["" if v is None else str(v) for v in values], dtype=object)
    return StepTable(**out)


def _chunks(steps: list, resources: list, n: int):
    i = j = 0
    while i < len(steps) or j < len(resources) or (i == 0 and j == 0):
        yield steps[i:i + n], resources[j:j + n]
        i, j = i + n, j + n
        if i >= len(steps) and j >= len(resources):
            break


def _f(v) -> float:
    return math.nan if v is None or v == "" else float(v)


def _num(v):
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) else (round(v, 6) if math.isfinite(v) else None)


assert RESOURCE_COLUMNS == ("t_s", "resource", "kind", "utilisation", "queue")
