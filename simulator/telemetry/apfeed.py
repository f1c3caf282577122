"""AP/controller telemetry: messages <-> ``ap-telemetry`` resource rows, and a replay from a model run.

Rows written per AP message (``kind = "ap-telemetry"``, ``queue = 0`` so the
waiting ranking of the report is untouched; every value is a share 0..1 in
the ``utilisation`` column):

- ``ap-telemetry:<site>/<room>/<radio>`` — channel utilisation (busy share);
- ``ap-telemetry:<site>/<room>/<radio>/retry`` — retry rate (frames retried);
- ``ap-telemetry:<site>/<room>/<radio>/throughput`` — throughput / the AP's port rate;
- ``ap-telemetry:<site>/<room>/clients`` — associated clients / the AP profile's ``max_clients``.

The scenario's ``telemetry:`` block says where the numbers sit in a message
and which AP id is which classroom. ``replay_samples`` derives realistic
messages from a model run: channel utilisation = the model's airtime
utilisation of that AP plus the background a controller always sees from
beacons and neighbouring networks; retry rate grows with contention
(about 3 % idle to ~25 % on a saturated channel, the range reported for dense
802.11 cells, e.g. Patro et al., IMC 2013); clients = devices that have joined;
throughput = the room's step bytes over time.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np

__all__ = ["ApInfo", "resolve_mapping", "parse_message", "replay_samples", "KIND", "topic_filter"]

KIND = "ap-telemetry"
BACKGROUND = 0.06  # channel busy share from beacons/neighbours with no load (idle 5 GHz classroom)


@dataclass(frozen=True, slots=True)
class ApInfo:
    id: str
    site: str
    room: str
    max_clients: int
    port_bps: float


def resolve_mapping(plan) -> dict:
    """The scenario's telemetry block with every AP id resolved to its classroom (JSON for the publisher)."""
    tel = plan.loaded.scenario.telemetry
    by_room = {r.id: r for r in plan.rooms}
    names = {}
    for r in plan.rooms:
        names.setdefault(r.name, []).append(r)
    aps: dict[str, dict] = {}
    for ap_id, where in tel.aps.items():
        room = by_room.get(where) or (names[where][0] if len(names.get(where, [])) == 1 else None)
        if room is None:
            from ..errors import UserError
            raise UserError(f"telemetry.aps.{ap_id}: no classroom {where!r} (write site/room)")
        aps[ap_id] = room
    listed = {r.id for r in aps.values()}
    for r in plan.rooms:
        if r.id not in listed:
            aps[f"{r.site}-{r.name}"] = r
    return {"topic": tel.topic, "fields": tel.fields.model_dump(),
            "aps": {k: {"site": r.site, "room": r.name, "max_clients": r.ap.max_clients, "port_bps": r.ap.port}
                    for k, r in aps.items()}}


def topic_filter(pattern: str) -> str:
    """``wifi/+/ap/{ap}/stats`` -> ``wifi/+/ap/+/stats`` (an MQTT subscription filter)."""
    return pattern.replace("{ap}", "+")


def _ap_from_topic(pattern: str, topic: str) -> str | None:
    levels, got = pattern.split("/"), topic.split("/")
    for i, lv in enumerate(levels):
        if lv == "{ap}":
            return got[i] if i < len(got) else None
    return None


def _get(doc, path: str):
    for part in path.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


def _share(v, percent: bool) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return math.nan
    return x / 100.0 if percent else x


def parse_message(mapping: dict, topic: str, doc: dict, t_s: float) -> list[tuple]:
    """Resource rows (``RESOURCE_COLUMNS`` order) of one AP message; [] for unknown APs or non-dicts."""
    if not isinstance(doc, dict):
        return []
    f = mapping["fields"]
    ap_id = _get(doc, f["ap"]) if f.get("ap") else _ap_from_topic(mapping["topic"], topic)
    info = mapping["aps"].get(str(ap_id)) if ap_id is not None else None
    if info is None:
        return []
    base = f"{KIND}:{info['site']}/{info['room']}"
    rows = []
    clients = _get(doc, f["clients"])
    if clients is not None:
        rows.append((t_s, f"{base}/clients", KIND, round(float(clients) / info["max_clients"], 6), 0.0))
    for i, radio in enumerate(_get(doc, f["radios"]) or []):
        if not isinstance(radio, dict):
            continue
        name = str(_get(radio, f["band"]) or f"radio{i}").replace("/", "_").replace(" ", "")
        util = _share(_get(radio, f["channel_utilisation"]), f["percent"])
        retry = _share(_get(radio, f["retry_rate"]), f["percent"])
        thr = _get(radio, f["throughput"])
        rows.append((t_s, f"{base}/{name}", KIND, round(util, 6), 0.0))
        rows.append((t_s, f"{base}/{name}/retry", KIND, round(retry, 6), 0.0))
        if thr is not None:
            rows.append((t_s, f"{base}/{name}/throughput", KIND, round(float(thr) / info["port_bps"], 6), 0.0))
    return rows


def _set(doc: dict, path: str, value) -> None:
    parts = path.split(".")
    for p in parts[:-1]:
        doc = doc.setdefault(p, {})
    doc[parts[-1]] = value


def replay_samples(run_dir, mapping: dict, seed: int = 0) -> list[tuple[float, str, dict]]:
    """(trace time, topic, message) for every AP sample of a model run, in time order."""
    from ..trace import read_resources, read_steps

    res, steps = read_resources(run_dir), read_steps(run_dir)
    rng = random.Random(seed)
    f = mapping["fields"]
    scale = 100.0 if f["percent"] else 1.0
    by_room = {(v["site"], v["room"]): k for k, v in mapping["aps"].items()}
    joined = {}
    for room_key in by_room:
        site, room = room_key
        m = (steps.site == site) & (steps.room == room) & steps.ok & (steps.kind != "teacher")
        first = {}
        for dev, step, end in zip(steps.device[m].tolist(), steps.step[m].tolist(), steps.end_s[m].tolist()):
            if step in ("join", "login"):
                first[dev] = min(first.get(dev, math.inf), end)
        joined[room_key] = np.sort(np.fromiter(first.values(), float)) if first else np.zeros(0)
    out = []
    for room_key, ap_id in by_room.items():
        site, room = room_key
        m = res.resource == f"ap:{site}/{room}"
        if not m.any():
            continue
        t, util = res.t_s[m], np.nan_to_num(res.utilisation[m])
        order = np.argsort(t)
        t, util = t[order], util[order]
        dt = float(np.median(np.diff(t))) if len(t) > 1 else 1.0
        sm = (steps.site == site) & (steps.room == room) & (steps.bytes > 0)
        s0, s1, b = steps.start_s[sm], steps.end_s[sm], steps.bytes[sm].astype(float)
        for ti, ui in zip(t.tolist(), util.tolist()):
            lo, hi = ti - dt, ti
            overlap = np.clip(np.minimum(s1, hi) - np.maximum(s0, lo), 0, None)
            dur = np.maximum(s1 - s0, 1e-6)
            thr = float((b * overlap / dur).sum() * 8 / dt)
            chan = min(1.0, BACKGROUND + ui * (1 - BACKGROUND) + rng.gauss(0, 0.01))
            retry = min(0.5, max(0.0, 0.03 + 0.22 * ui ** 2 + rng.gauss(0, 0.005)))
            clients = int(np.searchsorted(joined[room_key], ti, side="right"))
            doc: dict = {}
            if f.get("ap"):
                _set(doc, f["ap"], ap_id)
            _set(doc, f["clients"], clients)
            radio: dict = {}
            _set(radio, f["band"], "5GHz")
            _set(radio, f["channel_utilisation"], round(max(0.0, chan) * scale, 3))
            _set(radio, f["retry_rate"], round(retry * scale, 3))
            _set(radio, f["throughput"], round(thr))
            _set(doc, f["radios"], [radio])
            topic = "/".join(ap_id if lv == "{ap}" else (site if lv == "+" else ("stats" if lv == "#" else lv))
                             for lv in mapping["topic"].split("/"))
            out.append((ti, topic, doc))
    out.sort(key=lambda x: x[0])
    return out
