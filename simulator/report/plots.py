"""Figures for the report: each function takes an ``Analysis`` and returns a titled, labelled Figure.

Slide-ready: clock time on time axes with the session opening, the exam start
and the deadlines marked (``style.mark_moments``); human resource names
("uplink, sodervang (down)"); one colour per step in every figure
(``style.STEP_COLORS``); per-site and per-room curves with the worst few
highlighted and the rest grey; utilisation as a max-over-window band.

Uses ``matplotlib.figure.Figure`` with the Agg canvas directly (no pyplot
global state). A function returns ``None`` when its plot does not apply (no
resource samples; a single-site scenario for the site plots).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib.cbook import pts_to_poststep  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402
from matplotlib.transforms import ScaledTranslation, blended_transform_factory  # noqa: E402

from ..analysis.attribution import resource_label  # noqa: E402
from ..analysis.stats import READY_STEPS, column_in, column_is, factorize  # noqa: E402
from ..analysis.summary import Analysis  # noqa: E402
from .style import GREY, WORST, InView, clock_axis, fig as _fig, fixed_margins, mark_moments, session_open_s, step_color  # noqa: E402

__all__ = ["PlotFile", "PLOTS", "arrivals_completions", "step_latency_over_time", "ready_cdf", "room_cdf",
           "utilisation_over_time", "time_breakdown", "site_heatmap", "ap_telemetry", "write_plots", "cdf_overlay",
           "save_png"]

_NICE = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)


@dataclass(frozen=True, slots=True)
class PlotFile:
    name: str
    path: Path
    title: str


def _bins(lo: float, hi: float, target: int = 80) -> np.ndarray:
    """Edges at a round width giving about ``target`` bins over [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return np.array([0.0, 1.0]) if not math.isfinite(lo) else np.array([lo, lo + 1.0])
    width = next((w for w in _NICE if (hi - lo) / w <= target), _NICE[-1] * math.ceil((hi - lo) / target / 3600))
    start = math.floor(lo / width) * width
    return np.arange(start, hi + width, width, dtype=float)


def _cdf_points(v: np.ndarray, total: int, max_points: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Step-CDF vertices of sorted finite ``v`` over ``total`` devices, thinned to ~max_points (exact at kept ranks)."""
    y = np.arange(1, len(v) + 1) / max(total, 1)
    if len(v) > max_points:
        keep = np.unique(np.r_[np.linspace(0, len(v) - 1, max_points).astype(int), len(v) - 1])
        v, y = v[keep], y[keep]
    return np.r_[0, v], np.r_[0, y]


def _plain_decade(v: float, _pos: object = None) -> str:
    """A log axis's major tick as a plain number: 0.001, 0.1, 1, 100, 10000 (no exponent notation)."""
    return f"{v:.{max(0, -math.floor(math.log10(v) + 1e-9))}f}" if v < 1 else f"{v:.0f}"


def _empty(ax: object, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=12, color="0.4")


def _window(a: Analysis, deadlines: bool = True) -> tuple[float, float]:
    """The part of the trace that matters for getting ready: first arrival to when ~all who will be are ready."""
    rd = a.readiness
    starts = rd.start_s[np.isfinite(rd.start_s)]
    done = rd.ready_at_s[np.isfinite(rd.ready_at_s)]
    opened = session_open_s(a)
    lo = min([float(starts.min()) if len(starts) else 0.0, 0.0, opened if math.isfinite(opened) else 0.0])
    hi = max([float(np.percentile(done, 99.5)) if len(done) else 60.0, *(d.t_s for d in a.deadlines if deadlines)])
    pad = 0.04 * (hi - lo)
    return lo - pad, hi + pad


def arrivals_completions(a: Analysis) -> object:
    """Pupils arriving (first planned step) and becoming ready, per time bin, on the clock."""
    rd = a.readiness
    f, ax = _fig(f"{a.info.scenario}: pupils arriving and getting ready")
    starts = rd.start_s[np.isfinite(rd.start_s)]
    done = rd.ready_at_s[np.isfinite(rd.ready_at_s)]
    lo, hi = _window(a)
    if not len(starts):
        _empty(ax, "no pupil devices in the trace")
        ax.set_ylabel("pupils per bin (count)")
    else:
        edges = _bins(lo, hi)
        w = edges[1] - edges[0]
        arr, _ = np.histogram(starts, edges)
        com, _ = np.histogram(done, edges)
        ax.step(edges[:-1], arr, where="post", color="0.35", label="arriving (first planned step)")
        ax.step(edges[:-1], com, where="post", color=step_color("download"), linewidth=1.8,
                label="ready (test downloaded)")
        ax.set_ylabel(f"pupils per {w:g} s (count)")
        ax.legend(loc="upper right", fontsize=8)
    clock_axis(ax, a, lo, hi)
    mark_moments(ax, a)
    return f


def step_latency_over_time(a: Analysis, steps: tuple[str, ...] = ("join", "login", "assertion", "download")) -> object:
    """p50 (dashed) and p95 (solid) of successful step durations, by the clock time the attempt started."""
    t = a.steps
    f, ax = _fig(f"{a.info.scenario}: how long each step took, by when it started (successful attempts)")
    ax.set_ylabel("step duration (s, log scale)")
    ok = t.ok if len(t) else np.zeros(0, bool)
    lo, hi = _window(a)
    drawn = False
    if ok.any():
        edges = _bins(lo, hi, 60)
        dur = t.duration_s
        for step in (s for s in steps if s in a.step_stats):
            m = ok & column_is(t.step, step) & (t.start_s >= edges[0]) & (t.start_s < edges[-1])
            if not m.any():
                continue
            b = np.clip(np.searchsorted(edges, t.start_s[m], side="right") - 1, 0, len(edges) - 2)
            d = dur[m]
            order = np.lexsort((d, b))
            b, d = b[order], d[order]
            bounds = np.searchsorted(b, np.arange(len(edges)))
            xs, p50, p95 = [], [], []
            for k in range(len(edges) - 1):
                n = bounds[k + 1] - bounds[k]
                if n:
                    xs.append(edges[k] + (edges[1] - edges[0]) / 2)
                    p50.append(max(d[bounds[k] + max(1, math.ceil(0.50 * n - 1e-9)) - 1], 1e-3))
                    p95.append(max(d[bounds[k] + max(1, math.ceil(0.95 * n - 1e-9)) - 1], 1e-3))
            ax.plot(xs, p95, color=step_color(step), linewidth=1.8, label=f"{step} p95")
            ax.plot(xs, p50, color=step_color(step), linestyle="--", linewidth=1.0, label=f"{step} p50")
            drawn = True
    if drawn:
        ax.set_yscale("log")
        # decades as plain numbers (0.1, 1, 10 s), not mathtext 10^n: no TeX-like parser (~0.2 s on first use)
        ax.yaxis.set_major_formatter(FuncFormatter(_plain_decade))
        ax.yaxis.set_major_locator(InView(ax.yaxis.get_major_locator()))
        ax.yaxis.set_minor_locator(InView(ax.yaxis.get_minor_locator()))
        ax.legend(loc="best", ncols=2, fontsize=8, framealpha=0.8)
    else:
        _empty(ax, "no successful steps in the trace")
    clock_axis(ax, a, lo, hi)
    mark_moments(ax, a, deadlines=False)
    return f


def _group_cdfs(a: Analysis, ax, level: str, top_n: int) -> int:
    """Grey CDF per group, the ``top_n`` worst (from the analysis ranking) in colour; returns groups drawn."""
    rd = a.readiness
    groups = rd.groups_site if level == "site" else rd.groups_room
    ranked = [g.name for g in (a.sites if level == "site" else a.rooms)]
    names, inv = factorize(groups)
    index = {n: i for i, n in enumerate(names.tolist())}
    order = np.lexsort((rd.time_to_ready_s, inv))
    sg, st = inv[order], rd.time_to_ready_s[order] / 60.0
    bounds = np.searchsorted(sg, np.arange(len(names) + 1))
    worst = [g for g in ranked[:top_n] if g in index]
    rest = [g for g in ranked if g not in worst and g in index]
    grey = []
    for g in rest[:400]:
        i = index[g]
        v = st[bounds[i]:bounds[i + 1]]
        grey.append(pts_to_poststep(*_cdf_points(v[np.isfinite(v)], len(v), 200)).T)
    if grey:  # one collection, not a Line2D per group: the steps ax.step(..., where="post") draws, ~10x cheaper
        ax.add_collection(LineCollection(grey, colors=GREY, linewidths=0.7, zorder=1, capstyle="projecting",
                                         joinstyle="round"))
    if rest:
        ax.plot([], [], color=GREY, label=f"other {level}s ({len(rest)})")
    for k, g in enumerate(worst):
        i = index[g]
        v = st[bounds[i]:bounds[i + 1]]
        fin = v[np.isfinite(v)]
        ax.step(*_cdf_points(fin, len(v)), where="post", color=WORST[k % len(WORST)], linewidth=1.6, zorder=3,
                label=f"{g}: {len(fin)}/{len(v)} ready")
    return len(worst) + len(rest)


def _cdf_axes(a: Analysis, title: str):
    f, ax = _fig(title)
    ax.set_xlabel("time to ready: first planned step to test downloaded (min)")
    ax.set_ylabel("share of pupils ready (fraction)")
    ax.set_ylim(0, 1.02)
    for v in a.verdicts:
        if v.spec.kind == "percentile" and v.spec.subject == "ready":
            ax.axvline(v.threshold / 60, color="0.3", linestyle=":", linewidth=1.2)
            ax.axhline(v.spec.q / 100, color="0.3", linestyle=":", linewidth=0.8)
            ax.text(v.threshold / 60, 0.02, f" SLO {v.name} ≤ {v.threshold / 60:g} min", fontsize=7, color="0.3")
    return f, ax


def ready_cdf(a: Analysis, top_n: int = 5) -> object:
    """CDF of time-to-ready: all pupils, every site (or room) in grey, the worst ``top_n`` in colour."""
    rd = a.readiness
    level = "site" if len(a.sites) > 1 else "room"
    f, ax = _cdf_axes(a, f"{a.info.scenario}: time to ready, all pupils and the {top_n} worst {level}s")
    if rd.population == 0:
        _empty(ax, "no pupil devices in the trace")
        return f
    _group_cdfs(a, ax, level, top_n)
    ttr = rd.time_to_ready_s / 60.0
    fin = np.sort(ttr[np.isfinite(ttr)])
    ax.step(*_cdf_points(fin, len(ttr)), where="post", color="k", linewidth=2.4, zorder=4,
            label=f"all pupils: {len(fin)}/{len(ttr)} ready")
    ax.legend(loc="lower right", fontsize=8)
    return f


def room_cdf(a: Analysis, top_n: int = 5) -> object | None:
    """Multi-site runs: every room's time-to-ready CDF in grey, the ``top_n`` worst rooms in colour."""
    if len(a.sites) < 2 or a.readiness.population == 0:
        return None
    f, ax = _cdf_axes(a, f"{a.info.scenario}: time to ready per classroom, the {top_n} worst highlighted")
    _group_cdfs(a, ax, "room", top_n)
    ax.legend(loc="lower right", fontsize=8)
    return f


def utilisation_over_time(a: Analysis, top_n: int = 5, window_s: float | None = None) -> object | None:
    """Busiest resources as max-over-window bands (mean to max per window); saturated windows stand out."""
    r = a.resources
    if len(r) == 0:
        return None
    sampled = {s.resource: s for s in a.bottlenecks.by_peak_utilisation if s.samples}
    blamed = [w.resource for w in (a.attribution.ranking if a.attribution else []) if w.resource in sampled]
    by_sat = sorted(sampled.values(), key=lambda s: (-s.saturated_s, -s.peak_utilisation, s.resource))
    chosen = list(dict.fromkeys(blamed[:top_n] + [s.resource for s in by_sat]))[:top_n]
    # the getting-ready window, stretched to the end of any saturation (a quiet hour of autosaves is left out)
    lo, hi = _window(a, deadlines=False)
    sat = column_in(r.resource, chosen) & (np.nan_to_num(r.utilisation) >= 0.95)
    if sat.any():
        hi = max(hi, float(r.t_s[sat].max()) + 0.1 * (hi - lo))
    span = hi - lo
    step = float(np.median(np.diff(np.unique(r.t_s)))) if len(np.unique(r.t_s)) > 1 else 1.0
    win = window_s or max(step, float(next((w for w in _NICE if span / w <= 40), _NICE[-1])))
    edges = np.arange(lo, hi + win, win)
    f, ax = _fig(f"{a.info.scenario}: utilisation of the busiest resources (band: mean to max per {win:g} s)")
    ax.set_ylabel("utilisation (% busy)")
    for i, name in enumerate(chosen):
        m = column_is(r.resource, name)
        t, u = r.t_s[m], 100 * np.nan_to_num(r.utilisation[m])
        b = np.searchsorted(edges, t, side="right") - 1
        keep = (b >= 0) & (b < len(edges) - 1)
        if not keep.any():
            continue
        b, u = b[keep], u[keep]
        mx = np.full(len(edges) - 1, np.nan)
        np.fmax.at(mx, b, u)
        mean = np.bincount(b, weights=u, minlength=len(edges) - 1) / np.maximum(np.bincount(b, minlength=len(edges) - 1), 1)
        have = ~np.isnan(mx)
        x = edges[:-1][have] + win / 2
        color = WORST[i % len(WORST)]
        ax.fill_between(x, mean[have], mx[have], color=color, alpha=0.25, linewidth=0)
        ax.plot(x, mx[have], color=color, linewidth=1.5,
                label=f"{resource_label(name)} (peak {sampled[name].peak_utilisation:.0%})")
    ax.axhspan(95, 105, color="#c0392b", alpha=0.08)
    ax.axhline(95, color="#c0392b", linestyle=":", linewidth=1, label="saturated (≥ 95 %)")
    ax.set_ylim(0, 105)
    clock_axis(ax, a, lo, hi)
    mark_moments(ax, a)
    ax.legend(loc="upper right", fontsize=8)
    return f


def _breakdown(a: Analysis, q: float, band: float = 2.0) -> tuple[dict[str, float], int, float]:
    """Mean time per category of ready devices within +-band percent of rank q; (parts, n, total)."""
    rd = a.readiness
    ready = np.isfinite(rd.time_to_ready_s)
    if not ready.any():
        return {}, 0, math.nan
    ttr, at = rd.time_to_ready_s[ready], rd.ready_at_s[ready]
    order = np.argsort(ttr, kind="stable")
    n = len(order)
    lo = max(0, math.ceil((q - band) / 100 * n) - 1)
    hi = min(n, max(lo + 1, math.ceil((q + band) / 100 * n)))
    pick = order[lo:hi]
    t = a.steps
    idx = np.flatnonzero(ready)[pick]  # indices into rd.devices
    m = np.isin(rd.row_device, idx)
    sub = t.where(m)
    ready_at_by = np.full(rd.population, np.inf)
    ready_at_by[idx] = at[pick]
    keep = sub.end_s <= ready_at_by[rd.row_device[m]] + 1e-9
    dur = sub.duration_s
    qs = np.clip(np.nan_to_num(sub.queue_s), 0, dur)
    parts: dict[str, float] = {}
    k = len(pick)
    for step in READY_STEPS:
        sm = keep & sub.ok & (sub.step == step)
        if not sm.any():
            continue
        queue, work = float(qs[sm].sum()) / k, float((dur[sm] - qs[sm]).sum()) / k
        who = {"login": " (IdP)", "assertion": " (platform)", "join": " (DHCP)"}.get(step, "")
        if queue > 0:
            parts[f"{step} queue{who}"] = queue
        parts[f"{step} work{who}" if queue > 0 else step] = work
    failed = float(dur[keep & ~sub.ok].sum()) / k
    if failed > 0:
        parts["failed attempts"] = failed
    total = float(ttr[pick].mean())
    gap = total - sum(parts.values())
    if gap > 1e-6:
        parts["between steps"] = gap
    return parts, k, total


def time_breakdown(a: Analysis) -> object:
    """Stacked bars: where a typical (p50) and a p95 pupil's time to ready went, by step (step colours)."""
    f, ax = _fig(f"{a.info.scenario}: where a typical and a p95 pupil's time went", 9, 5, right=2.3, bottom=0.85)
    ax.set_ylabel("time (s), mean of pupils near that rank")
    ax.set_xlabel("pupil (by time-to-ready rank among ready pupils)")
    bars = [(f"p{q:g} pupil", *_breakdown(a, q)) for q in (50.0, 95.0)]
    cats: list[str] = []
    for _, parts, _, _ in bars:
        cats += [c for c in parts if c not in cats]
    if not cats:
        _empty(ax, "no pupil became ready: nothing to break down")
        ax.set_xticks([0, 1], ["p50 pupil", "p95 pupil"])
        return f
    x = np.arange(len(bars))
    bottom = np.zeros(len(bars))
    extra = {"failed attempts": "#c0392b", "between steps": "0.85"}
    for c in cats:
        h = np.array([parts.get(c, 0.0) for _, parts, _, _ in bars])
        ax.bar(x, h, bottom=bottom, color=extra.get(c, step_color(c)), label=c, width=0.5,
               hatch="//" if "queue" in c else None, edgecolor="white" if "queue" not in c else "0.2", linewidth=0.5)
        bottom += h
    ax.set_xticks(x, [f"{lbl}\n({n} pupils, {tot:.0f} s)" for lbl, _, n, tot in bars])
    ax.legend(loc="upper left", fontsize=8, bbox_to_anchor=(1.01, 1))
    return f


def _row_labels(ax, labels: list[str], size: float, width_in: float) -> None:
    """Row ``i``'s label left of the axes as a plain text, where a y tick label would be (tick 3.5 pt + pad
    3.5 pt), without tick objects (a tick is two lines and two texts: ~1.5 ms each for a city's 93 sites);
    the y label is placed beside the estimated label width ``width_in`` instead of measured tick labels."""
    ax.set_yticks([])
    tr = blended_transform_factory(ax.transAxes, ax.transData) + ScaledTranslation(-7 / 72, 0, ax.figure.dpi_scale_trans)
    for i, text in enumerate(labels):
        ax.text(0, i, text, transform=tr, ha="right", va="center_baseline", fontsize=size)
    ax.yaxis.set_label_coords(-(width_in + 7 / 72 + 4 / 72) / ax.get_position().width / ax.figure.get_figwidth(), 0.5)


def site_heatmap(a: Analysis, max_rows: int = 120) -> object | None:
    """Sites (rows, worst first) × clock time: share of each site's pupils ready; multi-site only."""
    if len(a.sites) < 2:
        return None
    rd = a.readiness
    sites = [g.name for g in a.sites][:max_rows]
    lo, hi = 0.0, _window(a)[1]
    edges = _bins(lo, hi, 60)
    names, inv = factorize(rd.groups_site)
    index = {n: i for i, n in enumerate(names.tolist())}
    counts = np.bincount(inv, minlength=len(names))
    grid = np.full((len(sites), len(edges)), np.nan)
    for j, t in enumerate(edges):
        ready = np.bincount(inv, weights=rd.ready_at_s <= t, minlength=len(names)) / np.maximum(counts, 1)
        grid[:, j] = [ready[index[s]] for s in sites]
    h = min(14.0, max(3.5, 0.16 * len(sites) + 1.8))
    size = 8 if len(sites) <= 40 else (6 if len(sites) <= 80 else 4.5)
    labels = [f"{s} ✕" if not g.ok else s for s, g in zip(sites, a.sites)]
    label_in = max((len(s) for s in labels), default=1) * size * 0.62 / 72  # tick labels' width, estimated
    f, ax = _fig(f"{a.info.scenario}: share of each site's pupils ready, worst site on top", 9, h,
                 left=0.45 + label_in, right=0.7)
    ax.grid(False)
    im = ax.imshow(100 * grid, aspect="auto", cmap="RdYlGn", vmin=0, vmax=100, interpolation="nearest",
                   extent=(edges[0], edges[-1] + (edges[1] - edges[0]), len(sites) - 0.5, -0.5))
    f.colorbar(im, ax=ax, label="pupils ready (% of the site)", fraction=0.04, shrink=0.9)
    _row_labels(ax, labels, size, label_in)
    ax.set_ylabel(f"site ({len(sites)}{' of ' + str(len(a.sites)) if len(a.sites) > len(sites) else ''}; "
                  "✕ breaches an SLO)")
    clock_axis(ax, a, edges[0], edges[-1])
    mark_moments(ax, a)
    return f


def ap_telemetry(a: Analysis) -> object | None:
    """The network's own numbers (``ap-telemetry`` rows, issue 14) under the load: channel utilisation and
    retry rate per AP radio below the step completions per second, on one clock-time axis."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    r = a.resources
    m = column_is(r.kind, "ap-telemetry") if len(r) else np.zeros(0, bool)
    if not m.any():
        return None
    f = Figure(figsize=(9, 6.4), dpi=100)
    FigureCanvasAgg(f)
    fixed_margins(f, hspace=0.08)
    top, bottom = f.subplots(2, 1, sharex=True, height_ratios=(1, 1.4))
    top.set_title(f"{a.info.scenario}: AP telemetry (the network's own numbers) next to the load")
    t = a.steps
    names = sorted(set(r.resource[m].tolist()))
    lo, hi = float(r.t_s[m].min()), float(r.t_s[m].max())
    if len(t):
        lo, hi = min(lo, float(np.nanmin(t.end_s))), max(hi, float(np.nanmax(t.end_s)))
    edges = _bins(lo, hi, 80)
    w = edges[1] - edges[0]
    if len(t):
        done, _ = np.histogram(t.end_s[t.ok], edges)
        top.step(edges[:-1], done / w, where="post", color="k", label="successful steps")
    top.set_ylabel("steps completed (per s)")
    top.grid(alpha=0.3)
    radios = [n for n in names if n.count("/") == 2 and not n.endswith("/clients")]
    for i, name in enumerate(radios[:5]):
        for suffix, style, what in (("", "-", "channel utilisation"), ("/retry", ":", "retry rate")):
            k = r.resource == name + suffix
            if k.any():
                order = np.argsort(r.t_s[k], kind="stable")
                bottom.plot(r.t_s[k][order], 100 * r.utilisation[k][order], color=WORST[i % len(WORST)],
                            linestyle=style, label=f"{name.split(':', 1)[1]} {what}")
    bottom.set_ylabel("share of time / frames (%)")
    bottom.set_ylim(0, 105)
    bottom.grid(alpha=0.3)
    bottom.legend(loc="upper right", fontsize=7, ncols=2)
    clock_axis(bottom, a, edges[0], edges[-1])
    mark_moments(bottom, a, deadlines=False)
    return f


def cdf_overlay(runs: list[tuple[str, Analysis]]) -> object:
    """CDF of time-to-ready of several runs on one axis (``examday compare``)."""
    f, ax = _fig("time to ready: " + " vs ".join(label for label, _ in runs))
    ax.set_xlabel("time to ready: first planned step to test downloaded (min)")
    ax.set_ylabel("share of pupils ready (fraction)")
    ax.set_ylim(0, 1.02)
    for i, (label, a) in enumerate(runs):
        ttr = a.readiness.time_to_ready_s / 60.0
        v = np.sort(ttr[np.isfinite(ttr)])
        if len(ttr):
            ax.step(*_cdf_points(v, len(ttr)), where="post", color=("k", *WORST)[i % 6],
                    label=f"{label} ({a.info.engine}, {len(v)}/{len(ttr)} ready)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right")
    else:
        _empty(ax, "no pupil devices in either run")
    return f


#: name -> plot function, in report order.
PLOTS = {
    "arrivals": arrivals_completions,
    "ready_cdf": ready_cdf,
    "site_heatmap": site_heatmap,
    "room_cdf": room_cdf,
    "utilisation": utilisation_over_time,
    "latency": step_latency_over_time,
    "breakdown": time_breakdown,
}


def save_png(f, path: Path) -> None:
    """``f`` as ``path`` written atomically (a temporary file beside it, then ``os.replace``): a reader, or a
    report killed half-way, never sees half a PNG."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        f.savefig(tmp, format="png", pil_kwargs={"compress_level": 1})  # zlib level 1: same pixels, a fraction of the time
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_plots(a: Analysis, plots_dir: Path) -> list[PlotFile]:
    """Render every applicable plot to ``plots_dir/<name>.png`` (stale ones from an earlier report removed)."""
    plots_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for name, fn in (*PLOTS.items(), ("ap_telemetry", ap_telemetry)):  # ap_telemetry: only runs that have it
        f = fn(a)
        if f is None:
            continue
        path = plots_dir / f"{name}.png"
        save_png(f, path)
        out.append(PlotFile(name, path, f.axes[0].get_title()))
    for old in plots_dir.glob("*.png"):  # an earlier report's plots that no longer apply
        if old.stem not in {p.name for p in out}:
            old.unlink()
    return out
