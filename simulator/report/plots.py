"""Figures for the report: each function takes an ``Analysis`` and returns a titled, labelled Figure.

Uses ``matplotlib.figure.Figure`` with the Agg canvas directly (no pyplot
global state), so plots can be built in any thread and are freed when
dropped. A function returns ``None`` when its plot does not apply (no
resource samples, a single-site scenario for the AP grid).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..analysis.stats import READY_STEPS, factorize  # noqa: E402
from ..analysis.summary import Analysis  # noqa: E402
from ..units import format_clock  # noqa: E402

__all__ = ["PlotFile", "PLOTS", "arrivals_completions", "step_latency_over_time", "ready_cdf",
           "utilisation_over_time", "time_breakdown", "ap_grid", "ap_telemetry", "write_plots", "cdf_overlay"]

_NICE = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)


@dataclass(frozen=True, slots=True)
class PlotFile:
    name: str
    path: Path
    title: str


def _fig(title: str, w: float = 9, h: float = 4.8) -> tuple[Figure, object]:
    fig = Figure(figsize=(w, h), dpi=90, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return fig, ax


def _time_label(a: Analysis) -> str:
    return f"time since the {format_clock(a.info.t0_clock)} exam start (s)"


def _bins(lo: float, hi: float, target: int = 80) -> np.ndarray:
    """Edges at a round width giving about ``target`` bins over [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return np.array([0.0, 1.0]) if not math.isfinite(lo) else np.array([lo, lo + 1.0])
    width = next((w for w in _NICE if (hi - lo) / w <= target), _NICE[-1] * math.ceil((hi - lo) / target / 3600))
    start = math.floor(lo / width) * width
    return np.arange(start, hi + width, width, dtype=float)


def _empty(ax: object, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=12, color="0.4")


def arrivals_completions(a: Analysis) -> Figure:
    """Devices arriving (first planned step) and becoming ready, per time bin."""
    rd = a.readiness
    fig, ax = _fig(f"{a.info.scenario}: arrivals and completions over time")
    done = rd.ready_at_s[np.isfinite(rd.ready_at_s)]
    allt = np.r_[rd.start_s, done]
    if len(allt) == 0:
        _empty(ax, "no pupil devices in the trace")
        edges = _bins(0, 1)
    else:
        edges = _bins(float(allt.min()), float(allt.max()))
        w = edges[1] - edges[0]
        arr, _ = np.histogram(rd.start_s, edges)
        com, _ = np.histogram(done, edges)
        ax.step(edges[:-1], arr, where="post", label="arrivals (first planned step)")
        ax.step(edges[:-1], com, where="post", label="completions (ready: download done)")
        ax.set_ylabel(f"devices per {w:g} s bin (count)")
        ax.legend(loc="upper right")
    ax.set_xlabel(_time_label(a))
    if not ax.get_ylabel():
        ax.set_ylabel("devices per bin (count)")
    return fig


def step_latency_over_time(a: Analysis, steps: tuple[str, ...] = ("join", "login", "assertion", "download")) -> Figure:
    """p50 (dashed) and p95 (solid) of successful step durations, binned by start time."""
    t = a.steps
    fig, ax = _fig(f"{a.info.scenario}: step latency percentiles over time (successful attempts)")
    ax.set_xlabel(_time_label(a))
    ax.set_ylabel("step duration (s)")
    ok = t.ok if len(t) else np.zeros(0, bool)
    drawn = False
    if ok.any():
        edges = _bins(float(t.start_s[ok].min()), float(t.start_s[ok].max()), 60)
        dur = t.duration_s
        for i, step in enumerate(s for s in steps if s in a.step_stats):
            m = ok & (t.step == step)
            if not m.any():
                continue
            b = np.clip(np.searchsorted(edges, t.start_s[m], side="right") - 1, 0, len(edges) - 2)
            d = dur[m]
            order = np.lexsort((d, b))
            b, d = b[order], d[order]
            bounds = np.searchsorted(b, np.arange(len(edges)))
            xs, p50, p95 = [], [], []
            for k in range(len(edges) - 1):
                lo, hi = bounds[k], bounds[k + 1]
                n = hi - lo
                if n:
                    xs.append(edges[k] + (edges[1] - edges[0]) / 2)
                    p50.append(d[lo + max(1, math.ceil(0.50 * n - 1e-9)) - 1])
                    p95.append(d[lo + max(1, math.ceil(0.95 * n - 1e-9)) - 1])
            color = f"C{i}"
            ax.plot(xs, p95, color=color, label=f"{step} p95")
            ax.plot(xs, p50, color=color, linestyle="--", label=f"{step} p50")
            drawn = True
    if drawn:
        ax.set_yscale("log")
        ax.legend(loc="upper left", ncols=2, fontsize=8)
    else:
        _empty(ax, "no successful steps in the trace")
    return fig


def _groups(a: Analysis) -> tuple[str, np.ndarray]:
    rd = a.readiness
    if len(np.unique(rd.groups_site)) > 1:
        return "site", rd.groups_site
    return "classroom", rd.groups_room


def ready_cdf(a: Analysis, top_n: int = 6) -> Figure:
    """CDF of time-to-ready for all pupils and the ``top_n`` slowest classrooms (or sites)."""
    rd = a.readiness
    what, groups = _groups(a)
    n_distinct = len(set(groups.tolist()))
    n_groups = min(top_n, n_distinct) if n_distinct > 1 else 0
    fig, ax = _fig(f"{a.info.scenario}: time to ready, all pupils"
                   + (f" and the {n_groups} slowest {what}s" if n_groups else ""))
    ax.set_xlabel("time to ready: first planned step to download done (s)")
    ax.set_ylabel("share of devices ready (fraction)")
    ax.set_ylim(0, 1.02)
    if rd.population == 0:
        _empty(ax, "no pupil devices in the trace")
        return fig
    names, inv = factorize(groups)
    ttr = rd.time_to_ready_s
    order = np.lexsort((ttr, inv))
    sg, st = inv[order], ttr[order]
    bounds = np.searchsorted(sg, np.arange(len(names) + 1))
    counts = np.diff(bounds)
    p95 = st[bounds[:-1] + np.maximum(1, np.ceil(0.95 * counts - 1e-9).astype(int)) - 1]
    share_ready = np.add.reduceat(np.isfinite(st), bounds[:-1]) / counts
    # slowest first: lowest ready share, then highest p95
    worst = np.lexsort((-np.nan_to_num(p95, posinf=1e18), share_ready))[:top_n] if len(names) > 1 else []
    curves = [("all pupils", ttr, "k", 2.5)] + [
        (f"{what} {names[g]}", st[bounds[g]:bounds[g + 1]], f"C{i}", 1.2) for i, g in enumerate(worst)]
    for label, v, color, lw in curves:
        total = len(v)
        v = np.sort(v[np.isfinite(v)])
        x, y = _cdf_points(v, total)
        ax.step(x, y, where="post", color=color, linewidth=lw, label=f"{label} ({len(v)}/{total} ready)")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def _cdf_points(v: np.ndarray, total: int, max_points: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Step-CDF vertices of sorted finite ``v`` over ``total`` devices, thinned to ~max_points (exact at kept ranks)."""
    y = np.arange(1, len(v) + 1) / max(total, 1)
    if len(v) > max_points:
        keep = np.unique(np.r_[np.linspace(0, len(v) - 1, max_points).astype(int), len(v) - 1])
        v, y = v[keep], y[keep]
    return np.r_[0, v], np.r_[0, y]


def utilisation_over_time(a: Analysis, top_n: int = 6) -> Figure | None:
    """Utilisation of the ``top_n`` resources by peak (then saturated time) over time."""
    r = a.resources
    if len(r) == 0:
        return None
    ranked = sorted((s for s in a.bottlenecks.by_peak_utilisation if s.samples),
                    key=lambda s: (-s.saturated_s, -s.peak_utilisation, s.resource))[:top_n]
    fig, ax = _fig(f"{a.info.scenario}: utilisation of the top {len(ranked)} resources")
    ax.set_xlabel(_time_label(a))
    ax.set_ylabel("utilisation (% busy)")
    for i, s in enumerate(ranked):
        m = r.resource == s.resource
        order = np.argsort(r.t_s[m], kind="stable")
        ax.plot(r.t_s[m][order], 100 * r.utilisation[m][order], color=f"C{i}",
                label=f"{s.resource} (peak {s.peak_utilisation:.0%})")
    ax.axhline(95, color="0.5", linestyle=":", linewidth=1, label="saturation (95 %)")
    ax.set_ylim(0, 105)
    busy = np.isin(r.resource, [s.resource for s in ranked]) & (r.utilisation > 0.01)
    if busy.any():  # zoom on the busy part: a quiet hour of autosaves would squash the start
        lo, hi = float(r.t_s[busy].min()), float(r.t_s[busy].max())
        pad = max(10.0, 0.1 * (hi - lo))
        ax.set_xlim(lo - pad, hi + pad)
    ax.legend(loc="upper right", fontsize=8)
    return fig


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


def time_breakdown(a: Analysis) -> Figure:
    """Stacked bars: where a typical (p50) and a p95 pupil's time to ready went, by step."""
    fig, ax = _fig(f"{a.info.scenario}: where a typical and a p95 pupil's time went", 9, 5)
    ax.set_ylabel("time (s), mean of devices near that rank")
    ax.set_xlabel("pupil (by time-to-ready rank among ready devices)")
    bars = [(f"p{q:g} pupil", *_breakdown(a, q)) for q in (50.0, 95.0)]
    cats: list[str] = []
    for _, parts, _, _ in bars:
        cats += [c for c in parts if c not in cats]
    if not cats:
        _empty(ax, "no device became ready: nothing to break down")
        ax.set_xticks([0, 1], ["p50 pupil", "p95 pupil"])
        return fig
    x = np.arange(len(bars))
    bottom = np.zeros(len(bars))
    for i, c in enumerate(cats):
        h = np.array([parts.get(c, 0.0) for _, parts, _, _ in bars])
        ax.bar(x, h, bottom=bottom, color=f"C{i % 10}", label=c, width=0.5,
               hatch="//" if "queue" in c else None)
        bottom += h
    ax.set_xticks(x, [f"{lbl}\n({n} devices, {tot:.0f} s)" for lbl, _, n, tot in bars])
    ax.legend(loc="upper left", fontsize=8, bbox_to_anchor=(1.01, 1))
    return fig


def ap_grid(a: Analysis) -> Figure | None:
    """Map-like grid of APs (rows: sites, columns: rooms) coloured by peak utilisation; multi-site only."""
    aps = [s for s in a.bottlenecks.by_peak_utilisation if s.resource.startswith("ap:") and s.samples]
    cells = {}
    for s in aps:
        site, _, room = s.resource[3:].partition("/")
        cells[(site, room)] = s.peak_utilisation
    sites = sorted({k[0] for k in cells})
    if len(sites) < 2:
        return None
    per_site = {site: sorted(r for s, r in cells if s == site) for site in sites}
    width = max(len(v) for v in per_site.values())
    grid = np.full((len(sites), width), np.nan)
    for i, site in enumerate(sites):
        for j, room in enumerate(per_site[site]):
            grid[i, j] = 100 * cells[(site, room)]
    fig, ax = _fig(f"{a.info.scenario}: peak AP airtime utilisation by site", 9, min(9.0, max(3.0, 0.3 * len(sites) + 1.5)))
    ax.grid(False)
    im = ax.imshow(grid, aspect="auto", cmap="RdYlGn_r", vmin=0, vmax=100, interpolation="nearest")
    fig.colorbar(im, ax=ax, label="peak utilisation (%)", fraction=0.04, shrink=0.9)
    ax.set_yticks(range(len(sites)), sites, fontsize=8 if len(sites) < 40 else 5)
    ax.set_ylabel("site (one row per school)")
    ax.set_xlabel("AP within site (one cell per classroom AP, rooms in name order)")
    if grid.size <= 300:
        for i, site in enumerate(sites):
            for j, room in enumerate(per_site[site]):
                ax.text(j, i, room, ha="center", va="center", fontsize=7)
    return fig


def ap_telemetry(a: Analysis) -> Figure | None:
    """The network's own numbers (``ap-telemetry`` rows, issue 14) under the load: channel utilisation and
    retry rate per AP radio below the step completions per second, on one time axis."""
    r = a.resources
    m = r.kind == "ap-telemetry" if len(r) else np.zeros(0, bool)
    if not m.any():
        return None
    fig = Figure(figsize=(9, 6.4), dpi=90, layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(1, 1.4))
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
    for i, name in enumerate(radios[:8]):
        for suffix, style, what in (("", "-", "channel utilisation"), ("/retry", ":", "retry rate")):
            k = r.resource == name + suffix
            if k.any():
                order = np.argsort(r.t_s[k], kind="stable")
                bottom.plot(r.t_s[k][order], 100 * r.utilisation[k][order], color=f"C{i}", linestyle=style,
                            label=f"{name.split(':', 1)[1]} {what}")
    bottom.set_ylabel("share of time / frames (%)")
    bottom.set_xlabel(_time_label(a))
    bottom.set_ylim(0, 105)
    bottom.grid(alpha=0.3)
    bottom.legend(loc="upper right", fontsize=7, ncols=2)
    return fig


def cdf_overlay(runs: list[tuple[str, Analysis]]) -> Figure:
    """CDF of time-to-ready of several runs on one axis (``examday compare``)."""
    fig, ax = _fig("time to ready: " + " vs ".join(label for label, _ in runs))
    ax.set_xlabel("time to ready: first planned step to download done (s)")
    ax.set_ylabel("share of devices ready (fraction)")
    ax.set_ylim(0, 1.02)
    for i, (label, a) in enumerate(runs):
        ttr = a.readiness.time_to_ready_s
        v = np.sort(ttr[np.isfinite(ttr)])
        if len(ttr):
            ax.step(*_cdf_points(v, len(ttr)), where="post", color=f"C{i}",
                    label=f"{label} ({a.info.engine}, {len(v)}/{len(ttr)} ready)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right")
    else:
        _empty(ax, "no pupil devices in either run")
    return fig


#: name -> plot function, in report order.
PLOTS = {
    "arrivals": arrivals_completions,
    "latency": step_latency_over_time,
    "ready_cdf": ready_cdf,
    "utilisation": utilisation_over_time,
    "breakdown": time_breakdown,
    "ap_grid": ap_grid,
}


def write_plots(a: Analysis, plots_dir: Path) -> list[PlotFile]:
    """Render every applicable plot to ``plots_dir/<name>.png``."""
    plots_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for name, fn in (*PLOTS.items(), ("ap_telemetry", ap_telemetry)):  # ap_telemetry: only runs that have it
        fig = fn(a)
        if fig is None:
            continue
        path = plots_dir / f"{name}.png"
        fig.savefig(path)
        out.append(PlotFile(name, path, fig.axes[0].get_title()))
    return out
