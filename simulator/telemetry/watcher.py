"""``examday watch``: follow a run on the bus — dashboard, ``--once`` snapshot, ``--record`` run folder.

The watcher subscribes to ``PREFIX/run/<run|+>/#`` at QoS 1; the retained
state topics give it the current state at once, however late it connects.
Without ``--run`` it follows the run whose ``start`` is newest (and switches
when a newer one starts). ``--record DIR`` keeps the ``trace`` stream's rows
and writes them with the run's manifest as a run folder ``examday report``
reads; a recorder that joined late (or lost messages: ``seq`` gaps) marks the
folder's status ``interrupted`` so its report cannot pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from .bus import BrokerUrl, client_kwargs

__all__ = ["RunView", "watch", "render", "record"]

QUIET_S = 0.6  # --once: retained messages have arrived when the broker is this quiet


@dataclass
class RunView:
    """What the bus said about one run."""

    run: str
    start: dict | None = None
    status: str = "unknown"
    sites: dict = field(default_factory=dict)
    steps: dict = field(default_factory=dict)
    resources: list = field(default_factory=list)
    slo: dict | None = None
    end: dict | None = None
    steps_rows: list = field(default_factory=list)
    resource_rows: list = field(default_factory=list)
    seqs: set = field(default_factory=set)
    ap: dict = field(default_factory=dict)  # resource -> latest share (watch --ap-telemetry)
    end_retained: bool = False  # the end came from the broker's store: the run was over before we connected
    lost_live: bool = False

    def on(self, kind: str, doc: dict) -> None:
        if kind == "start":
            self.start = doc
        elif kind == "status":
            self.status = doc.get("state", self.status)
        elif kind == "site":
            self.sites[doc["site"]] = doc
        elif kind == "step":
            self.steps[doc["step"]] = doc
        elif kind == "resources":
            self.resources = doc.get("samples", [])
        elif kind == "slo":
            self.slo = doc
        elif kind == "end":
            self.end = doc
            self.status = doc.get("status", self.status)
        elif kind == "trace":
            if doc.get("seq") not in self.seqs:
                self.seqs.add(doc.get("seq"))
                self.steps_rows.extend(doc.get("steps") or [])
                self.resource_rows.extend(doc.get("resources") or [])

    @property
    def gaps(self) -> int:
        """Trace messages the recorder did not get (by sequence number, 1..n)."""
        expected = (self.end or {}).get("trace_messages") or (max(self.seqs) + 1 if self.seqs else 1)
        return len(set(range(1, expected)) - self.seqs)


def _pct(v) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.0f} %"


def _dur(v) -> str:
    if v is None:
        return "-"
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.1f} s"


def render(view: RunView):
    """The dashboard as rich renderables (also what ``--once`` prints)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    start = view.start or {}
    scen = ((start.get("manifest") or {}).get("scenario") or {}).get("name", "?")
    t = max([d.get("t_s") or -math.inf for d in view.sites.values()] + [-math.inf])
    head = Text(f"run {view.run} ({start.get('engine', '?')}, {scen}): {view.status}"
                + (f", t = {t:+.0f} s" if math.isfinite(t) else ""), style="bold")
    parts: list = [head]
    sites = Table(title="devices ready of planned, per site", title_justify="left")
    for c in ("site", "ready", "planned", "share", "started", "errors"):
        sites.add_column(c, justify="right" if c not in ("site", "errors") else "left")
    lines = []
    for name, d in sorted(view.sites.items()):
        errs = ", ".join(f"{k} x{v}" for k, v in list((d.get("errors") or {}).items())[:3]) or "none"
        sites.add_row(name, str(d.get("ready", 0)), str(d.get("planned", 0)), _pct(d.get("ready_share")),
                      str(d.get("started", 0)), errs)
        lines.append(f"{name}: {d.get('ready', 0)} of {d.get('planned', 0)} devices ready")
    parts.append(sites)
    steps = Table(title="steps (last window)", title_justify="left")
    for c in ("step", "rate /s", "p50", "p95", "done", "failed"):
        steps.add_column(c, justify="right" if c != "step" else "left")
    for name, d in view.steps.items():
        w = d.get("window_s") or 1.0
        steps.add_row(name, f"{d.get('started', 0) / w:.1f}", _dur(d.get("p50_s")), _dur(d.get("p95_s")),
                      str(d.get("done_total", 0)), str(d.get("failed_total", 0)))
    parts.append(steps)
    errors: dict[str, int] = {}
    for d in view.sites.values():
        for k, v in (d.get("errors") or {}).items():
            errors[k] = errors.get(k, 0) + v
    parts.append(Text("errors by reason: " + (", ".join(f"{k} x{v}" for k, v in sorted(
        errors.items(), key=lambda kv: -kv[1])) or "none")))
    res = sorted(view.resources, key=lambda s: -(s.get("utilisation") or 0.0))[:6]
    parts.append(Text("closest to saturation: " + (", ".join(
        f"{s['resource']} {_pct(s.get('utilisation'))}" for s in res) or "no samples yet")))
    if view.ap:
        parts.append(Text("AP telemetry: " + ", ".join(f"{k} {_pct(v)}" for k, v in sorted(view.ap.items())[:8])))
    if view.slo:
        ok = view.slo.get("ok")
        verdict = "holds" if ok else ("BREACHED" if ok is False else "unknown")
        parts.append(Text(f"SLO{' (provisional)' if view.slo.get('provisional') else ''}: {verdict}",
                          style="green" if ok else "red"))
        for v in view.slo.get("verdicts", []):
            parts.append(Text(f"  {'ok  ' if v['ok'] else 'FAIL'} {v['message']}"))
    parts.append(Text("\n".join(lines)))
    return Group(*parts)


def record(view: RunView, out: Path, url: BrokerUrl) -> Path:
    """Write what the watcher saw as a run folder (manifest + trace shard)."""
    from ..results import _atomic_json
    from ..trace import TraceWriter

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = dict((view.end or {}).get("manifest") or (view.start or {}).get("manifest") or {})
    gaps = view.gaps
    complete = view.end is not None and gaps == 0
    status = (view.end or {}).get("status", "running") if complete else "interrupted"
    manifest.update(status=status, recorded={"from": url.text, "run": view.run, "trace_messages": len(view.seqs),
                                             "gaps": gaps, "saw_end": view.end is not None,
                                             "recorded_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    result = (view.end or {}).get("result") or {}
    if result.get("generator"):
        manifest.setdefault("generator", result["generator"])
    with TraceWriter(out, shard="recorded") as w:
        for r in view.steps_rows:
            w.step_values(tuple(math.nan if v is None else v for v in r))
        for r in view.resource_rows:
            w.resource_values(tuple(math.nan if v is None else v for v in r))
    _atomic_json(out / "manifest.json", manifest)
    return out


async def watch(url: BrokerUrl, run: str | None = None, *, once: bool = False, record_dir: Path | None = None,
                ap_filter: str | None = None, console=None, wait_s: float = 10.0) -> tuple[RunView | None, int]:
    """Follow a run until it ends (or, with ``once``, until the retained state is in); returns (view, exit code)."""
    import aiomqtt

    from .apfeed import parse_message

    views: dict[str, RunView] = {}
    current: list[RunView | None] = [None]
    base = url.topic("run")
    last_msg = [time.monotonic()]
    started = time.monotonic()

    def pick(view: RunView) -> None:
        cur = current[0]
        if run is None and view.start and (cur is None or cur.start is None
                                           or view.start.get("wall", 0) > cur.start.get("wall", 0)):
            current[0] = view

    live = None
    if console is not None and not once:
        from rich.live import Live
        live = Live(console=console, refresh_per_second=2, transient=False)
        live.start()
    try:
        async with aiomqtt.Client(**client_kwargs(url, "watch")) as client:
            await client.subscribe(f"{base}/{run or '+'}/#", qos=1)
            if ap_filter:
                await client.subscribe(ap_filter, qos=0)
            if run is not None:
                current[0] = views.setdefault(run, RunView(run))
            ended_at, drawn_at = None, 0.0
            queue: asyncio.Queue = asyncio.Queue()

            async def reader() -> None:
                async for msg in client.messages:
                    queue.put_nowait(msg)

            reading = asyncio.create_task(reader())
            while True:
                try:
                    m = await asyncio.wait_for(queue.get(), 0.25)
                except asyncio.TimeoutError:
                    m = None
                if reading.done():
                    reading.result()  # the connection broke: raise its MqttError
                now = time.monotonic()
                if m is not None:
                    last_msg[0] = now
                    topic = str(m.topic)
                    payload = m.payload if isinstance(m.payload, bytes) else str(m.payload or "").encode()
                    if topic.startswith(base + "/"):
                        rest = topic[len(base) + 1:].split("/")
                        if len(rest) >= 2 and payload:
                            with contextlib.suppress(ValueError, KeyError, TypeError):
                                v = views.setdefault(rest[0], RunView(rest[0]))
                                v.on(rest[1], json.loads(payload))
                                if rest[1] == "end":
                                    v.end_retained = bool(m.retain)
                                if rest[1] == "status" and v.status == "lost" and not m.retain:
                                    v.lost_live = True  # the publisher vanished (last will): no end will come
                                pick(v)
                    elif current[0] is not None and payload:
                        cur = current[0]
                        mapping = (cur.start or {}).get("ap_mapping") or _default_mapping(cur)
                        with contextlib.suppress(ValueError):
                            for row in parse_message(mapping, topic, json.loads(payload), 0.0):
                                cur.ap[row[1]] = row[3]
                cur = current[0]
                if live is not None and cur is not None and now - drawn_at >= 0.5:
                    live.update(render(cur))
                    drawn_at = now
                if once and now - last_msg[0] >= QUIET_S and (cur is not None and cur.start or now - started > wait_s):
                    break
                if cur is not None and cur.lost_live and not once:
                    break
                if cur is not None and cur.end is not None and not once and (run or not cur.end_retained):
                    ended_at = ended_at or now
                    expected = cur.end.get("trace_messages") or 0
                    if len(cur.seqs) >= expected - 1 or now - ended_at > 3.0:
                        break
            reading.cancel()
    finally:
        if live is not None:
            if current[0] is not None:
                live.update(render(current[0]))
            live.stop()
    view = current[0]
    if view is None or view.start is None:
        return view, 2
    if record_dir is not None:
        record(view, record_dir, url)
    return view, 0


def _default_mapping(view: RunView) -> dict:
    from ..scenario.models import ApTelemetryFields

    return {"topic": "{ap}", "fields": ApTelemetryFields().model_dump(), "aps": {}}
