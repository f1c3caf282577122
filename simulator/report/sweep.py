"""Capacity plots for ``examday sweep``: p95 time-to-ready over each varied parameter, one line per series."""

from __future__ import annotations

import math

import numpy as np

from ..analysis.sweep import Curve
from .plots import _fig

__all__ = ["sweep_plot"]


def sweep_plot(key: str, curves: list[Curve], scenario: str, target_s: float | None = None):
    """One figure per varied key: x = its values (as given), y = ready p95 (mean, min-max over repeats)."""
    title = f"{scenario}: {key} vs time-to-ready p95"
    if len(curves) > 1:
        title += " (one line per " + ", ".join(sorted({c.series.split('=')[0] for c in curves if c.series})) + ")"
    fig, ax = _fig(title, 9, 5)
    ax.set_xlabel(f"{key} (as set with --vary)")
    ax.set_ylabel("time to ready, p95 of pupils (s)")
    xs = np.arange(len(curves[0].x)) if curves else np.arange(0)
    top = max([v for c in curves for v in c.p95_max if math.isfinite(v)] + [target_s or 0, 1.0])
    for i, c in enumerate(curves):
        y = np.array([v if math.isfinite(v) else np.nan for v in c.p95_mean])
        lo = np.array([v if math.isfinite(v) else np.nan for v in c.p95_min])
        hi = np.array([v if math.isfinite(v) else np.nan for v in c.p95_max])
        ax.errorbar(xs, y, yerr=[np.nan_to_num(y - lo), np.nan_to_num(hi - y)], marker="o", capsize=3,
                    color=f"C{i}", label=c.series or "p95 time to ready")
        for j, (v, b) in enumerate(zip(c.p95_mean, c.bottleneck)):
            if math.isinf(v):
                ax.plot([xs[j]], [top * 1.05], marker="x", color=f"C{i}", markersize=10)
                ax.annotate("never 95 % ready", (xs[j], top * 1.05), fontsize=7, ha="center", va="bottom")
            elif math.isfinite(v):
                ax.annotate(f"{b or 'no bottleneck'}", (xs[j], v), textcoords="offset points", xytext=(0, 6),
                            fontsize=7, ha="center", color=f"C{i}")
    if target_s:
        ax.axhline(target_s, color="0.4", linestyle=":", label=f"SLO ready_p95 ({target_s:g} s)")
    ax.set_xticks(xs, curves[0].x if curves else [])
    ax.set_ylim(0, top * 1.15)
    ax.margins(x=0.08)
    ax.legend(loc="upper left", fontsize=8)
    return fig
