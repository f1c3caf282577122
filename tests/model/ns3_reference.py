"""The ns-3 reference cases (``validation/tables/*.json``) as examday scenarios, and the model's figures for them.

Each table's ``config`` becomes a bare transfer scenario (``exam.transfer``):
one AP with the table's radio, A-MPDU and BlockAck limits; one device profile
per distinct (streams, MCS) pair; the stations' start offsets of each ns-3
seed as an explicit arrival list; the TCP parameters ns-3 read back. Where
the servers run on the AP in ns-3 the wired path is made negligible (100
Gbit/s, 1 µs); a wired server behind the AP (``config.server_link``) becomes
the site uplink (its rate, RTT twice its delay). The model is run once per ns-3 seed (its start offsets) and
its figures are averaged over seeds as the table's summary is.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulator.model import simulate
from simulator.plan import load_plan
from simulator.trace import read_steps

ROOT = Path(__file__).resolve().parents[2]
TABLES = ROOT / "validation" / "tables"
HOLDOUT = TABLES / "holdout"  # held-out cases (validation/README.md "Held-out cases"), same format

__all__ = ["TABLES", "HOLDOUT", "tables", "ModelFigures", "model_figures", "SeedRun", "seed_run", "scenario_for", "station_index"]


def tables(folder: Path = TABLES) -> list[dict]:
    """Every committed case table of ``folder`` (from its ``index.json``), sorted by case id."""
    index = folder / "index.json"
    if not index.exists():
        return []
    cases = json.loads(index.read_text())["cases"]
    return sorted((json.loads((folder / c["file"]).read_text()) for c in cases), key=lambda t: t["case"])


def _per_station(v, n: int) -> list:
    return list(v) if isinstance(v, list) else [v] * n


def _queue_packets(cfg: dict) -> int:
    m = re.search(r"MaxSize\s+(\d+)p", cfg.get("queues", {}).get("wifi_mac_queue", ""))
    return int(m.group(1)) if m else 500


def _edca(cfg: dict) -> str:
    """The AP's channel access as ns-3 read it back (``config.edca``): AC_BE's, or the DCF's without QoS."""
    m = re.search(r"AIFSN (\d+), CWmin (\d+), CWmax (\d+)", cfg.get("edca", ""))
    return f", edca: {{aifsn: {m[1]}, cw_min: {m[2]}, cw_max: {m[3]}}}" if m else ""


def _station_kinds(cfg: dict) -> tuple[dict[tuple[int, int], str], list[tuple[str, int]]]:
    """The device kind of each (streams, MCS) pair, and (kind, ns-3 station index) in the room's device order."""
    n = cfg["stations"]
    streams = _per_station(cfg["station_streams"], n)
    mcs = _per_station(cfg["mcs"], n)
    if cfg["standard"] == "n":  # HT MCS index carries the streams: 0-7 one stream, 8-15 two ...
        streams, mcs = [1 + m // 8 for m in mcs], [m % 8 for m in mcs]
    kinds: dict[tuple[int, int], str] = {}
    for s, m in zip(streams, mcs):
        kinds.setdefault((s, m), f"sta-{s}ss-mcs{m}")
    order = [(kind, i) for key, kind in kinds.items() for i, k in enumerate(zip(streams, mcs)) if k == key]
    return kinds, order


def station_index(cfg: dict) -> dict[str, int]:
    """The ns-3 station index of each model device (``<site>/<room>/<kind>-<j>``: the j-th device of its kind)."""
    _, order = _station_kinds(cfg)
    seen: dict[str, int] = {}
    names = {}
    for kind, i in order:
        seen[kind] = seen.get(kind, 0) + 1
        names[f"lab/room/{kind}-{seen[kind]}"] = i
    return names


def scenario_for(table: dict, seed_row: dict, folder: Path) -> Path:
    """Write profiles and one scenario reproducing ``table`` with ``seed_row``'s start offsets; its path."""
    cfg = table["config"]
    std, band, width = cfg["standard"], cfg["band"], cfg["width_mhz"]
    gi = f"{cfg['gi_ns'] / 1000:g} us"
    tcp = cfg["tcp"]
    prof = folder / "profiles"
    if not prof.exists():
        shutil.copytree(ROOT / "profiles", prof)
    aqm = "fq_codel" if "FqCoDel" in cfg.get("queues", {}).get("ap_queue_disc", "FqCoDel") else "droptail"
    mac = (f"mac: {{max_ampdu: {cfg['ampdu_max_bytes']} B, max_mpdus: {cfg['ba_buffer_mpdus'] or 1}, "
           f"queue: {_queue_packets(cfg)}, aqm: {aqm}{_edca(cfg)}}}")
    top = {"ax": 11, "ac": 9, "n": 7, "g": 7}[std]
    (prof / "aps" / "ns3-ap.yaml").write_text(
        f"name: ns3-ap\nradio: {{standard: {std}, streams: {cfg['ap_streams']}, max_mcs: {top}, width: {width} MHz, "
        f"band: {band}, gi: {gi}}}\nmax_clients: 256\nairtime_fairness: false\nport: 100 Gbit/s\n{mac}\n")
    kinds, order = _station_kinds(cfg)
    for key, kind in kinds.items():
        (prof / "devices" / f"{kind}.yaml").write_text(
            f"name: {kind}\nwifi: {{standard: {std}, streams: {key[0]}, max_mcs: {key[1]}, width: {width} MHz, "
            f"band: {band}, gi: {gi}}}\n{mac}\n"
            f"tcp: {{mss: {tcp['mss_bytes']} B, initial_window: {tcp['initial_window']}, "
            f"delayed_ack: {tcp['delayed_ack']}, min_rto: {tcp['min_rto_s']} s, "
            f"buffer: {min(tcp.get('snd_buf_bytes', 10**9), tcp.get('rcv_buf_bytes', 10**9))} B, "
            f"syn_timeout: {tcp.get('conn_timeout_s', 1.0)} s}}\n")
    counts = {kind: sum(1 for k, _ in order if k == kind) for kind in kinds.values()}
    offsets = [seed_row["start_offset_s"][i] for _, i in order]
    down, up = cfg["download_bytes"], cfg["upload_bytes"]
    link = cfg.get("server_link")  # a wired server behind the AP: the site uplink is that link
    uplink = (f"{{down: {link['rate_bps']:g} bit/s, up: {link['rate_bps']:g} bit/s, rtt: {2e3 * link['delay_s']:g} ms}}"
              if link else "{down: 100 Gbit/s, up: 100 Gbit/s, rtt: 0.001 ms}")
    devices = ", ".join(f"{k}: {c}" for k, c in counts.items())
    text = f"""\
name: {table['case']}-s{seed_row['seed']}
seed: {seed_row['seed']}
profiles: {prof}
exam:
  test: smoke-test
  start: "09:00"
  end: "09:{max(2, int(cfg['sim_cap_s'] // 60) + 2):02d}"
  arrival: {{distribution: list, offsets: [{', '.join(f'{o!r} s' for o in offsets)}]}}
  transfer: {{download: {down} B, upload: {up} B}}
core: {{down: 100 Gbit/s, up: 100 Gbit/s, rtt: 0.001 ms}}
datacentre: {{down: 100 Gbit/s, up: 100 Gbit/s, rtt: 0.001 ms}}
services:
  idp: {{profile: idp-broker}}
  platform: {{profile: dnp-platform}}
  content: {{profile: dnp-content}}
  provisioning: {{profile: egil-provisioning}}
  dhcp: {{profile: city-dhcp}}
sites:
  - name: lab
    uplink: {uplink}
    switch: 100 Gbit/s
    classrooms:
      - {{name: room, ap: ns3-ap, teacher: null, devices: {{{devices}}}}}
"""
    path = folder / f"{table['case']}-s{seed_row['seed']}.yaml"
    path.write_text(text)
    return path


@dataclass(frozen=True)
class ModelFigures:
    p50_s: float
    p95_s: float
    max_s: float
    goodput_mbps: float
    wall_s: float  # model wall time per seed (simulate only)
    unfinished: int  # stations without a completed transfer, over all seeds


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, float), q))


@dataclass(frozen=True)
class SeedRun:
    """One ns-3 seed's case through the model: per-station completion times and aggregate goodput."""

    completions_s: list[float]  # per station that finished: its last transfer end − its first start
    goodput_mbps: float  # all bytes over first start → last end
    wall_s: float  # model wall time (simulate only)
    ends_s: dict[int, float]  # ns-3 station index → its last transfer end (s after the flows' start)


def seed_run(table: dict, row: dict, folder: Path) -> SeedRun:
    """The model on one seed row of ``table`` (that seed's start offsets), run in ``folder``."""
    path = scenario_for(table, row, folder)
    out = folder / f"run-{row['seed']}"
    res = simulate(load_plan(str(path)), out)
    steps = read_steps(out)
    done: dict[str, float] = {}
    first: dict[str, float] = {}
    nbytes = 0.0
    for dev, step, start, end, b in zip(steps.device, steps.step, steps.start_s, steps.end_s, steps.bytes):
        if step in ("download", "upload"):
            done[dev] = max(done.get(dev, -math.inf), end)
            first[dev] = start
            nbytes += b
    span = max(done.values()) - min(first.values())
    index = station_index(table["config"])
    return SeedRun([done[d] - first[d] for d in done], nbytes * 8 / 1e6 / span, res.wall_s,
                   {index[d]: e for d, e in done.items()})


def model_figures(table: dict, folder: Path, seeds: int | None = None) -> ModelFigures:
    """The model over the table's seeds (their start offsets), figures averaged as the table's summary."""
    p50, p95, mx, gp, walls = [], [], [], [], []
    unfinished = 0
    for row in table["per_seed"][:seeds]:
        run = seed_run(table, row, folder)
        comp = run.completions_s
        walls.append(run.wall_s)
        unfinished += table["config"]["stations"] - len(comp)
        p50.append(_percentile(comp, 50))
        p95.append(_percentile(comp, 95))
        mx.append(max(comp))
        gp.append(run.goodput_mbps)
    return ModelFigures(float(np.mean(p50)), float(np.mean(p95)), float(np.mean(mx)), float(np.mean(gp)),
                        float(np.mean(walls)), unfinished)
