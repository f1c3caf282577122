"""Numbers to artefacts: ``summary.json``, ``plots/*.png``, ``report.html``, ``junit.xml`` in the run folder.

``write_report`` is what ``examday report`` runs, and what the engines' verbs
call when a run ends. Exit code: 0 every SLO holds, 1 one is breached (bad
input raises ``simulator.errors.UserError``, which the CLI turns into 2).

``summary.json`` (format ``examday-summary/2``; strict JSON, null for n/a/never)::

    verdict   "09:00 start of school-ak9: 97 % ready by 09:05; bottleneck: Wi-Fi airtime, ak9/9C [ap:ak9/9C]"
              (starts "NOT A PASS, run incomplete (...)" when the run did not walk every planned pupil)
    slo_ok    true only if the run is complete and every SLO holds city-wide and at every site
    run_complete, incomplete_reasons ["run stopped by a cap ...: 93 of 294 planned pupils walked", ...]
    city_slo_ok  every SLO holds on the whole population
    run       {name, engine, scenario, status (finished|capped|interrupted|failed|running), planned {devices,
               pupils}, planned_source, not_walked, t0_clock "09:00", t0_known, step_rows, resource_rows,
               truncated_shards [..], manifest true|false}
    notes     ["5,627 of 20,736 pupils never got ready: 5,627 failed at login (http 503)", ...]
    steps     {<step>: {count, ok, failed, error_rate, errors {reason: n}, devices, retries,
               duration_s {count, p50, p90, p95, p99, p99.9, max, mean, above {pXX: n}},
               queue_s {same}|null}}          # durations of successful attempts
    ready     {population (planned pupils not walked included), ready, not_ready, excluded_kinds, definition,
               time_to_ready_s {count, p50 .. max (null = never), mean, above},
               by_deadline [{t_s, clock, ready, population, share}]}
    bottleneck {resource, label, unit "pupil-seconds of waiting ...",
               ranking [{resource, label, pupil_wait_s, share, devices, by_cause {queued, slowed, refused,
               never_ready}}]}
    resources {by_peak_utilisation [{resource, kind, samples, peak_utilisation, mean_utilisation,
               saturated_s, peak_queue, wait_s, wait_source, peak_at_s}]}
    slo       [{name, kind, unit, threshold, observed ("inf" = never), ok, message}]
    sites     [{name, site, devices, ready, not_ready, ready_p50_s, ready_p95_s, ready_by {"09:05": share},
               attempts, failures, failures_by_step, dominant_bottleneck, dominant_bottleneck_label,
               dominant_wait_s, slo_ok, breached ["ready_p95 3.7 min > 3.0 min"]}]   # worst first
    rooms     [same, with room]                                                      # worst first
    recommendations [{target, knob, current, needed, slo, text}]
    live      {co_lag_s {percentiles}, generator {..}, generator_peak_cpu}|null
    checks    manifest "checks" (live: autosaves_acknowledged/stored)|null

``sites.csv`` and ``rooms.csv`` hold the sites/rooms arrays as tables, worst first.
"""

from __future__ import annotations

import gc
import json
import math
import os
from contextlib import contextmanager
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
    table_paths: tuple[Path, ...]
    plot_paths: tuple[Path, ...]
    analysis: Analysis


_PLAIN = (str, int, bool, type(None))


def _clean(v: object) -> object:
    """Strict JSON: NaN/inf become null, numpy scalars plain numbers."""
    if type(v) in _PLAIN:  # most of a city's 22k values: no further tests
        return v
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


@contextmanager
def _long_lived_caller():
    """Keep the cyclic garbage collector off what the caller holds (a 20k-device plan, a finished simulation).

    Without it the report's many short-lived objects (matplotlib artists) trigger collections that rescan
    them: ~0.7 s of a city's report after ``examday simulate``. The objects alive on entry are frozen
    (``gc.freeze``) and full collections are spaced out; both are undone on exit (``gc.unfreeze`` thaws
    every frozen object, as ``simulator.model.engine.simulate`` does).
    """
    thresholds = gc.get_threshold()
    frozen = gc.get_freeze_count() > 0  # a caller froze already (``commands.simulate``): it thaws later
    if not frozen:
        gc.freeze()
    gc.set_threshold(thresholds[0], thresholds[1], max(thresholds[2], 100))
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if not frozen:
            gc.unfreeze()


def write_report(run_dir: str | os.PathLike, slo_overrides: dict[str, float] | None = None,
                 out: str | os.PathLike | None = None) -> ReportResult:
    """Analyse ``run_dir`` and write summary.json, sites.csv, rooms.csv, plots/*.png, report.html and junit.xml
    into it (or into ``out``)."""
    with _long_lived_caller():
        return _write_report(run_dir, slo_overrides, out)


def _write_report(run_dir, slo_overrides, out) -> ReportResult:
    from .html import write_html
    from .junit import write_junit
    from .plots import write_plots
    from .tables import write_tables

    root = Path(out) if out is not None else Path(run_dir)
    a = analyse(run_dir, slo_overrides, root)
    root.mkdir(parents=True, exist_ok=True)
    summary = write_summary(a, root / "summary.json")
    tables = write_tables(a, root)
    plots = write_plots(a, root / "plots")
    html_path = write_html(a, plots, root / "report.html")
    junit_path = write_junit(a, root / "junit.xml")
    return ReportResult(a.exit_code, summary, html_path, a.verdict_line(), root / "summary.json", junit_path,
                        tables, tuple(p.path for p in plots), a)
