"""The plan's network as arrays the model can index: rooms, sites, both directions' trees, radio classes.

Sources: the Plan (``simulator.plan``: rooms, routes, links, each device's
link quality) and the trace's resource naming (``simulator.trace``). Each
device's radio comes from ``wifi.negotiate`` (the lower of device and AP,
IEEE 802.11) with its room's MCS/streams; its MAC timing and A-MPDU caps
from ``mac.MacTiming`` (lower of the two advertised limits, the AP's EDCA);
its airtime per delivered bit from ``mac.flow_cost``.

Tree levels, leaf to root (a flow has one node per level): the radio (shared
by both directions), then per level the down nodes followed by the up nodes
(``ap-port`` / ``ap-port-up``, ``switch`` / ``switch-up``, ``uplink-down`` /
``uplink-up``, ``core-down`` / ``core-up``, ``dc-down`` / ``dc-up``,
``content-egress`` / ``platform-ingress``). Buffers: the AP's transmit queue
(its ``mac.queue`` in packets) at the radio; 100 ms of each wired link's
capacity (inference: a common router buffer rule of thumb).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..plan import Plan
from .mac import DELIM, IP_TCP, ContentionTable, MacTiming, Segments, block_ack_time, contention, flow_cost, ppdu_time
from .wifi import negotiate

__all__ = ["Topology", "RadioClass", "build_topology", "MAX_N", "WIRED_BUFFER_S"]

MAX_N = 256  # rate table size (flows per radio)
WIRED_BUFFER_S = 0.1  # wired buffers: 100 ms of the link's capacity (inference)
_DEFAULT_MPDUS = {"a": 1, "g": 1, "n": 64, "ac": 64, "ax": 256}


@dataclass(frozen=True)
class RadioClass:
    """One kind of station link (negotiated radio + MAC + TCP segment sizes); devices share classes."""

    rate_bps: float  # PHY rate
    standard: str
    timing: MacTiming
    seg: Segments
    window0: float  # initial TCP window (bytes, one connection)
    min_rto: float
    dupthresh: int
    max_window: float = float("inf")  # socket buffer cap (bytes, one connection)
    beta: float = 0.7
    syn_timeout: float = 1.0


@dataclass
class Topology:
    room_ids: list[str]
    room_site: np.ndarray  # room index -> site index
    site_ids: list[str]
    room_fair: np.ndarray  # airtime fairness per room
    room_rtt: np.ndarray  # wired RTT per room
    capacities: list[np.ndarray]  # per level: node capacity (level 0: airtime = 1); down nodes then up nodes
    buffers: list[np.ndarray]  # per level: bytes queued before drops
    codel: list[np.ndarray]  # per level: CoDel target (s) of an fq_codel queue, 0 for a plain FIFO
    codel_interval: float
    offsets: list[int]  # per level: first resource index
    resources: list[tuple[str, str]]  # (name, kind) by resource index
    classes: list[RadioClass]
    device_class: np.ndarray  # device index -> class
    room_timing: list[MacTiming]  # the AP's contention parameters per room
    class_tc: np.ndarray  # [class] a full A-MPDU exchange (s): a collision with its data PPDU lasts this long
    class_tc_up: np.ndarray  # [class] an upload's exchange (s): the A-MPDU a window-bound upload sends (T_c2)
    room_tc: np.ndarray  # collision duration per room with one data PPDU: its fastest stations' exchange (s)
    room_mac: np.ndarray  # room -> index into ``contention_tables`` (rooms with the same AP share one)
    contention_tables: list[ContentionTable]
    lone_rate: np.ndarray  # [class] goodput of one downlink flow alone on the radio (bit/s)
    air_rtt: np.ndarray  # [class] Wi-Fi part of a round trip (one data and one ACK exchange with contention)
    bulk_air_rtt: np.ndarray  # [class] the same with a full A-MPDU: a bulk flow's window in flight
    small_air: np.ndarray  # [class, 2] airtime of a short exchange: (fixed s, s per byte)

    @property
    def n_resources(self) -> int:
        return len(self.resources)

    @property
    def n_rooms(self) -> int:
        return len(self.room_ids)

    def nodes(self, room: int, up: bool) -> tuple[int, ...]:
        """A flow's node per level (down or up tree)."""
        site = int(self.room_site[room])
        if not up:
            return (room, room, site, site, 0, 0, 0)
        nr, ns = self.n_rooms, len(self.site_ids)
        return (room, nr + room, ns + site, ns + site, 1, 1, 1)

    def collision_times(self, rooms: np.ndarray, cls: np.ndarray, up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per room, how long a collision lasts, from the active flows (their ``rooms``, radio ``cls``, ``up``).

        A collision lasts as long as its longest PPDU (Bianchi 2000: T_c with
        the largest payload, E[P*]). T_c2, two uploads colliding at the AP
        (equal power, neither survives): the mean of the longer of two of the
        room's uploaders' exchanges, Σ_i x_(i)(2i − 1)/n² over their
        sorted values (two independent draws), so one slow uploader lengthens
        every collision it is in, which costs every station of the room. An
        uploader's exchange is the A-MPDU it sends (``class_tc_up``: its window
        in ⌈W/cap⌉ A-MPDUs), not the caps' full one: the collided PPDU is
        the one on the air (Bianchi 2000's T_c of the payload sent).
        T_c1, one data PPDU against short TCP-ACK PPDUs: one full exchange at
        the fastest active rate, as before. There the data PPDU's receiver
        often captures it (preamble capture, per-MPDU FCS and BlockAck: only
        the MPDUs under the ACK PPDU are lost) — ns-3 retransmits ~4 % of the
        AP's MPDUs where Bianchi's N = 2 gives ~10 % collisions
        (validation/README.md) — so charging a slow receiver's whole PPDU
        would over-count; the mean exchange made the mixed-rate download at
        n = 10 8.5 % pessimistic in goodput against ns-3's 4.5 %. Not modelled
        further (geometry-dependent).
        """
        nr = self.n_rooms
        t = self.class_tc[cls]
        if len(t) == 0 or float(t.max()) == float(t.min()):  # one kind of exchange on the air: no mix
            tc1 = np.full(nr, float(t[0]) if len(t) else 0.0)
            if not up.any():
                return tc1, tc1
        else:
            n = np.bincount(rooms, minlength=nr)
            tc1 = np.full(nr, np.inf)
            np.minimum.at(tc1, rooms, t)
            tc1 = np.where(n > 0, tc1, float(t.min()))
        tc2 = tc1
        if up.any():
            ru, tu = rooms[up], self.class_tc_up[cls[up]]
            order = np.lexsort((tu, ru))
            ru, tu = ru[order], tu[order]
            nu = np.bincount(ru, minlength=nr)
            rank = np.arange(len(ru)) - (np.cumsum(nu) - nu)[ru] + 1.0
            e = np.bincount(ru, tu * (2.0 * rank - 1.0), minlength=nr) / np.maximum(1, nu) ** 2
            tc2 = np.where(nu > 0, e, tc1)
        return tc1, tc2

    def eff_rate(self, cls: int, n: int, room: int) -> float:
        """Total downlink goodput (bit/s) of n flows of class ``cls`` saturating the room's radio."""
        c = self.classes[cls]
        table = self.contention_tables[int(self.room_mac[room])]
        o, uu = table.lookup(np.array([min(max(n, 1), MAX_N)]), np.array([0]), float(self.class_tc[cls]))
        over, u = float(o[0]), float(uu[0])
        cost, _ = flow_cost(c.rate_bps, 1e9, c.timing, c.seg, over, u)
        return 1.0 / float(cost)


def _timing(radio, ap, dev) -> MacTiming:
    std = radio.standard
    e = ap.mac.edca
    mpdus = min(ap.mac.max_mpdus or _DEFAULT_MPDUS[std], dev.mac.max_mpdus or _DEFAULT_MPDUS[std],
                _DEFAULT_MPDUS[std] if std in ("a", "g") else 1024)
    return MacTiming(std, radio.streams, radio.guard_s, ap.radio.band, e.aifsn, e.cw_min, e.cw_max, e.txop,
                     min(ap.mac.max_ampdu, dev.mac.max_ampdu) if std not in ("a", "g") else 2304.0, mpdus,
                     min(ap.mac.max_ppdu, dev.mac.max_ppdu))


def _cap_mpdus(t: MacTiming, sub: float) -> float:
    """MPDUs of ``sub`` bytes in a full A-MPDU by the byte cap and MPDU count alone (no PPDU duration)."""
    return max(1.0, min(t.max_mpdus, t.max_ampdu_bytes // sub))


def _exchange(t: MacTiming, rate: float, sub: float, k: float) -> float:
    """An A-MPDU exchange (s): ``k`` MPDUs of ``sub`` bytes at ``rate`` (within the PPDU duration limit), SIFS,
    BlockAck."""
    return float(ppdu_time(min(k * sub, rate * (t.max_ppdu_s - t.preamble) / 8), rate, t)) + t.sifs + block_ack_time(t)


def _full_exchange(t: MacTiming, rate: float, sub: float) -> float:
    """A full A-MPDU exchange (s): the caps' worth of MPDUs at ``rate``, SIFS, BlockAck."""
    return _exchange(t, rate, sub, _cap_mpdus(t, sub))


def _upload_exchange(c: RadioClass) -> float:
    """A window-bound upload's exchange (s): its window W (the socket buffer cap) sent as ⌈W/cap⌉ A-MPDUs of
    K = W/⌈W/cap⌉ MPDUs (``mac.flow_cost(up=...)``; ns-3 ``ax80-upload-*``: ~31 MPDUs of a 90-segment window
    under a 42-MPDU byte cap), SIFS, BlockAck: how long its PPDU keeps a collision going (Bianchi 2000, T_c of
    the PPDU actually sent). Without a window cap, the caps' full exchange."""
    t, sub = c.timing, c.seg.data_subframe
    k = _cap_mpdus(t, sub)
    if math.isfinite(c.max_window) and t.aggregates:
        w = max(1.0, c.max_window / c.seg.mss)
        k = min(k, w / math.ceil(w / k - 1e-9))
    return _exchange(t, c.rate_bps, sub, k)


def _ack_exchange(t: MacTiming, rate: float, seg: Segments) -> float:
    """A station's TCP-ACK exchange (s): the ACKs of a full A-MPDU (one per delayed-ACK count) at ``rate``, SIFS,
    BlockAck — how long a collision of ACK PPDUs alone lasts (``mac.collision_terms``' T_c0)."""
    k = _cap_mpdus(t, seg.data_subframe)
    size = math.ceil(k / seg.delayed_ack) * seg.ack_subframe if t.aggregates else seg.ack_subframe - DELIM
    return float(ppdu_time(size, rate, t)) + t.sifs + block_ack_time(t)


def build_topology(plan: Plan) -> Topology:
    rooms = plan.rooms
    site_ids: list[str] = []
    site_index: dict[str, int] = {}
    for r in rooms:
        if r.site not in site_index:
            site_index[r.site] = len(site_ids)
            site_ids.append(r.site)
    nr, ns = len(rooms), len(site_ids)
    room_site = np.array([site_index[r.site] for r in rooms], np.int64)
    link = plan.links
    content = plan.services["content"].profile.bandwidth or 1e15

    def pair(down: list[float], up: list[float]) -> np.ndarray:
        return np.array(list(down) + list(up), float)

    caps = [
        np.ones(nr),
        pair([link[f"ap-port:{r.id}"].capacity_bps for r in rooms], [link[f"ap-port:{r.id}"].capacity_bps for r in rooms]),
        pair([link[f"switch:{s}"].capacity_bps for s in site_ids], [link[f"switch:{s}"].capacity_bps for s in site_ids]),
        pair([link[f"uplink-down:{s}"].capacity_bps for s in site_ids],
             [link[f"uplink-up:{s}"].capacity_bps for s in site_ids]),
        pair([link["core-down"].capacity_bps], [link["core-up"].capacity_bps]),
        pair([link["dc-down"].capacity_bps], [link["dc-up"].capacity_bps]),
        pair([content], [1e15]),
    ]
    names = [
        [(f"ap:{r.id}", "ap") for r in rooms],
        [(f"ap-port:{r.id}", "link") for r in rooms] + [(f"ap-port-up:{r.id}", "link") for r in rooms],
        [(f"switch:{s}", "link") for s in site_ids] + [(f"switch-up:{s}", "link") for s in site_ids],
        [(f"uplink-down:{s}", "link") for s in site_ids] + [(f"uplink-up:{s}", "link") for s in site_ids],
        [("core-down", "link"), ("core-up", "link")], [("dc-down", "link"), ("dc-up", "link")],
        [("content-egress", "link"), ("platform-ingress", "link")],
    ]
    resources: list[tuple[str, str]] = []
    offsets = []
    for lv in names:
        offsets.append(len(resources))
        resources.extend(lv)
    buffers = [np.array([r.ap.mac.queue * (1448.0 + IP_TCP) for r in rooms], float)]
    buffers += [np.maximum(65536.0, c * WIRED_BUFFER_S / 8.0) for c in caps[1:]]
    codel = [np.array([r.ap.mac.codel_target if r.ap.mac.aqm == "fq_codel" else 0.0 for r in rooms])]
    codel += [np.zeros(len(c)) for c in caps[1:]]
    codel_interval = rooms[0].ap.mac.codel_interval if rooms else 0.1

    classes: list[RadioClass] = []
    cls_index: dict[RadioClass, int] = {}
    device_class = np.zeros(len(plan.devices), np.int64)
    room_index = {r.id: i for i, r in enumerate(rooms)}
    negotiated = {}
    for di, d in enumerate(plan.devices):
        prof = plan.device_profiles[d.kind]
        ap = d.room.ap
        key = (d.kind, ap.name, d.mcs, d.streams)
        c = negotiated.get(key)
        if c is None:
            lr = negotiate(prof.wifi, ap.radio)
            if d.mcs >= 0 or d.streams >= 0:
                lr = replace(lr, mcs=min(lr.mcs, d.mcs) if d.mcs >= 0 else lr.mcs,
                             streams=min(lr.streams, d.streams) if d.streams >= 0 else lr.streams)
            tcp = prof.tcp
            c = RadioClass(lr.rate_bps, lr.standard, _timing(lr, ap, prof), Segments(tcp.mss, tcp.delayed_ack),
                           tcp.initial_window * tcp.mss, tcp.min_rto, tcp.dupthresh,
                           tcp.buffer if tcp.buffer is not None else float("inf"), tcp.beta, tcp.syn_timeout)
            negotiated[key] = c
        if c not in cls_index:
            cls_index[c] = len(classes)
            classes.append(c)
        device_class[di] = cls_index[c]

    # per room: the AP's contention parameters; a collision lasts as long as the longest PPDU in it (Bianchi 2000,
    # T_c with the largest payload E[P*]): full A-MPDU exchanges of the stations whose data it carries
    # (``Topology.collision_times``, from who is on the air)
    nc = len(classes)
    class_tc = np.array([_full_exchange(c.timing, c.rate_bps, c.seg.data_subframe) for c in classes])
    class_tc_up = np.array([_upload_exchange(c) for c in classes])
    dev_room = np.array([room_index[d.room.id] for d in plan.devices], np.int64)
    first_cls: dict[int, int] = {}
    for ri, ci in zip(dev_room.tolist(), device_class.tolist()):
        first_cls.setdefault(ri, ci)
    counts = np.bincount(dev_room * nc + device_class, minlength=nr * nc).reshape(nr, nc) if nc else None
    class_tc0 = np.array([_ack_exchange(c.timing, c.rate_bps, c.seg) for c in classes])
    room_timing, room_tc, room_tc0 = [], np.zeros(nr), np.zeros(nr)
    for ri, r in enumerate(rooms):
        ci = first_cls.get(ri)
        if ci is None:
            lr = negotiate(r.ap.radio, r.ap.radio)
            t = MacTiming(lr.standard, lr.streams, lr.guard_s, r.ap.radio.band)
            room_tc[ri] = _full_exchange(t, lr.rate_bps, Segments().data_subframe)
            room_tc0[ri] = _ack_exchange(t, lr.rate_bps, Segments())
        else:
            t = classes[ci].timing
            room_tc[ri] = float(class_tc[counts[ri] > 0].min())  # its fastest stations' (collision_times)
            room_tc0[ri] = float(class_tc0[counts[ri] > 0].min())
        room_timing.append(t)

    tables: dict[MacTiming, int] = {}
    room_mac = np.zeros(nr, np.int64)
    for ri in range(nr):
        room_mac[ri] = tables.setdefault(room_timing[ri], len(tables))
    first_room = {ti: ri for ri, ti in reversed(list(enumerate(room_mac.tolist())))}
    contention_tables = [ContentionTable(t, float(room_tc[first_room[ti]]), t_ack=float(room_tc0[first_room[ti]]))
                         for t, ti in tables.items()]
    nc = len(classes)
    lone, air, bulk_air, small = np.zeros(nc), np.zeros(nc), np.zeros(nc), np.zeros((nc, 2))
    for ci, c in enumerate(classes):
        tm = c.timing
        over, u = contention(1, 0, tm.aifs, tm)  # a lone exchange: AIFS + backoff, no collision
        cost, k = flow_cost(c.rate_bps, 1e9, tm, c.seg, over, u)
        lone[ci] = 1.0 / float(cost)
        # a round trip's Wi-Fi part: a data exchange (an initial window's A-MPDU for a short exchange, a full
        # one for a bulk flow's window) and its TCP ACK exchange, with contention
        cost_iw, k_iw = flow_cost(c.rate_bps, c.window0 / c.seg.mss, tm, c.seg, over, 1.0)
        air[ci] = float(cost_iw) * float(k_iw) * c.seg.mss * 8.0
        cost_full, k_full = flow_cost(c.rate_bps, 1e9, tm, c.seg, over, 1.0)
        bulk_air[ci] = float(cost_full) * float(k_full) * c.seg.mss * 8.0
        exch = tm.preamble + tm.sifs + block_ack_time(tm) + over
        small[ci] = (2 * exch, 8.0 * (c.seg.data_subframe / c.seg.mss) / c.rate_bps)
    return Topology(
        room_ids=[r.id for r in rooms], room_site=room_site, site_ids=site_ids,
        room_fair=np.array([r.ap.airtime_fairness for r in rooms]),
        room_rtt=np.array([r.route.rtt_s for r in rooms]),
        capacities=caps, buffers=buffers, codel=codel, codel_interval=codel_interval, offsets=offsets, resources=resources,
        classes=classes, device_class=device_class, class_tc=class_tc, class_tc_up=class_tc_up, room_timing=room_timing, room_tc=room_tc,
        room_mac=room_mac,
        contention_tables=contention_tables,
        lone_rate=lone, air_rtt=air, bulk_air_rtt=bulk_air, small_air=small,
    )
