"""Who made the pupils wait: pupil-seconds of waiting attributed to each resource, in one unit.

Engine-neutral: computed from the trace alone (step rows with their error
reasons and ``queue_s``, and resource samples where the engine wrote them), so
model and live runs are ranked the same way. For every pupil device's step
attempts:

- **queued**: the attempt's ``queue_s`` (model) -> the server of the step
  (``login`` -> ``service:idp``, ``join`` -> ``dhcp:<site>``, ...);
- **slowed**: the rest of a successful attempt's time above the step's
  baseline (its 1st-percentile duration for the same step and size) -> the
  most utilised sampled resource on the device's path during the attempt
  (AP airtime, uplink, core, data centre, content egress); the step's server
  when nothing on the path was sampled (live runs);
- **refused / retried**: a failed attempt's whole duration plus the wait until
  the device's next attempt of that step -> the step's server (a 503 at the
  IdP puts the login wait and the retries on the IdP), except a *timeout*
  whose path held a saturated sampled resource (mean utilisation ≥
  ``SATURATED`` over the attempt): that transfer ran out of time on the link
  or airtime, so the wait goes to that resource (a submit timing out on a thin
  uplink is the uplink's, not the platform's);
- **never ready**: a pupil whose last attempt at a ready step failed waits
  from then to the end of the trace -> the resource its last attempt failed on.

The sum over resources is the ranking; its top is *the* bottleneck. Per
device sums give each site's and room's dominant resource.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..trace import ResourceTable, StepTable
from .bottleneck import equal_rows, resource_series
from .stats import READY_STEPS, Readiness, factorize

__all__ = ["Attribution", "ResourceWait", "attribute", "STEP_SERVER", "CAUSES", "resource_label"]

#: The server each step waits at (queueing, refusals).
STEP_SERVER = {
    "join": "dhcp:{site}",
    "login": "service:idp",
    "assertion": "service:platform",
    "open": "service:platform",
    "download": "service:content",
    "autosave": "service:platform",
    "submit": "service:platform",
    "provision": "service:provisioning",
}

#: Resources on the way to the school (downloads) and from it (posts); ``{site}``/``{room}`` per device.
_DOWN_PATH = ("content-egress", "dc-down", "core-down", "uplink-down:{site}", "switch:{site}",
              "ap-port:{site}/{room}", "ap:{site}/{room}")
_UP_PATH = ("ap:{site}/{room}", "ap-port:{site}/{room}", "switch:{site}", "uplink-up:{site}", "core-up", "dc-up")
_PATHS = {"download": _DOWN_PATH, "autosave": _UP_PATH, "submit": _UP_PATH,
          "login": _UP_PATH + _DOWN_PATH[:3], "assertion": _UP_PATH, "open": _UP_PATH, "join": ("ap:{site}/{room}",)}

CAUSES = ("queued", "slowed", "refused", "never_ready")
SATURATED = 0.9  # mean utilisation over a timed-out attempt that makes a path resource its cause

_LABEL = {"service:idp": "IdP (login server)", "service:platform": "test platform", "service:content": "content servers",
          "service:provisioning": "provisioning", "content-egress": "content egress (data centre)",
          "dc-down": "data-centre link (down)", "dc-up": "data-centre link (up)", "core-down": "city core (down)",
          "core-up": "city core (up)"}


def resource_label(resource: str) -> str:
    """'uplink-down:sodervang' -> 'uplink, sodervang (down)'; 'service:idp' -> 'IdP (login server)'."""
    if resource in _LABEL:
        return _LABEL[resource]
    kind, _, where = resource.partition(":")
    names = {"uplink-down": ("uplink", " (down)"), "uplink-up": ("uplink", " (up)"), "ap": ("Wi-Fi airtime", ""),
             "ap-port": ("AP port", ""), "switch": ("school switch", ""), "dhcp": ("DHCP", ""),
             "generator": ("load generator", "")}
    if kind in names:
        what, suffix = names[kind]
        return f"{what}, {where}{suffix}"
    return resource


@dataclass(frozen=True, slots=True)
class ResourceWait:
    resource: str
    wait_s: float  # pupil-seconds
    by_cause: dict[str, float]
    devices: int  # pupils with any waiting here
    share: float  # of all attributed waiting

    @property
    def label(self) -> str:
        return resource_label(self.resource)

    def to_json(self) -> dict:
        return {"resource": self.resource, "label": self.label, "pupil_wait_s": round(self.wait_s, 3),
                "share": round(self.share, 6), "devices": self.devices,
                "by_cause": {k: round(v, 3) for k, v in self.by_cause.items()}}


@dataclass
class Attribution:
    """Per (pupil device, resource, cause) waiting, and the ranking over resources."""

    resources: np.ndarray  # resource names (object), index = resource code
    device: np.ndarray  # per part: index into Readiness.devices
    resource: np.ndarray  # per part: resource code
    cause: np.ndarray  # per part: index into CAUSES
    seconds: np.ndarray  # per part: pupil-seconds
    ranking: list[ResourceWait]

    @property
    def top(self) -> ResourceWait | None:
        return next((r for r in self.ranking if not r.resource.startswith("generator:")), None)

    def dominant(self, device_mask: np.ndarray) -> tuple[str | None, float]:
        """The resource with most waiting among the selected devices (mask over Readiness.devices), and its seconds."""
        m = device_mask[self.device]
        if not m.any():
            return None, 0.0
        sums = np.bincount(self.resource[m], weights=self.seconds[m], minlength=len(self.resources))
        k = int(np.argmax(sums))
        return (str(self.resources[k]), float(sums[k])) if sums[k] > 0 else (None, 0.0)

    def by_group(self, groups: np.ndarray) -> dict[str, tuple[str | None, float]]:
        """Dominant resource per group label (``groups`` aligned with Readiness.devices)."""
        names, codes = factorize(groups)
        if len(self.device) == 0:
            return {str(n): (None, 0.0) for n in names}
        g = codes[self.device]
        nr = len(self.resources)
        sums = np.bincount(g * nr + self.resource, weights=self.seconds, minlength=len(names) * nr).reshape(len(names), nr)
        best = sums.argmax(axis=1)
        return {str(n): ((str(self.resources[best[i]]), float(sums[i, best[i]])) if sums[i, best[i]] > 0
                         else (None, 0.0)) for i, n in enumerate(names)}


def _server(step: str, site: str) -> str:
    return STEP_SERVER.get(step, f"service:{step}").format(site=site)


class _Integrals:
    """Per sampled resource: cumulative utilisation integral, to average it over any interval."""

    def __init__(self, r: ResourceTable):
        self.t: dict[str, np.ndarray] = {}
        self.c: dict[str, np.ndarray] = {}
        if not len(r):
            return
        sr = resource_series(r)
        size = equal_rows(sr.bounds, len(sr.t))
        if size:  # every resource sampled as often: one 2-D pass (a cumulative sum is sequential along each row)
            n = len(sr.bounds) - 1
            edges = np.empty((n, size + 1))
            edges[:, 1:] = sr.t.reshape(n, size)
            edges[:, 0] = edges[:, 1] - sr.step
            c = np.empty((n, size + 1))
            c[:, 0] = 0.0
            np.cumsum(sr.util.reshape(n, size) * np.diff(edges, axis=1), axis=1, out=c[:, 1:])
            for g, name in enumerate(sr.names.tolist()):
                self.t[str(name)] = edges[g]
                self.c[str(name)] = c[g]
            return
        for g, (a, b) in enumerate(zip(sr.bounds[:-1].tolist(), sr.bounds[1:].tolist())):
            t = sr.t[a:b]
            # sample i covers (t_i - step, t_i]: the busy share of the interval ending at t_i
            edges = np.empty(b - a + 1)
            edges[0] = t[0] - sr.step[g]
            edges[1:] = t
            c = np.empty(b - a + 1)
            c[0] = 0.0
            np.cumsum(sr.util[a:b] * np.diff(edges), out=c[1:])
            name = str(sr.names[g])
            self.t[name] = edges
            self.c[name] = c

    def mean(self, name: str, a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
        t = self.t.get(name)
        if t is None:
            return None
        c = self.c[name]
        width = np.maximum(b - a, 1e-9)
        return (np.interp(b, t, c) - np.interp(a, t, c)) / width


def _baseline(t: StepTable, rows: np.ndarray, dur: np.ndarray) -> np.ndarray:
    """Per row in ``rows`` (successful): the 1st-percentile duration of its step and size."""
    steps, sc = factorize(t.step[rows])
    key = sc.astype(np.int64) * 1_000_003 + (t.bytes[rows].astype(np.int64) % 1_000_003)
    uk, inv = np.unique(key, return_inverse=True)
    order = np.lexsort((dur, inv))
    si, sd = inv[order], dur[order]
    bounds = np.searchsorted(si, np.arange(len(uk) + 1))
    counts = np.diff(bounds)
    pick = bounds[:-1] + np.minimum(counts - 1, np.floor(0.01 * counts).astype(np.int64))
    return sd[pick][inv]


def attribute(t: StepTable, r: ResourceTable, rd: Readiness) -> Attribution:
    """Attribute every pupil's waiting to resources (see module docstring)."""
    dev_of_row = rd.row_device
    pupil = dev_of_row >= 0
    parts_dev: list[np.ndarray] = []
    parts_res: list[np.ndarray] = []
    parts_cause: list[np.ndarray] = []
    parts_s: list[np.ndarray] = []
    res_index: dict[str, int] = {}

    def code(names: np.ndarray) -> np.ndarray:
        labels, codes = factorize(names)
        mapping = np.array([res_index.setdefault(str(n), len(res_index)) for n in labels.tolist()], dtype=np.int64)
        return mapping[codes]

    def add(rows: np.ndarray, names: np.ndarray, cause: str, secs: np.ndarray) -> None:
        keep = secs > 0
        if not keep.any():
            return
        rows, secs = rows[keep], secs[keep]
        parts_dev.append(dev_of_row[rows])
        parts_res.append(code(names[keep]))
        parts_cause.append(np.full(len(rows), CAUSES.index(cause)))
        parts_s.append(secs)

    if len(t):
        steps, step_codes = factorize(t.step)
        sites, site_codes = factorize(t.site)
        rooms, room_codes = factorize(t.room)
        dur = t.duration_s
        q = np.clip(np.nan_to_num(t.queue_s), 0, np.maximum(dur, 0))
        integ = _Integrals(r)

        def server_names(rows: np.ndarray) -> np.ndarray:
            # one name per (step, site) pair, built once per distinct pair
            pair = step_codes[rows] * len(sites) + site_codes[rows]
            up, inv = np.unique(pair, return_inverse=True)
            names = np.array([_server(str(steps[p // len(sites)]), str(sites[p % len(sites)])) for p in up], dtype=object)
            return names[inv]

        # queued
        rows = np.flatnonzero(pupil & (q > 0))
        add(rows, server_names(rows), "queued", q[rows])
        # slowed: successful attempts above their baseline
        ok_rows = np.flatnonzero(pupil & t.ok & (dur > 0))
        if len(ok_rows):
            work = dur[ok_rows] - q[ok_rows]
            excess = work - _baseline(t, ok_rows, work)
            sel = excess > 1e-6
            rows, excess = ok_rows[sel], excess[sel]
            names, _ = _slowing_resource(t, rows, steps, step_codes, sites, site_codes, rooms, room_codes,
                                         integ, server_names)
            add(rows, names, "slowed", excess)
        # refused / retried: failed attempt + wait until the next attempt of the step
        fail = np.flatnonzero(pupil & ~t.ok)
        if len(fail):
            _, dev_codes = factorize(t.device)
            key = dev_codes * len(steps) + step_codes
            order = np.lexsort((t.start_s, key))
            nxt = np.full(len(t), np.nan)
            same = key[order][1:] == key[order][:-1]
            nxt[order[:-1][same]] = t.start_s[order[1:][same]]
            horizon = float(np.nanmax(t.end_s))
            last_fail = np.isnan(nxt[fail])
            wait = np.where(last_fail, dur[fail], np.maximum(nxt[fail] - t.start_s[fail], dur[fail]))
            owner = server_names(fail)
            timed_out = np.flatnonzero(t.error[fail] == "timeout")
            if len(timed_out):
                names, util = _slowing_resource(t, fail[timed_out], steps, step_codes, sites, site_codes, rooms,
                                                room_codes, integ, server_names)
                on_path = util >= SATURATED
                owner[timed_out[on_path]] = names[on_path]
            add(fail, owner, "refused", np.maximum(wait, 0))
            # never ready: the last attempt at a ready step failed and the pupil never got ready
            ready_step = np.isin(t.step[fail], READY_STEPS)
            never = last_fail & ready_step & ~np.isfinite(rd.ready_at_s[dev_of_row[fail]])
            add(fail[never], owner[never], "never_ready", horizon - t.end_s[fail[never]])

    resources = np.empty(len(res_index), dtype=object)
    resources[:] = list(res_index)
    cat = (lambda xs, dt: np.concatenate(xs) if xs else np.zeros(0, dt))
    att = Attribution(resources, cat(parts_dev, np.int64), cat(parts_res, np.int64), cat(parts_cause, np.int64),
                      cat(parts_s, float), [])
    att.ranking = _rank(att)
    return att


def _slowing_resource(t, rows, steps, step_codes, sites, site_codes, rooms, room_codes, integ: _Integrals,
                      server_names) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the most utilised sampled resource on its path during the attempt (else the step's server),
    and that resource's mean utilisation over the attempt (-1 where nothing on the path was sampled).

    The path's resources are tried in ``_PATHS`` order and a later one wins only when it is busier by more
    than 1e-9. The mean utilisations are computed first, one ``_Integrals.mean`` per sampled resource over
    every attempt it is on the path of (elementwise, so the same numbers as per (resource, step)); the
    ordered comparison then runs per path position, vectorised over the attempts.
    """
    out = server_names(rows)
    best = np.full(len(rows), -1.0)
    if not integ.t or not len(rows):
        return out, best
    a, b = t.start_s[rows], t.end_s[rows]
    sc = step_codes[rows]
    names: list[str] = []  # sampled resources on some path, by first appearance
    name_id: dict[str, int] = {}
    tasks: list[tuple[np.ndarray, np.ndarray]] = []  # per (step, path position): attempts, resource id (-1: none)
    known: dict[tuple[str, int], int] = {}  # (template, key) -> resource id (-1: not sampled); steps share paths
    site_names, room_names = [str(x) for x in sites.tolist()], [str(x) for x in rooms.tolist()]
    for s_idx, step in enumerate(steps.tolist()):
        path = _PATHS.get(step)
        m_step = sc == s_idx
        if path is None or not m_step.any():
            continue
        idx = np.flatnonzero(m_step)
        for tmpl in path:
            if "{room}" in tmpl:
                key, n_keys = site_codes[rows[idx]] * len(rooms) + room_codes[rows[idx]], len(sites) * len(rooms)
            elif "{site}" in tmpl:
                key, n_keys = site_codes[rows[idx]], len(sites)
            else:
                key, n_keys = np.zeros(len(idx), dtype=np.int64), 1
            present = np.zeros(n_keys, dtype=bool)  # the distinct keys (small integers) without a sort
            present[key] = True
            uk = np.flatnonzero(present)
            inv = (np.cumsum(present) - 1)[key]
            ids = np.full(len(uk), -1, dtype=np.int64)
            for j, k in enumerate(uk.tolist()):
                hit = known.get((tmpl, k))
                if hit is None:
                    site = site_names[k // len(rooms)] if "{room}" in tmpl else (site_names[k] if "{site}" in tmpl else "")
                    room = room_names[k % len(rooms)] if "{room}" in tmpl else ""
                    name = tmpl.format(site=site, room=room)
                    hit = -1
                    if name in integ.t:
                        hit = name_id.setdefault(name, len(names))
                        if hit == len(names):
                            names.append(name)
                    known[(tmpl, k)] = hit
                ids[j] = hit
            tasks.append((idx, ids[inv]))
    if not names:
        return out, best
    # every (attempt, resource) pair at once, grouped by resource: one mean per resource
    pos = np.concatenate([idx for idx, _ in tasks])
    rid = np.concatenate([r for _, r in tasks])
    u_all = np.full(len(pos), np.nan)
    have = np.flatnonzero(rid >= 0)
    small = rid[have].astype(np.int16) if len(names) < 2 ** 15 else rid[have]  # 16-bit: numpy's radix sort
    order = have[np.argsort(small, kind="stable")]
    sr = rid[order]
    bounds = np.flatnonzero(np.r_[True, sr[1:] != sr[:-1], True])
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        sel = order[lo:hi]
        p = pos[sel]
        u_all[sel] = integ.mean(names[int(sr[lo])], a[p], b[p])
    name_arr = np.empty(len(names), dtype=object)
    name_arr[:] = names
    at = 0
    for idx, r in tasks:  # path order: a later resource wins only when busier by > 1e-9
        u = u_all[at:at + len(idx)]
        at += len(idx)
        on = r >= 0
        sel, u, r = idx[on], u[on], r[on]
        better = u > best[sel] + 1e-9
        best[sel[better]] = u[better]
        out[sel[better]] = name_arr[r[better]]
    return out, best


def _rank(att: Attribution) -> list[ResourceWait]:
    nr = len(att.resources)
    if nr == 0:
        return []
    total = np.bincount(att.resource, weights=att.seconds, minlength=nr)
    by_cause = np.bincount(att.resource * len(CAUSES) + att.cause, weights=att.seconds,
                           minlength=nr * len(CAUSES)).reshape(nr, len(CAUSES))
    width = int(att.device.max()) + 1 if len(att.device) else 1
    pairs = np.sort(att.resource * width + att.device)
    pairs = pairs[np.r_[True, pairs[1:] != pairs[:-1]]] if len(pairs) else pairs
    devices = np.bincount(pairs // width, minlength=nr)
    grand = float(total.sum()) or math.nan
    out = [ResourceWait(str(att.resources[i]), float(total[i]),
                        {c: float(by_cause[i, k]) for k, c in enumerate(CAUSES) if by_cause[i, k] > 0},
                        int(devices[i]), float(total[i] / grand)) for i in range(nr)]
    return sorted(out, key=lambda w: (-w.wait_s, w.resource))
