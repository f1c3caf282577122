"""Fit device and service profiles to what was measured: an overlay folder for ``--profiles DIR``.

From the DHCP exchanges (a storm, or a capture):

- initial wait per device kind: first DISCOVER − (wake + association), fitted
  as a uniform U(a, b) with the minimum-variance unbiased estimates
  a = min − r/(n−1), b = max + r/(n−1), r = max − min (needs the wake:
  storm runs and synthesised captures carry it);
- retransmit: the median first gap between DISCOVERs of one xid (RFC 2131
  §4.1: 4 s ± 1 s), when there were retransmissions;
- the DHCP server: mean and coefficient of variation of its answer times
  (DISCOVER -> OFFER, REQUEST -> ACK, from the last copy sent) as the
  ``lease`` operation, and ``workers`` = the most exchanges it had in hand at
  once (a server that answers late but many at a time is a delay, not a
  queue; Little's law).

From HTTP requests (a live run's capture): the median time to first byte per
request kind as the service operation it stands for (``HTTP_OPS``), and the
most connections a device held to one server (``connections_per_host``).

Profiles not measured are left out of the overlay (the built-ins stay).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from .records import DhcpExchange, HttpExchange, TcpFlow

__all__ = ["Fit", "Calibration", "calibrate", "write_overlay", "HTTP_OPS"]

#: request (method, path pattern) -> (service role, operation) of the model (simulator/model/procs.py)
HTTP_OPS = (
    ("GET", "/platform/login", "platform", "authn_request"),
    ("GET", "/idp/sso", "idp", "authn_request"),
    ("POST", "/idp/login", "idp", "credentials"),
    ("POST", "/platform/acs", "platform", "acs"),
    ("POST", "/open", "platform", "open"),
    ("GET", "/platform/api/manifest", "platform", "manifest"),
    ("POST", "/api/answers", "platform", "autosave"),
    ("POST", "/api/submit", "platform", "submit"),
)


@dataclass(frozen=True, slots=True)
class Fit:
    profile: str  # "devices/chromebook", "services/city-dhcp"
    field: str  # "dhcp.initial_wait_min", "operations.lease"
    old: float
    new: float
    n: int  # samples
    unit: str = "s"


@dataclass
class Calibration:
    fits: list[Fit]
    devices: dict[str, dict]  # kind -> full fitted profile (model_dump)
    services: dict[str, dict]  # profile name -> full fitted profile

    def lines(self) -> list[str]:
        out = [f"{'profile':<26}{'field':<28}{'old':>12}{'fitted':>12}{'n':>6}"]
        for f in self.fits:
            out.append(f"{f.profile:<26}{f.field:<28}{_show(f.old, f.unit):>12}{_show(f.new, f.unit):>12}{f.n:>6}")
        return out


def _show(v: float, unit: str) -> str:
    if unit == "s":
        return f"{v * 1000:.1f} ms" if abs(v) < 1 else f"{v:.3f} s"
    return f"{v:g}"


def _uniform(x: np.ndarray) -> tuple[float, float]:
    lo, hi = float(x.min()), float(x.max())
    if len(x) < 2:
        return lo, hi
    r = (hi - lo) / (len(x) - 1)
    return max(0.0, lo - r), hi + r


def calibrate(plan, exchanges: list[DhcpExchange], http: list[HttpExchange] = (), flows: list[TcpFlow] = (),
              owner: dict[str, str] | None = None) -> Calibration:
    """Fitted profiles for ``plan``'s device kinds and services from the measured records."""
    fits: list[Fit] = []
    devices = {k: p.model_dump() for k, p in plan.device_profiles.items()}
    services = {sp.profile.name: sp.profile.model_dump() for sp in plan.services.values()}
    kind_of = {d.id: d.kind for d in plan.devices}
    touched_dev, touched_svc = set(), set()

    by_kind: dict[str, list[float]] = {}
    gaps: dict[str, list[float]] = {}
    for ex in exchanges:
        kind = kind_of.get(ex.device)
        if kind is None or not ex.discovers:
            continue
        if not math.isnan(ex.wake_s):
            by_kind.setdefault(kind, []).append(ex.discovers[0] - ex.wake_s - devices[kind]["association"])
        if len(ex.discovers) > 1:
            gaps.setdefault(kind, []).append(ex.discovers[1] - ex.discovers[0])
    for kind, waits in by_kind.items():
        a, b = _uniform(np.asarray(waits))
        d = devices[kind]["dhcp"]
        fits += [Fit(f"devices/{kind}", "dhcp.initial_wait_min", d["initial_wait_min"], a, len(waits)),
                 Fit(f"devices/{kind}", "dhcp.initial_wait_max", d["initial_wait_max"], b, len(waits))]
        d["initial_wait_min"], d["initial_wait_max"] = a, b
        touched_dev.add(kind)
    for kind, g in gaps.items():
        d = devices[kind]["dhcp"]
        new = float(np.median(g))
        fits.append(Fit(f"devices/{kind}", "dhcp.retransmit", d["retransmit"], new, len(g)))
        d["retransmit"] = new
        touched_dev.add(kind)

    answers, spans = [], []
    for ex in exchanges:
        for sent, got in ((ex.discovers, ex.offer_s), (ex.requests, ex.ack_s)):
            before = [t for t in sent if t <= got]
            if before and not math.isnan(got):
                answers.append(got - before[-1])
                spans.append((before[0], got))
    if answers:
        dh = services[plan.services["dhcp"].profile.name]
        a = np.asarray(answers)
        mean, cv = float(a.mean()), float(a.std() / a.mean()) if a.mean() > 0 else 0.0
        peak = _peak(spans)
        name = f"services/{dh['name']}"
        fits += [Fit(name, "operations.lease", dh["operations"].get("lease", 0.002), mean, len(a)),
                 Fit(name, "service_cv", dh["service_cv"], cv, len(a), ""),
                 Fit(name, "workers", dh["workers"], max(dh["workers"], peak), len(a), "")]
        dh["operations"]["lease"], dh["service_cv"] = mean, min(cv, 5.0)
        dh["workers"] = max(dh["workers"], peak)
        touched_svc.add(dh["name"])

    ttfb: dict[tuple[str, str], list[float]] = {}
    for h in http:
        if math.isnan(h.response_s):
            continue
        for method, pat, role, op in HTTP_OPS:
            if h.method == method and pat in h.uri:
                ttfb.setdefault((role, op), []).append(h.response_s - h.request_s)
                break
    for (role, op), xs in sorted(ttfb.items()):
        svc = services[plan.services[role].profile.name]
        new = float(np.median(xs))
        fits.append(Fit(f"services/{svc['name']}", f"operations.{op}", svc["operations"].get(op, math.nan), new,
                        len(xs)))
        svc["operations"][op] = new
        touched_svc.add(svc["name"])
    if owner and flows:
        conns = _connections(flows, owner, kind_of)
        for kind, n in conns.items():
            if kind in devices:
                fits.append(Fit(f"devices/{kind}", "http.connections_per_host",
                                devices[kind]["http"]["connections_per_host"], n, 1, ""))
                devices[kind]["http"]["connections_per_host"] = n
                touched_dev.add(kind)
    return Calibration(fits, {k: v for k, v in devices.items() if k in touched_dev},
                       {k: v for k, v in services.items() if k in touched_svc})


def _peak(spans: list[tuple[float, float]]) -> int:
    ev = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda x: (x[0], x[1]))
    cur = best = 0
    for _, d in ev:
        cur += d
        best = max(best, cur)
    return best


def _connections(flows, owner: dict[str, str], kind_of: dict[str, str]) -> dict[str, int]:
    """Per device kind, the most connections one device had open at once to one server."""
    per: dict[tuple[str, str], list] = {}
    for f in flows:
        user = owner.get(f.client)
        if user and not math.isnan(f.syn_s):
            per.setdefault((user, f.server), []).append((f.syn_s, f.end_s))
    out: dict[str, int] = {}
    for (user, _), spans in per.items():
        kind = kind_of.get(user)
        if kind:
            out[kind] = max(out.get(kind, 0), _peak(spans))
    return out


def _yaml_value(key: str, v):
    """SI floats back to the profile language's units (seconds fields as 's')."""
    if isinstance(v, dict):
        return {k: _yaml_value(k, x) for k, x in v.items()}
    if isinstance(v, float) and key in _SECONDS:
        return f"{v:.6g} s"
    return v


_SECONDS = {"initial_wait_min", "initial_wait_max", "retransmit", "max_retransmit", "association",
            "connect_timeout", "timeout", "backoff", "max_backoff"}


def write_overlay(cal: Calibration, out: Path, source: str) -> list[Path]:
    """``out/devices/<kind>.yaml``, ``out/services/<name>.yaml`` and ``out/calibration.md``."""
    written = []
    for sub, table in (("devices", cal.devices), ("services", cal.services)):
        for name, prof in table.items():
            (out / sub).mkdir(parents=True, exist_ok=True)
            doc = _yaml_value("", prof)
            if sub == "devices":
                doc["wifi"]["width"] = prof["wifi"]["width"]
                if doc["http"]["retry"].get("jitter") is not None:
                    doc["http"]["retry"]["jitter"] = float(prof["http"]["retry"]["jitter"])
                if isinstance(doc.get("association"), float):
                    doc["association"] = f"{prof['association']:.6g} s"
            else:
                doc["operations"] = {k: f"{v:.6g} s" for k, v in prof["operations"].items()}
                if doc.get("bandwidth") is None:
                    doc.pop("bandwidth", None)
                else:
                    doc["bandwidth"] = f"{prof['bandwidth']:.6g} bit/s"
            path = out / sub / f"{name}.yaml"
            path.write_text(f"# fitted by examday calibrate from {source}\n" + yaml.safe_dump(doc, sort_keys=False))
            written.append(path)
    md = out / "calibration.md"
    md.write_text(f"# Calibration from {source}\n\n```\n" + "\n".join(cal.lines()) + "\n```\n\n"
                  f"Use it with `--profiles {out}`.\n")
    written.append(md)
    return written
