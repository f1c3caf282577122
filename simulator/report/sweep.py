"""Capacity plots and tables for ``examday sweep``: every SLO over each varied parameter, one line per series.

One panel per SLO (ready p95 when the scenario has none), sharing the x axis:
the observed value (mean over repeats, min–max bars for ready p95), the
threshold as a dotted line, and each point marked held (●) or breached (✕).
A numeric parameter sits on a proportional axis — logarithmic when its values
span more than a factor of 20 — labelled with the values as given. The title
is the curve's one-line answer (``Curve.answer``), the same text the CLI and
``sweep.json`` carry.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from . import mpl  # noqa: F401  (first: matplotlib on Agg, without its artists' docstrings)
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure

from ..analysis.slo import parse_name
from ..analysis.sweep import Curve, SweepPoint
from ..units import format_duration

__all__ = ["sweep_plot", "write_sweep_csv", "axis_positions"]

_OK, _BAD = "#2e8b3a", "#c0392b"


def axis_positions(c: Curve) -> tuple[np.ndarray, bool]:
    """x positions of the curve's values: SI magnitudes when numeric (log flag when they span > 20x), else 0..n-1."""
    m = c.magnitudes
    if m is None:
        return np.arange(len(c.x), dtype=float), False
    return np.array(m, dtype=float), _spans(m)


def _spans(m: list[float]) -> bool:
    pos = [v for v in m if v > 0]
    return len(pos) == len(m) and len(pos) > 1 and max(pos) / min(pos) > 20


def _panel_value(c: Curve, name: str) -> tuple[list[float], str, float]:
    """(y per x, y label, scale): durations in s, shares in %."""
    spec = parse_name(name)
    if spec.kind == "percentile":
        return c.slo.get(name, [math.nan] * len(c.x)), f"{name} (s)", 1.0
    return c.slo.get(name, [math.nan] * len(c.x)), f"{name} (%)", 100.0


def sweep_plot(key: str, curves: list[Curve], scenario: str, slo: dict[str, float] | None = None,
               target_s: float | None = None) -> Figure:
    """One figure per varied key: one panel per SLO over the key's values."""
    slo = dict(slo or {})
    if target_s is not None:
        slo.setdefault("ready_p95", target_s)
    names = list(slo) or ["ready_p95"]
    fig = Figure(figsize=(9, 2.2 + 2.3 * len(names)), dpi=90, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    answers = "\n".join(c.answer for c in curves[:3]) + (f"\n… {len(curves) - 3} more series" if len(curves) > 3 else "")
    fig.suptitle(f"{scenario}: {key}\n{answers}", fontsize=10)
    xs, log = axis_positions(curves[0]) if curves else (np.arange(0), False)
    for ax, name in zip(axes, names):
        ax.grid(alpha=0.3)
        thr = slo.get(name)
        for i, c in enumerate(curves):
            color = f"C{i}"
            if name == "ready_p95" and name not in c.slo:
                y, label, scale = c.p95_mean, "ready_p95 (s)", 1.0
            else:
                y, label, scale = _panel_value(c, name)
            top = np.nanmax([v for v in y if math.isfinite(v)] + [(thr or 0) * scale, 1.0]) * 1.15
            yy = np.array([v * scale if math.isfinite(v) else (top if math.isinf(v) else np.nan) for v in y])
            ax.plot(xs, yy, color=color, linewidth=1.2, label=c.series or None)
            if name == "ready_p95":
                lo = np.array([v if math.isfinite(v) else np.nan for v in c.p95_min])
                hi = np.array([v if math.isfinite(v) else np.nan for v in c.p95_max])
                ax.vlines(xs, lo, hi, color=color, alpha=0.5)
            for j, v in enumerate(yy):
                bad = name in c.breached[j] or (name not in c.slo and not c.meets_slo[j])
                ax.plot([xs[j]], [v], marker="x" if bad else "o", markersize=9 if bad else 6,
                        color=_BAD if bad else _OK, zorder=3)
                if math.isinf(y[j]):
                    ax.annotate("never", (xs[j], v), textcoords="offset points", xytext=(0, 5), fontsize=7,
                                ha="center", color=_BAD)
            ax.set_ylabel(label)
            ax.set_ylim(0, top * 1.05)
        if thr is not None:
            spec = parse_name(name)
            scale = 1.0 if spec.kind == "percentile" else 100.0
            shown = format_duration(thr) if spec.kind == "percentile" else f"{thr * 100:g} %"
            ax.axhline(thr * scale, color="0.3", linestyle=":", linewidth=1.2,
                       label=f"SLO {name} {'≥' if spec.higher_is_better else '≤'} {shown}")
        ax.legend(loc="best", fontsize=7)
    ax = axes[-1]
    if log:
        ax.set_xscale("log")
    ax.set_xticks(xs, curves[0].x if curves else [], rotation=30 if len(xs) > 6 else 0)
    ax.minorticks_off()
    ax.set_xlabel(f"{key} ({'log scale' if log else 'proportional' if curves and curves[0].magnitudes else 'as given'})")
    ax.margins(x=0.06)
    return fig


def write_sweep_csv(path: Path, points: list[SweepPoint], keys: dict[str, list[str]], slo_names: list[str]) -> Path:
    """``sweep.csv``: one row per point and repeat: the values, ready figures, every SLO (observed, ok), bottleneck."""
    clocks = list(dict.fromkeys(k for p in points for k in p.ready_by))

    def num(v: float) -> str:
        return "inf" if math.isinf(v) else ("" if math.isnan(v) else f"{v:.4g}")

    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow([*keys, "repeat", "seed", "devices", "not_ready", "ready_p50_s", "ready_p95_s",
                    *[f"ready_by_{c.replace(':', '')}" for c in clocks],
                    *[x for n in slo_names for x in (n, f"{n}_ok")], "slo_ok", "breached", "bottleneck", "run_dir"])
        for p in points:
            w.writerow([*(p.values[k] for k in keys), p.repeat, p.seed, p.devices, p.not_ready, num(p.ready_p50_s),
                        num(p.ready_p95_s), *[num(p.ready_by.get(c, math.nan)) for c in clocks],
                        *[x for n in slo_names for x in ((num(p.slo[n]["observed"]), int(p.slo[n]["ok"]))
                                                        if n in p.slo else ("", ""))],
                        int(p.slo_ok), " ".join(p.breached), p.bottleneck or "", p.run_dir])
    return path
