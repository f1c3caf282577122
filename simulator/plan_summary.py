"""What a plan means before any traffic is sent: counts, peaks, and the guidance check.

Peaks assume each pupil logs in at its planned start and downloads its whole
test right after (an upper bound for demand, not a prediction: the model
engine predicts). The per-pupil guidance is DOMAIN.md's: ≥ 500 kbit/s down
and 100 kbit/s up per concurrent test taker (Skolverket via a reseller's
checklist); 1 Mbit/s each way is the stricter vendor figure.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from .plan import Plan
from .units import format_bitrate, format_bytes, format_clock, format_duration

__all__ = ["summarise", "render_text", "GUIDANCE_DOWN", "GUIDANCE_UP"]

GUIDANCE_DOWN = 500e3  # bit/s per concurrent pupil
GUIDANCE_UP = 100e3


def _peak_rate(t: np.ndarray, window: float) -> tuple[float, float]:
    """Highest number of events in any window of ``window`` seconds / window, and when it starts."""
    if len(t) == 0:
        return 0.0, 0.0
    t = np.sort(t)
    ends = np.searchsorted(t, t + window, side="left")
    counts = ends - np.arange(len(t))
    i = int(np.argmax(counts))
    return float(counts[i]) / window, float(t[i])


def summarise(plan: Plan) -> dict:
    pupils = [d for d in plan.devices if d.role == "pupil"]
    starts = np.fromiter((d.start_s for d in pupils), float, len(pupils))
    dl = np.fromiter((d.room.workload.download_bytes for d in pupils), float, len(pupils))
    by_kind = Counter(d.kind for d in plan.devices)
    by_site: dict[str, Counter] = {}
    for d in plan.devices:
        by_site.setdefault(d.site, Counter())[d.role] += 1
    per_ap = Counter(d.ap for d in plan.devices)
    clients = np.array(sorted(per_ap.values())) if per_ap else np.zeros(1)
    over = [{"ap": r.id, "profile": r.ap.name, "clients": per_ap[r.id], "max_clients": r.ap.max_clients}
            for r in plan.rooms if per_ap[r.id] > r.ap.max_clients]
    peak_1s, peak_1s_at = _peak_rate(starts, 1.0)
    peak_10s, _ = _peak_rate(starts, 10.0)
    peak_60s, peak_60s_at = _peak_rate(starts, 60.0)
    in_peak = (starts >= peak_60s_at) & (starts < peak_60s_at + 60)
    peak_demand_bps = float(dl[in_peak].sum() * 8 / 60) if len(dl) else 0.0
    sites = []
    for site in plan.loaded.scenario.sites:
        n = by_site.get(site.name, Counter())["pupil"]
        down_pp = site.uplink.down / n if n else float("inf")
        up_pp = site.uplink.up / n if n else float("inf")
        sites.append({
            "site": site.name, "pupils": n, "rooms": len(site.classrooms),
            "uplink_down_bps": site.uplink.down, "uplink_up_bps": site.uplink.up,
            "down_per_pupil_bps": down_pp, "up_per_pupil_bps": up_pp,
            "meets_guidance": bool(down_pp >= GUIDANCE_DOWN and up_pp >= GUIDANCE_UP),
        })
    short = [s["site"] for s in sites if not s["meets_guidance"]]
    tests = sorted({r.workload.test for r in plan.rooms})
    t_guidance = {t: next(r.workload.download_bytes for r in plan.rooms if r.workload.test == t) * 8 / GUIDANCE_DOWN
                  for t in tests}
    return {
        "scenario": plan.scenario,
        "seed": plan.seed,
        "digest": plan.digest,
        "t0": format_clock(plan.t0_clock),
        "devices": len(plan.devices),
        "pupils": len(pupils),
        "teachers": len(plan.devices) - len(pupils),
        "devices_by_kind": dict(sorted(by_kind.items())),
        "devices_by_site": {s: dict(c) for s, c in by_site.items()},
        "sites": len(plan.loaded.scenario.sites),
        "aps": len(plan.rooms),
        "clients_per_ap": {"min": int(clients.min()), "median": float(np.median(clients)),
                           "max": int(clients.max()), "mean": float(clients.mean())},
        "aps_over_max_clients": over,
        "arrivals": {
            "first_s": float(starts.min()) if len(starts) else 0.0,
            "p50_s": float(np.median(starts)) if len(starts) else 0.0,
            "p95_s": float(np.percentile(starts, 95)) if len(starts) else 0.0,
            "last_s": float(starts.max()) if len(starts) else 0.0,
            "peak_per_s": peak_1s, "peak_at_s": peak_1s_at,
            "peak_per_s_10s_window": peak_10s, "peak_per_s_60s_window": peak_60s,
        },
        "idp_login_rate": {
            "peak_per_s_10s_window": peak_10s,
            "mean_per_s_first_5_min": float(np.sum(starts < starts.min() + 300) / 300) if len(starts) else 0.0,
            "idp_capacity_per_s": _idp_capacity(plan),
        },
        "bytes": {
            "download_total": float(dl.sum()),
            "peak_minute_download": float(dl[in_peak].sum()),
            "peak_demand_bps": peak_demand_bps,
            "per_pupil_by_test": {t: next(r.workload.download_bytes for r in plan.rooms if r.workload.test == t)
                                  for t in tests},
        },
        "guidance": {
            "down_per_pupil_bps": GUIDANCE_DOWN, "up_per_pupil_bps": GUIDANCE_UP,
            "sites": sites, "sites_below_guidance": short,
            "download_time_at_guidance_s": t_guidance,
            "core_down_per_pupil_bps": plan.links["core-down"].capacity_bps / max(1, len(pupils)),
        },
    }


def _idp_capacity(plan: Plan) -> float:
    """Password logins/s the IdP profile sustains: workers / mean per-login CPU time."""
    idp = plan.services["idp"]
    cost = sum(idp.profile.operations.values()) or float("nan")
    return idp.workers / cost


def render_text(s: dict) -> str:
    a, b, g, login = s["arrivals"], s["bytes"], s["guidance"], s["idp_login_rate"]
    lines = [
        f"plan {s['scenario']} (seed {s['seed']}, t0 {s['t0']}, digest {s['digest'][:12]})",
        f"  devices   {s['devices']} ({s['pupils']} pupils, {s['teachers']} teachers) at {s['sites']} site(s): "
        + ", ".join(f"{k} {v}" for k, v in s["devices_by_kind"].items()),
        f"  APs       {s['aps']}, clients per AP min {s['clients_per_ap']['min']} / median "
        f"{s['clients_per_ap']['median']:.0f} / max {s['clients_per_ap']['max']}"
        + (f"; {len(s['aps_over_max_clients'])} AP(s) over their max clients" if s["aps_over_max_clients"] else ""),
        f"  arrivals  first {format_duration(a['first_s'])}, median {format_duration(a['p50_s'])}, "
        f"p95 {format_duration(a['p95_s'])} after t0; peak {a['peak_per_s']:.0f}/s "
        f"({a['peak_per_s_10s_window']:.1f}/s over 10 s, {a['peak_per_s_60s_window']:.1f}/s over 60 s)",
        f"  IdP       peak {login['peak_per_s_10s_window']:.1f} logins/s (10 s window) vs profile capacity "
        f"~{login['idp_capacity_per_s']:.0f}/s",
        f"  download  {format_bytes(b['download_total'])} in all; peak minute {format_bytes(b['peak_minute_download'])} "
        f"= {format_bitrate(b['peak_demand_bps'])} if fetched at once",
    ]
    # every site below guidance is named, worst first; then sites that meet it, up to 12 lines in all
    low = sorted((x for x in g["sites"] if not x["meets_guidance"]), key=lambda x: x["down_per_pupil_bps"])
    ok = [x for x in g["sites"] if x["meets_guidance"]]
    shown = low + ok[: max(0, 12 - len(low))]
    for site in shown:
        mark = "ok " if site["meets_guidance"] else "LOW"
        lines.append(f"  {mark} {site['site']}: {site['pupils']} pupils, uplink {format_bitrate(site['uplink_down_bps'])} down "
                     f"= {format_bitrate(site['down_per_pupil_bps'])}/pupil (guidance {format_bitrate(g['down_per_pupil_bps'])}), "
                     f"{format_bitrate(site['up_per_pupil_bps'])}/pupil up (guidance {format_bitrate(g['up_per_pupil_bps'])})")
    if len(g["sites"]) > len(shown):
        lines.append(f"  … {len(g['sites']) - len(shown)} more sites, all meeting the guidance")
    lines.append(f"  guidance  {len(low)} of {len(g['sites'])} sites below: "
                 + (", ".join(x["site"] for x in low) if low else "none"))
    for test, t in g["download_time_at_guidance_s"].items():
        lines.append(f"  {test}: {format_bytes(b['per_pupil_by_test'][test])} per pupil takes "
                     f"{format_duration(t)} at the guidance rate")
    return "\n".join(lines)
