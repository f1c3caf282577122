"""``report.html``: one self-contained page — verdict first, then evidence, then metadata.

Images are embedded as ``data:image/png;base64`` and the page has inline CSS
only: it opens from a USB stick on an offline laptop.
"""

from __future__ import annotations

import base64
import json
import math
from html import escape
from pathlib import Path

from ..analysis.attribution import CAUSES, resource_label
from ..analysis.groups import GroupStats
from ..analysis.summary import Analysis
from ..units import format_duration
from .plots import PlotFile

__all__ = ["render_html", "write_html"]

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em}.verdict{font-size:1.3em;padding:.8em 1em;border-radius:6px;margin:1em 0}
.ok{background:#e3f4e1;border-left:8px solid #2e8b3a}.bad{background:#fbe3e1;border-left:8px solid #c0392b}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}.notes li{margin:.2em 0}
td:nth-child(2){white-space:nowrap}td:last-child,th:last-child{text-align:left}
.incomplete{font-size:1.2em;padding:.8em 1em;border-radius:6px;margin:1em 0;background:#fbe3e1;border:3px solid #c0392b}
tr.breach td{background:#fdf0ee}.small{font-size:.85em;color:#555}
img{max-width:100%;border:1px solid #ddd;margin:.5em 0}pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:.8em}
"""


def _d(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if math.isinf(v):
        return "never"
    return format_duration(v)


def _table(head: list[str], rows: list[list[object]]) -> str:
    h = "".join(f"<th>{escape(str(c))}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{h}</tr>{body}</table>"


def _img(p: PlotFile) -> str:
    data = base64.b64encode(p.path.read_bytes()).decode("ascii")
    return f'<figure><img alt="{escape(p.title)}" src="data:image/png;base64,{data}"></figure>'


def _share(v: float) -> str:
    return "–" if math.isnan(v) else f"{v * 100:.0f} %"


def _groups_table(title: str, groups: list[GroupStats], clocks: list[str], rooms: bool, top: int = 15) -> str:
    if not groups:
        return ""
    head = ["rank", "room" if rooms else "site", "pupils", "ready", "p50", "p95"] + [f"by {c}" for c in clocks] + \
        ["failed attempts", "most waiting at", "SLOs"]
    rows = []
    for i, g in enumerate(groups[:top], 1):
        cells = [i, g.name, g.devices, g.ready, _d(g.ready_p50_s), _d(g.ready_p95_s)]
        cells += [_share(g.by_deadline.get(c, math.nan)) for c in clocks]
        cells += [g.failures, resource_label(g.dominant) if g.dominant else "–",
                  "holds" if g.ok else "BREACHED: " + ", ".join(v.text() for v in g.breached)]
        cls = "" if g.ok else " class='breach'"
        rows.append(f"<tr{cls}>" + "".join(f"<td>{escape(str(c))}</td>" for c in cells) + "</tr>")
    more = (f"<p class='small'>{len(groups) - top} more in {'rooms' if rooms else 'sites'}.csv.</p>"
            if len(groups) > top else "")
    h = "".join(f"<th>{escape(c)}</th>" for c in head)
    return f"<h2>{escape(title)}</h2><table><tr>{h}</tr>{''.join(rows)}</table>{more}"


def _ranking(a: Analysis) -> str:
    ranking = a.attribution.ranking if a.attribution else []
    if not ranking:
        return "<p>No waiting attributed to any resource.</p>"
    head = ["resource", "pupil time waiting", "share"] + [c.replace("_", " ") for c in CAUSES] + ["pupils affected"]
    rows = [[w.label, _d(w.wait_s), f"{w.share * 100:.1f} %"] + [_d(w.by_cause.get(c, 0.0)) for c in CAUSES]
            + [w.devices] for w in ranking[:12]]
    return ("<p class='small'>One unit: pupil-seconds of waiting caused by each resource — queued at it, slowed "
            "by it (time above the step's unloaded duration while it was the busiest on the path), refused by it "
            "(failed attempts and the wait until the retry), and never ready because of it.</p>"
            + _table(head, rows))


def render_html(a: Analysis, plots: list[PlotFile]) -> str:
    """The page as a string."""
    live = a.live_json()  # not the whole summary document: a city's 1,770 room and site rows cost ~50 ms
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>examday report: {escape(a.info.scenario)}</title><style>{_CSS}</style></head><body>",
             f"<h1>examday report — {escape(a.info.scenario)} ({escape(a.info.engine)} run)</h1>"]
    if not a.complete:
        parts.append("<div class='incomplete'><b>Not a pass: this run did not walk every planned pupil.</b><ul>"
                     + "".join(f"<li>{escape(r)}</li>" for r in a.incomplete)
                     + "</ul>Pupils it did not walk count as never ready.</div>")
    parts.append(f"<div class='verdict {'ok' if a.slo_ok else 'bad'}'>{escape(a.verdict_line())}</div>")
    if a.notes:
        parts.append("<h2>What happened</h2><ul class='notes'>"
                     + "".join(f"<li>{escape(n)}</li>" for n in a.notes) + "</ul>")
    if a.recommendations:
        parts.append("<h2>What to change</h2><ul class='notes'>"
                     + "".join(f"<li>{escape(r.text)}</li>" for r in a.recommendations) + "</ul>")
    parts.append("<h2>Service-level objectives (city-wide)</h2>")
    parts.append(_table(["SLO", "result", "detail"], [[v.name, "holds" if v.ok else "BREACHED", v.message]
                                                      for v in a.verdicts]) if a.verdicts
                 else "<p>No SLOs defined for this run.</p>")
    clocks = [d.clock for d in a.deadlines]
    if len(a.sites) > 1:
        parts.append(_groups_table("Sites, worst first (SLOs applied per site)", a.sites, clocks, False))
    parts.append(_groups_table("Rooms, worst first", a.rooms, clocks, True))
    parts.append("<h2>What the pupils waited for</h2>" + _ranking(a))
    rd = a.readiness
    p = rd.percentiles()
    parts.append(f"<h2>Time to ready</h2><p>{rd.ready} of {rd.population} pupil devices ready "
                 f"(first planned step to end of download; never-ready devices count as infinite).</p>")
    parts.append(_table(["deadline", "ready", "share"], [[d.clock, f"{d.ready} / {d.population}",
                         "–" if math.isnan(d.share) else f"{d.share * 100:.1f} %"] for d in a.deadlines]))
    parts.append(_table(["count", "p50", "p90", "p95", "p99", "p99.9", "max"],
                        [[p.count] + [_d(p.values[k]) for k in ("p50", "p90", "p95", "p99", "p99.9", "max")]]))
    parts.append("<h2>Steps</h2>")
    rows = []
    for step, st in a.step_stats.items():
        d = st.duration_s
        errs = ", ".join(f"{k} ×{v}" for k, v in list(st.errors.items())[:3])
        rows.append([step, st.count, st.failed, errs] + [_d(d.values[k]) for k in
                                                           ("p50", "p90", "p95", "p99", "p99.9", "max")])
    parts.append(_table(["step", "attempts", "failed", "top errors", "p50", "p90", "p95", "p99", "p99.9", "max"],
                        rows) if rows else "<p>No step rows in the trace.</p>")
    b = a.bottlenecks
    if b.by_peak_utilisation:
        parts.append("<h2>Resource utilisation</h2>")
        parts.append(_table(["resource (by peak utilisation)", "peak", "mean", "time ≥ 95 %", "peak queue"],
                            [[resource_label(r.resource),
                              f"{r.peak_utilisation:.0%}" if not math.isnan(r.peak_utilisation) else "–",
                              f"{r.mean_utilisation:.0%}" if not math.isnan(r.mean_utilisation) else "–",
                              _d(r.saturated_s), "–" if math.isnan(r.peak_queue) else f"{r.peak_queue:.1f}"]
                             for r in b.by_peak_utilisation[:12]]))
    if live:
        lag = a.co_lag_s
        parts.append("<h2>Live run health</h2>")
        if lag is not None and lag.count:
            parts.append("<p>Coordinated-omission lag (actual − planned start of arrivals, autosaves, submits, provisioning and retries):</p>" +
                         _table(["count", "p50", "p95", "p99", "max"],
                                [[lag.count] + [_d(lag.values[k]) for k in ("p50", "p95", "p99", "max")]]))
        parts.append(f"<p>Generator: {escape(json.dumps(live['generator']))}</p>")
    if a.info.checks:
        parts.append("<h2>Platform checks</h2>" + _table(["check", "value"], [[k, v] for k, v in a.info.checks.items()]))
    parts.append("<h2>Plots</h2>" + "".join(_img(p) for p in plots))
    parts.append("<h2>Scenario and run</h2>")
    parts.append(_table(["key", "value"], [["run folder", str(a.info.run_dir)], ["status", a.info.status],
                                           ["trace rows", f"{len(a.steps)} steps, {len(a.resources)} resource samples"]]))
    parts.append("<pre>" + escape(json.dumps(a.info.manifest, indent=2, default=str)) + "</pre>"
                 if a.info.manifest is not None else "<p>No manifest.json in the run folder.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(a: Analysis, plots: list[PlotFile], path: Path) -> Path:
    path.write_text(render_html(a, plots), encoding="utf-8")
    return path
