"""Numbers to artefacts: ``summary.json``, ``plots/*.png``, ``report.html``, ``junit.xml`` in the run folder.

``write_report`` is what ``examday report`` runs, and what the engines' verbs
call when a run ends. Exit code: 0 every SLO holds, 1 one is breached (bad
input raises ``simulator.errors.UserError``, which the CLI turns into 2).

``summary.json`` (format ``examday-summary/1``; strict JSON, null for n/a/never)::

    verdict   "09:00 start of school-ak9: 97 % ready by 09:05; bottleneck: ap:ak9/9C"
    slo_ok    true|false
    run       {name, engine, scenario, status, t0_clock "09:00", t0_known, step_rows,
               resource_rows, truncated_shards [..], manifest true|false}
    notes     ["zero successful logins out of 500 attempts (timeout x500): ...", ...]
    steps     {<step>: {count, ok, failed, error_rate, errors {reason: n}, devices, retries,
               duration_s {count, p50, p90, p95, p99, p99.9, max, mean, above {pXX: n}},
               queue_s {same}|null}}          # durations of successful attempts
    ready     {population, ready, not_ready, excluded_kinds, definition,
               time_to_ready_s {count, p50 .. max (null = never), mean, above},
               by_deadline [{t_s, clock, ready, population, share}]}
    resources {bottleneck, reason, by_peak_utilisation [..], by_waiting [..]}
               # each {resource, kind, samples, peak_utilisation, mean_utilisation,
               #       saturated_s, peak_queue, wait_s, wait_source, peak_at_s}
    slo       [{name, kind, unit, threshold, observed ("inf" = never), ok, message}]
    live      {co_lag_s {percentiles}, generator {..}, generator_peak_cpu}|null
    checks    manifest "checks" (live: autosaves_acknowledged/stored)|null
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from ..analysis.summary import Analysis, analyse

__all__ = ["ReportResult", "write_report", "write_summary"]


@dataclass(frozen=True, slots=True)
class ReportResult:
    exit_code: int  # 0 all SLOs hold, 1 breached
    summary: dict  # the summary.json document
    html_path: Path
    verdict_line: str
    summary_path: Path
    junit_path: Path
    plot_paths: tuple[Path, ...]
    analysis: Analysis


def _clean(v: object) -> object:
    """Strict JSON: NaN/inf become null, numpy scalars plain numbers."""
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def write_summary(a: Analysis, path: Path) -> dict:
    """Write ``summary.json`` atomically (strict JSON) and return the document."""
    doc = _clean(a.to_json())
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n")
    os.replace(tmp, path)
    return doc


def write_report(run_dir: str | os.PathLike, slo_overrides: dict[str, float] | None = None) -> ReportResult:
    """Analyse ``run_dir`` and write summary.json, plots/*.png, report.html and junit.xml into it."""
    from .html import write_html
    from .junit import write_junit
    from .plots import write_plots

    a = analyse(run_dir, slo_overrides)
    root = Path(run_dir)
    summary = write_summary(a, root / "summary.json")
    plots = write_plots(a, root / "plots")
    html_path = write_html(a, plots, root / "report.html")
    junit_path = write_junit(a, root / "junit.xml")
    return ReportResult(a.exit_code, summary, html_path, a.verdict_line(), root / "summary.json", junit_path,
                        tuple(p.path for p in plots), a)
