"""Shared look of every plot: one colour per step, clock-time axes with the exam's moments marked.

The same step has the same colour in every figure and every run (model or
live), because colours come from this table, never from plotting order.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, Locator, MultipleLocator

from ..analysis.stats import column_is
from ..analysis.summary import Analysis
from ..units import format_clock

__all__ = ["STEP_COLORS", "step_color", "fig", "clock_axis", "mark_moments", "session_open_s", "GREY", "WORST",
           "InView"]

#: One colour per canonical step (colour-blind-safe Okabe–Ito palette).
STEP_COLORS = {"join": "#999999", "login": "#E69F00", "assertion": "#56B4E9", "open": "#CC79A7",
               "download": "#0072B2", "autosave": "#009E73", "submit": "#D55E00", "provision": "#F0E442"}
GREY = "0.75"
#: Colours for the worst groups (highlighted); the rest are grey.
WORST = ("#c0392b", "#e67e22", "#8e44ad", "#2980b9", "#16a085")


def step_color(step: str) -> str:
    return STEP_COLORS.get(step.split()[0], "#444444")


#: Fixed margins (inches: left, right, top, bottom) instead of a constrained layout, which measures every
#: tick label several times per figure (about half the report's plotting time for a city).
MARGINS_IN = (0.85, 0.25, 0.4, 0.6)


def fixed_margins(f: Figure, left: float = MARGINS_IN[0], right: float = MARGINS_IN[1], top: float = MARGINS_IN[2],
                  bottom: float = MARGINS_IN[3], hspace: float | None = None) -> None:
    """Place the axes of ``f`` with margins given in inches (cheap, and the same in every figure)."""
    w, h = f.get_size_inches()
    f.subplots_adjust(left=min(0.45, left / w), right=max(0.55, 1 - right / w), top=max(0.55, 1 - top / h),
                      bottom=min(0.4, bottom / h), hspace=hspace)


def fig(title: str, w: float = 9, h: float = 4.8, **margins: float) -> tuple[Figure, object]:
    """A titled figure with one gridded axes, on the Agg canvas; ``margins`` as for ``fixed_margins``."""
    f = Figure(figsize=(w, h), dpi=100)
    FigureCanvasAgg(f)
    fixed_margins(f, **margins)
    ax = f.add_subplot()
    ax.set_title(title, y=1.0)  # a fixed position: no title-overlap search (a tight bbox of each axis)
    ax.grid(alpha=0.3)
    return f, ax


class InView(Locator):
    """``base``'s tick locations inside the axis's view limits only (and a hair beyond, for rounding).

    Matplotlib makes a tick (two lines and two texts: ~0.7 ms) for every location a locator returns and
    then draws only those in view: a ``MultipleLocator`` returns one beyond each end, a log axis's minor
    locator whole decades beyond (33 of malmo's 64). Only for axes whose formatter ignores the other
    locations (``FuncFormatter``; ``LogFormatter`` reads the view limits), so the figure is the same.
    """

    def __init__(self, base: Locator):
        self.base = base

    def set_axis(self, axis) -> None:
        super().set_axis(axis)
        self.base.set_axis(axis)

    def __call__(self):
        locs = np.asarray(self.base(), dtype=float)
        lo, hi = self.axis.get_transform().transform(np.sort(self.axis.get_view_interval()))
        t = self.axis.get_transform().transform(locs)
        tol = 1e-6 * (hi - lo)  # matplotlib draws within 1e-10 of the span: keep a superset, it filters the rest
        return locs[(t >= lo - tol) & (t <= hi + tol)]

    def tick_values(self, vmin, vmax):
        return self.base.tick_values(vmin, vmax)

    def nonsingular(self, v0, v1):
        return self.base.nonsingular(v0, v1)

    def view_limits(self, vmin, vmax):
        return self.base.view_limits(vmin, vmax)


def clock_axis(ax, a: Analysis, lo_s: float, hi_s: float) -> None:
    """x in trace seconds, labelled as clock time (HH:MM or HH:MM:SS) at a round step."""
    span = max(hi_s - lo_s, 1.0)
    step = next((s for s in (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600) if span / s <= 10), 7200)
    ax.xaxis.set_major_locator(InView(MultipleLocator(step)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: format_clock(a.info.t0_clock + x)))
    ax.set_xlabel(f"clock time (HH:MM{':SS' if step < 60 else ''}; exam start {format_clock(a.info.t0_clock)})")
    ax.set_xlim(lo_s, hi_s)


def session_open_s(a: Analysis) -> float:
    """When the first session opened (the teacher's ``open`` step), NaN when the trace has none."""
    t = a.steps
    m = column_is(t.step, "open") & t.ok if len(t) else np.zeros(0, bool)
    return float(t.end_s[m].min()) if m.any() else math.nan


def mark_moments(ax, a: Analysis, deadlines: bool = True) -> None:
    """Vertical lines: session open, exam start, and each deadline (ready-by clocks)."""
    lo, hi = ax.get_xlim()
    marks = [(session_open_s(a), "session open", "#CC79A7", "-."), (0.0, "exam start", "0.2", "-")]
    if deadlines:
        marks += [(d.t_s, f"deadline {d.clock}", "0.45", "--") for d in a.deadlines]
    for x, label, color, style in marks:
        if math.isfinite(x) and lo <= x <= hi:
            ax.axvline(x, color=color, linestyle=style, linewidth=1.1, zorder=1)
            ax.text(x, 0.99, f"{label} ", transform=ax.get_xaxis_transform(), rotation=90, va="top", ha="right",
                    fontsize=7, color=color, bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 1})
