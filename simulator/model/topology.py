"""The plan's network as arrays the model can index: rooms, sites, the bulk-flow tree, resource names.

Sources: the Plan (``simulator.plan``: rooms, routes, links) and the trace's
resource naming (``simulator.trace``). Wi-Fi link capabilities come from
``wifi.negotiate`` (lower of device and AP, IEEE 802.11); MAC efficiency per
number of contending stations from Bianchi (2000) with A-MPDU aggregation
(ns-3 ``bianchi11ax.py``), tabulated once per (PHY rate, standard), times
the TCP goodput share (``TCP_GOODPUT``: headers and the stations' TCP ACKs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..plan import Plan
from .wifi import efficiency_table, negotiate

__all__ = ["Topology", "build_topology", "MAX_N"]

MAX_N = 256  # efficiency table size (contending stations)
#: TCP goodput per MAC payload byte: 1460 B of MSS in each 1500 B IP packet, and ~3 % of airtime for the
#: stations' TCP ACKs (one uplink TXOP with a BlockAck per downlink A-MPDU; inference from the timings)
TCP_GOODPUT = 1460 / 1500 * 0.97

#: bulk (download) tree levels, leaf to root
LEVELS = ("ap", "ap-port", "switch", "uplink-down", "core-down", "dc-down", "content-egress")


@dataclass
class Topology:
    room_ids: list[str]
    room_site: np.ndarray  # room index -> site index
    site_ids: list[str]
    room_fair: np.ndarray  # airtime fairness per room
    room_rtt: np.ndarray  # wired RTT per room
    capacities: list[np.ndarray]  # per level: node capacity (level 0: airtime = 1)
    offsets: list[int]  # per level: first resource index
    up_offsets: dict[str, int]  # "uplink-up" (per site), "core-up", "dc-up"
    up_caps: dict[str, np.ndarray]
    resources: list[tuple[str, str]]  # (name, kind) by resource index
    phy_classes: list[tuple[float, str]]  # distinct (PHY rate, standard)
    eff: np.ndarray  # [class, n] MAC efficiency (throughput / PHY) with n contenders
    kind_class: dict[tuple[str, int], int]  # (device kind, room index) -> phy class

    @property
    def n_resources(self) -> int:
        return len(self.resources)

    def station_rate(self, cls: int, n: int) -> float:
        """Effective MAC rate (bit/s) of one station of class ``cls`` with n contenders."""
        return self.phy_classes[cls][0] * float(self.eff[cls, min(max(n, 1), MAX_N - 1)])


def build_topology(plan: Plan) -> Topology:
    rooms = plan.rooms
    site_ids: list[str] = []
    site_index: dict[str, int] = {}
    for r in rooms:
        if r.site not in site_index:
            site_index[r.site] = len(site_ids)
            site_ids.append(r.site)
    nr = len(rooms)
    room_site = np.array([site_index[r.site] for r in rooms], np.int64)
    link = plan.links
    content = plan.services["content"].profile.bandwidth or 1e12
    caps = [
        np.ones(nr),
        np.array([link[f"ap-port:{r.id}"].capacity_bps for r in rooms]),
        np.array([link[f"switch:{s}"].capacity_bps for s in site_ids]),
        np.array([link[f"uplink-down:{s}"].capacity_bps for s in site_ids]),
        np.array([link["core-down"].capacity_bps]),
        np.array([link["dc-down"].capacity_bps]),
        np.array([content]),
    ]
    resources: list[tuple[str, str]] = []
    offsets = []
    names = [
        [(f"ap:{r.id}", "ap") for r in rooms],
        [(f"ap-port:{r.id}", "link") for r in rooms],
        [(f"switch:{s}", "link") for s in site_ids],
        [(f"uplink-down:{s}", "link") for s in site_ids],
        [("core-down", "link")], [("dc-down", "link")], [("content-egress", "link")],
    ]
    for lv in names:
        offsets.append(len(resources))
        resources.extend(lv)
    up_offsets = {"uplink-up": len(resources)}
    resources.extend((f"uplink-up:{s}", "link") for s in site_ids)
    up_offsets["core-up"] = len(resources)
    resources.append(("core-up", "link"))
    up_offsets["dc-up"] = len(resources)
    resources.append(("dc-up", "link"))
    up_caps = {"uplink-up": np.array([link[f"uplink-up:{s}"].capacity_bps for s in site_ids]),
               "core-up": np.array([link["core-up"].capacity_bps]), "dc-up": np.array([link["dc-up"].capacity_bps])}

    classes: list[tuple[float, str]] = []
    cls_index: dict[tuple[float, str], int] = {}
    kind_class: dict[tuple[str, int], int] = {}
    kinds = {d.kind for d in plan.devices}
    radios = {}
    for ri, r in enumerate(rooms):
        for k in kinds:
            key = (k, r.ap.name)
            if key not in radios:
                lr = negotiate(plan.device_profiles[k].wifi, r.ap.radio)
                radios[key] = (lr.rate_bps, lr.standard)
            c = radios[key]
            if c not in cls_index:
                cls_index[c] = len(classes)
                classes.append(c)
            kind_class[(k, ri)] = cls_index[c]
    eff = np.zeros((len(classes), MAX_N))
    for ci, (rate, std) in enumerate(classes):
        eff[ci] = efficiency_table(rate, std, MAX_N) * TCP_GOODPUT
    return Topology(
        room_ids=[r.id for r in rooms], room_site=room_site, site_ids=site_ids,
        room_fair=np.array([r.ap.airtime_fairness for r in rooms]),
        room_rtt=np.array([r.route.rtt_s for r in rooms]),
        capacities=caps, offsets=offsets, up_offsets=up_offsets, up_caps=up_caps, resources=resources,
        phy_classes=classes, eff=eff, kind_class=kind_class,
    )
