"""The model engine: a discrete-event simulation of every device's exam start, written as a trace.

Sources (each effect is cited in its own module):

- Wi-Fi airtime, Bianchi (2000) DCF with A-MPDU aggregation (ns-3
  ``wifi-bianchi``/``bianchi11ax.py``), airtime fairness vs the performance
  anomaly (Heusse 2003; Høiland-Jørgensen et al., USENIX ATC 2017): ``wifi.py``.
- TCP at flow level: max-min fair shares, slow start with IW = 10 (RFC 6928): ``flows.py``.
- Servers as multi-server queues (Erlang C validation): ``services.py``.
- DHCP client timers (RFC 2131 §4.1: initial wait, 4 s retransmit doubling
  to 64 s, randomised by ±1 s) in ``procs.py``.

The event loop is a binary heap (``heapq``) of (time, sequence, kind, item);
each device is a generator (``procs.device_proc``) that yields the absolute
time it next needs, or a typed command (``commands``: ``Bulk`` flow,
``Serve`` processor-sharing job, ``AwaitSession``), dispatched with ``match``.
Before every allocation the radios' airtime costs are refreshed from who is
sending (``mac.contention``/``mac.flow_cost``: the AP for downlink flows,
stations for TCP ACKs and uploads). Everything random comes from ``numpy.random.default_rng``
streams derived from the plan's seed, so a seed gives an identical trace.
"""

from __future__ import annotations

import gc
import heapq
import math
import operator
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..plan import Plan
from ..trace import TraceWriter
from .commands import AwaitSession, Bulk, Serve
from .flows import MSS, FluidNetwork, TcpFlow, waterfill_rates
from .mac import DELAYED_ACK, IP_TCP, flow_cost, repeat_probability
from .procs import DeviceState, device_proc, transfer_proc
from .sampling import write_samples
from .services import ServiceTimes, Station
from .topology import MAX_N, Topology, build_topology

__all__ = ["simulate", "ModelResult", "ModelOptions", "Simulation"]

_RESUME, _NET, _PS, _TICK, _SESSION_TIMEOUT = 0, 1, 2, 3, 4
AIR_TAU_S = 1.0  # time constant of the short exchanges' airtime estimate per AP


@dataclass(frozen=True, slots=True)
class OnAir:
    """Per active flow (as ``idx``) and per room, what the airtime costs take from the set of active flows."""

    key: tuple  # (FluidNetwork.generation, idx bytes): the flow set it was computed for
    rooms: np.ndarray  # per flow: its room (AP radio)
    up: np.ndarray  # per flow: an upload
    cls: np.ndarray  # per flow: its station's radio class
    fair: np.ndarray  # per flow: its AP shares airtime fairly (per-station queues)
    all_fair: bool
    over: np.ndarray  # per flow: its room's contention overhead per successful exchange (s)
    u: np.ndarray  # per flow: its room's uplink ACK exchanges per downlink A-MPDU
    both: np.ndarray | None  # per flow: its station also sends the other way (_both_ways)
    present: list[int]  # the radio classes among the flows
    by_class: list[tuple]  # per class present (several): (class, mask, over, u, up, both) of its flows
    busy_rooms: np.ndarray  # the rooms with a flow (their airtime left is all the allocation reads)
    pick: Callable  # their entries of a per-room list, as a tuple (``operator.itemgetter``)


@dataclass(frozen=True, slots=True)
class ModelOptions:
    sample_interval_s: float | None = None  # None: adaptive (≥ 1 s, ~max_resource_rows rows)
    max_resource_rows: int = 300_000  # budget for the first 30 min at the fine interval (+1/4 for the tail)
    autosave_detail: int = 4  # autosaves per device modelled one by one (rest in aggregate); 0 = all
    gap_per_flow_s: float = 2e-4  # recompute batching window per flow sharing the site (F flows: F·2e-4 s)
    max_gap_s: float = 2.0
    global_recompute: bool = False  # recompute the whole city at once (no per-site clocks): for comparison


@dataclass(frozen=True, slots=True)
class ModelResult:
    run_dir: Path
    devices: int
    step_rows: int
    resource_rows: int
    events: int
    flow_recomputes: int
    sim_start_s: float
    sim_end_s: float
    wall_s: float
    sample_interval_s: float
    autosave_detail: int

    @property
    def events_per_s(self) -> float:
        return self.events / self.wall_s if self.wall_s > 0 else math.inf


def _by_class(present: list[int], cls: np.ndarray, over, u, up, both) -> list[tuple]:
    """Per radio class present: (class, positions, over, u, up, both) of its flows (``OnAir.by_class``)."""
    out = []
    for c in present:
        m = (cls == c).nonzero()[0]
        out.append((c, m, over[m], u[m], up[m], None if both is None else both[m]))
    return out


def _class_costs(topo: Topology, present: list[int], segs, over, u, up, both, by_class: list[tuple], repeat=None,
                 window=None):
    """Airtime cost and A-MPDU size per flow (``mac.flow_cost``), one call per radio class.

    ``repeat``: per flow, q of ``mac.window_ampdu`` (``mac.repeat_probability``); ``window``: per flow, its
    TCP window in segments where ``segs`` is its share of a shared FIFO (default ``segs``).
    """
    if len(present) == 1:  # one radio class (a classroom, a city of one device kind): no masks
        rc = topo.classes[present[0]]
        return flow_cost(rc.rate_bps, segs, rc.timing, rc.seg, over, u, up=up, piggyback=both, repeat=repeat,
                         window=window)
    cost, k = np.empty(len(segs)), np.empty(len(segs))
    for c, m, over_m, u_m, up_m, both_m in by_class:
        rc = topo.classes[c]
        cost[m], k[m] = flow_cost(rc.rate_bps, segs[m], rc.timing, rc.seg, over_m, u_m, up=up_m, piggyback=both_m,
                                  repeat=None if repeat is None else repeat[m], window=None if window is None else window[m])
    return cost, k


@dataclass
class Simulation:
    """All mutable state of one run (the device processes reach it through ``sim``)."""

    plan: Plan
    topo: Topology
    writer: TraceWriter
    options: ModelOptions
    run_id: str
    horizon: float
    t_lo: float
    to_the_end: bool = True
    stations: dict[str, Station] = field(default_factory=dict)
    ops: dict[str, dict[str, float]] = field(default_factory=dict)
    now: float = 0.0
    events: int = 0
    heap: list = field(default_factory=list)
    seq: int = 0

    def __post_init__(self) -> None:
        plan, topo = self.plan, self.topo
        ss = np.random.SeedSequence(plan.seed)
        streams = ss.spawn(8)
        self.rng_dev = np.random.default_rng(streams[0])
        self.rng_jitter = _Uniforms(np.random.default_rng(streams[1]))
        self.dev_uniform = self.rng_dev.random(len(plan.devices)).tolist()  # Python floats: cheaper hot path
        for k, (role, sp) in enumerate(sorted(plan.services.items())):
            prof = sp.profile
            self.stations[role] = Station(f"service:{role}", sp.workers, prof.discipline, sp.max_connections,
                                          ServiceTimes(np.random.default_rng(streams[2 + k % 6]), prof.service_cv))
            self.ops[role] = dict(prof.operations)
        span = self.horizon - self.t_lo
        fine_span = min(span, 1800.0)  # the exam start gets the fine interval; the quiet tail is coarsened
        dt = self.options.sample_interval_s or _nice(topo.n_resources * fine_span / self.options.max_resource_rows)
        self.dt = dt
        self.n_bins = int(math.ceil(span / dt)) + 1
        self.net = FluidNetwork(topo.capacities, topo.offsets, topo.n_resources, dt, self.n_bins,
                                self.options.gap_per_flow_s, self.options.max_gap_s, t_lo=self.t_lo,
                                buffers=topo.buffers, seed=plan.seed, codel=topo.codel,
                                codel_interval=topo.codel_interval, n_sites=len(topo.site_ids), site_level=2)
        self.net.shared_fifo = ~topo.room_fair  # airtime fairness comes with per-station queues
        self.net_version = 0
        self.net_due = math.inf
        self.net_global = self.options.global_recompute or len(topo.site_ids) <= 1
        self.site_due = np.full(len(topo.site_ids), math.inf)
        self.site_ver = np.zeros(len(topo.site_ids), np.int64)
        nr, ns = topo.n_rooms, len(topo.site_ids)
        self.ap_bulk = [0] * nr  # active bulk flows per AP / per site and direction (plain lists: hot path)
        self.site_bulk = [0] * ns
        self.site_up = [0] * ns
        self.total_bulk = 0
        self.total_up = 0
        self.uplink_caps = topo.capacities[3][:ns].tolist()
        self.uplink_up_caps = topo.capacities[3][ns:].tolist()
        self.up_base = topo.capacities[3][ns:].copy()
        self.core_cap = float(min(topo.capacities[4][0], topo.capacities[5][0], topo.capacities[6][0]))
        self.core_up_cap = float(min(topo.capacities[4][1], topo.capacities[5][1]))
        self._rates: dict[tuple[int, int], list[float]] = {}
        self._routes: dict[tuple, tuple] = {}  # _bulk_route's results
        self._room_mac = topo.room_mac.tolist()  # plain lists for the per-exchange hot path
        self._small_air = [tuple(row) for row in topo.small_air.tolist()]
        self.rows: list[str] = []
        # short exchanges' airtime per second per room, decaying (AIR_TAU_S); plain lists: per-exchange hot path
        self.air_v = [0.0] * len(topo.room_ids)
        self.air_t = [float(self.t_lo)] * len(topo.room_ids)
        self.room_open: list[float | None] = [None] * len(topo.room_ids)
        self.room_waiters: list[list] = [[] for _ in topo.room_ids]
        self.small: list[tuple[float, int, int, float, float]] = []  # (t, room, class, up B, down B)
        self.autosave_hist = np.zeros(int(span) + 2)
        self.autosave_bytes = np.zeros((self.n_bins + 1, len(topo.room_ids)))
        self.dhcp_site: list[int] = []
        self.agg_up: np.ndarray | None = None
        # aggregated autosaves of devices that reached the test: (times, room, site, bytes, bit/s per bin),
        # added to the three tables above by flush_autosaves before any of them is read
        self.autosaves_ahead: list[tuple[np.ndarray, int, int, float, float]] = []
        self._agg_version = 0  # flush_autosaves calls that added any: with the bin, names the uplink capacities
        self._up_set: tuple[int, int] | None = None  # (bin, _agg_version) the site uplinks' up capacities were set for
        self._air: OnAir | None = None  # the radios' contention for the last set of active flows (_on_air)
        self.ps_due: dict[str, float] = {}

    # ------------------------------------------------------------ radio figures
    def rate_table(self, cls: int, room: int) -> list[float]:
        """The cache ``radio_rate`` fills for class ``cls`` on the room's kind of AP (0.0: not computed yet)."""
        key = (cls, self._room_mac[room])
        table = self._rates.get(key)
        if table is None:
            table = self._rates[key] = [0.0] * MAX_N
        return table

    def radio_rate(self, cls: int, n: int, room: int) -> float:
        """Total downlink goodput of n flows of class ``cls`` on the room's radio (cached per AP kind)."""
        table = self.rate_table(cls, room)
        n = n if n < MAX_N else MAX_N - 1
        v = table[n]
        if v == 0.0:
            v = table[n] = self.topo.eff_rate(cls, n, room)
        return v

    def short_exchange(self, t: float, room: int, cls: int, up_bytes: float, down_bytes: float) -> None:
        """Record a short request/response sent at t (``small``) and take its airtime from the room's radio
        (two PPDU exchanges with contention: a fixed part and a part per byte)."""
        self.small.append((t, room, cls, up_bytes, down_bytes))
        fixed, per_byte = self._small_air[cls]
        seconds = fixed + per_byte * (up_bytes + down_bytes)
        # its airtime per second per room, decaying (AIR_TAU_S): Python floats, cheap to turn into an array
        air_v, air_t = self.air_v, self.air_t
        dt = t - air_t[room]
        if dt > 0:
            air_v[room] = float(air_v[room] * math.exp(-dt / AIR_TAU_S) + seconds / AIR_TAU_S)
            air_t[room] = float(t)
        else:
            air_v[room] = float(air_v[room] + seconds / AIR_TAU_S)

    def rtt(self, st: DeviceState) -> float:
        """Base round trip of a device: the wired route plus one Wi-Fi data and ACK exchange."""
        return float(self.topo.room_rtt[st.room] + self.topo.air_rtt[st.cls])

    def syn_lost(self, room: int) -> bool:
        """Whether a new connection's SYN to a station of ``room`` is dropped at the AP's transmit queue.

        The AP's transmit FIFO (``mac.queue``, drop-tail) is full while its
        downlink flows' windows exceed it; their data waits in front of it
        (fq_codel, held back by flow control), but a SYN meeting the full FIFO
        is dropped and sent again after ``tcp.syn_timeout``. This is what the
        ns-3 classroom runs show (validation/README.md: about one dropped SYN
        per late flow from n = 20 on, none at n = 10, data drops rare). Only
        with aggregation: ns-3's 802.11g rooms (DCF, one Ack per MPDU) have no
        drop at their 500-packet MAC queue in any of 24 seeds (fq_codel in
        front takes the excess, 140-2,700 drops per seed) and one late
        handshake in all, where the FIFO rule lost 1-13 SYNs per seed.
        """
        if self.topo.room_fair[room]:
            return False  # per-station queues: a new station's SYN waits in its own, empty queue
        if not self.topo.room_timing[room].aggregates:
            return False  # no aggregation, no BlockAck (802.11a/g): ns-3 drops nothing at such a MAC queue
        return self.net.fifo_backlog(room, self.now)[0] > float(self.topo.buffers[0][room])

    def synack_lost(self, room: int) -> bool:
        """Whether a new upload's handshake reply (the server's SYN-ACK) is dropped at the AP's full transmit FIFO.

        The station's SYN leaves from its own empty queue, but the reply comes
        back through the AP's FIFO (``mac.queue`` packets), which holds the TCP
        ACKs of the room's uploads: a window-bound upload of W segments sends
        its window in A = ⌈W/K⌉ A-MPDUs and waits for its ACKs (RFC 5681 §3),
        and with every contender winning alike (Bianchi 2000) the AP's accesses
        balance the stations' when about A of them hold their window, so the
        other n − A keep W/b ACKs each (delayed ACK b = 2, RFC 1122) at the
        AP. A reply meeting a full FIFO is lost and sent again after the
        initial RTO of 1 s (RFC 6298 §2.1). ns-3 ``ax80-upload-n30``
        (validation/): the AP's MAC queue is at its 500 packets from ~16 active
        uploads on; every station starting later that lost its handshake frame
        there (an ARP reply in ns-3, retried after ArpCache's 1 s) began ~1.07 s late.
        """
        if self.topo.room_fair[room]:
            return False
        net = self.net
        m = net.active & net.tcp & (net.nodes[:, 0] == room) & (net.paused <= self.now)
        mu = m & net.up
        n_up = int(mu.sum())
        if n_up == 0:
            return False
        segs = np.maximum(1.0, net.segs[mu])
        a = float(np.mean(np.ceil(net.win[mu] / net.mss[mu] / segs - 1e-9)))  # A-MPDUs per window: stations holding it
        waiting = max(0.0, n_up - a) / n_up
        acks = float(np.sum(net.win[mu] / net.mss[mu] / DELAYED_ACK)) * waiting
        return acks >= float(self.topo.buffers[0][room]) / (MSS + IP_TCP)  # the FIFO's packets

    def flush_rows(self) -> None:
        if self.rows:
            self.writer.step_csv("".join(self.rows), len(self.rows))
            self.rows.clear()

    # ------------------------------------------------------------ scheduling
    def push(self, t: float, kind: int, item: object) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, kind, item))

    def resume(self, proc, value) -> tuple | None:
        """Run a device process until it next waits; a sleep is returned as its heap entry for the caller to
        push (``run`` pushes it with its next pop: one ``heappushpop``), None otherwise."""
        while True:
            try:
                cmd = proc.send(value)
            except StopIteration:
                return None
            if isinstance(cmd, float):
                if cmd <= self.now:
                    value = self.now
                    continue
                self.seq += 1
                # a numpy float64 (a float subclass) as a Python float: the same value, faster heap compares
                return (float(cmd), self.seq, _RESUME, proc)
            match cmd:
                case Bulk(room=room, cls=cls, bits=bits, connections=conns, up=up, device=device):
                    key = (room, cls, conns, up)
                    route = self._routes.get(key) or self._bulk_route(key)
                    nodes, tcp, site = route
                    self.net.add(nodes, bits, conns, proc, cls=cls, tcp=tcp, up=up, station=device)
                    self._schedule_net(site)
                    self.ap_bulk[room] += 1
                    if up:
                        self.site_up[site] += 1
                        self.total_up += 1
                    else:
                        self.site_bulk[site] += 1
                        self.total_bulk += 1
                    return
                case Serve(role=role, work=work):
                    st = self.stations[role]
                    if not st.ps_offer(self.now, work, proc):
                        value = None
                        continue
                    self._schedule_ps(role)
                    return
                case AwaitSession(room=room):  # wait for the teacher; give up at the horizon
                    if self.room_open[room] is not None:
                        value = self.room_open[room]
                        continue
                    entry = [proc, True]
                    self.room_waiters[room].append(entry)
                    if self.to_the_end:  # cut short by until_s: still waiting, not failed
                        self.push(self.horizon, _SESSION_TIMEOUT, entry)
                    return
                case _:
                    raise ValueError(f"unknown command {cmd!r}")

    def _bulk_route(self, key: tuple[int, int, float, bool]) -> tuple[tuple[int, ...], TcpFlow, int]:
        """A bulk flow's (nodes, TCP start state, site) for (room, class, connections, up): the same for
        every such flow and immutable, so built once (``_routes``)."""
        room, cls, conns, up = key
        c = self.topo.classes[cls]
        rtt = float(self.topo.room_rtt[room] + self.topo.bulk_air_rtt[cls])
        tcp = TcpFlow(c.window0 * conns, rtt, c.seg.mss, c.min_rto, c.dupthresh, c.max_window * conns, c.beta)
        route = self._routes[key] = (self.topo.nodes(room, up), tcp, int(self.topo.room_site[room]))
        return route

    def open_session(self, room: int, t: float) -> None:
        if self.room_open[room] is not None:
            return
        self.room_open[room] = t
        for entry in self.room_waiters[room]:
            if entry[1]:
                entry[1] = False
                self.push(t, _RESUME, entry[0])
        self.room_waiters[room] = []

    def prepare_aggregates(self) -> None:
        """Aggregated autosaves (not modelled one by one) load each site's uplink: bit/s per sampling bin.

        Their times are known once the downloads end, so the per-bin load is
        filled as devices reach the test (``procs``) and read at each recompute.
        """
        self.agg_up = np.zeros((self.n_bins + 1, len(self.topo.site_ids)))

    def flush_autosaves(self) -> None:
        """Add the aggregated autosaves queued by the devices (``autosaves_ahead``) to the per-second
        platform work, the per-bin bytes per room and the per-bin uplink load per site.

        All lie ahead of the time they were queued at, and every reader flushes first, so the tables
        read as if each device had added its own at once; ``np.add.at`` adds in order, so each cell
        sums the same values in the same order (identical floats).
        """
        ahead = self.autosaves_ahead
        if not ahead:
            return
        times = np.concatenate([a[0] for a in ahead])
        counts = [len(a[0]) for a in ahead]
        self.autosaves_ahead = []
        if not len(times):
            return
        self._agg_version += 1
        np.add.at(self.autosave_hist, (times - self.t_lo).astype(np.int64), 1.0)
        bins = ((times - self.t_lo) // self.dt).astype(np.int64)
        rooms = np.repeat(np.array([a[1] for a in ahead], np.int64), counts)
        sites = np.repeat(np.array([a[2] for a in ahead], np.int64), counts)
        np.add.at(self.autosave_bytes, (bins, rooms), np.repeat(np.array([a[3] for a in ahead], float), counts))
        np.add.at(self.agg_up, (bins, sites), np.repeat(np.array([a[4] for a in ahead], float), counts))

    def _schedule_net(self, sites=None) -> None:
        """(Re)schedule the fluid network's next update: per site while sites are independent, else global."""
        net = self.net
        if self.net_global:
            t = net.next_time()
            if t < self.net_due - 1e-12 or t == math.inf:
                self.net_due = t
                self.net_version += 1
                if t < math.inf:
                    self.push(max(t, self.now), _NET, (-1, self.net_version))
            return
        if sites is not None and not isinstance(sites, int) and len(sites) == 1:
            sites = int(sites[0])  # the same arithmetic as next_times, on scalars
        if isinstance(sites, int):  # one site (a flow arrived): scalar arithmetic is cheaper
            t = net.next_time(sites)
            if t < self.site_due.item(sites) - 1e-12 or t == math.inf:
                self.site_due[sites] = t
                self.site_ver[sites] += 1
                if t < math.inf:
                    self.push(max(t, self.now), _NET, (sites, int(self.site_ver[sites])))
            return
        sites = np.arange(len(self.topo.site_ids)) if sites is None else np.asarray(sites, np.int64)
        ts = net.next_times(sites)
        change = (ts < self.site_due[sites] - 1e-12) | (ts == math.inf)
        if not change.any():
            return
        sites, ts = sites[change], ts[change]
        self.site_due[sites] = ts
        self.site_ver[sites] += 1
        now = self.now
        for s, t, v in zip(sites.tolist(), ts.tolist(), self.site_ver[sites].tolist()):
            if t < math.inf:
                self.seq += 1
                heapq.heappush(self.heap, (t if t > now else now, self.seq, _NET, (s, v)))

    def _schedule_ps(self, role: str) -> None:
        t = self.stations[role].next_completion()
        if t < self.ps_due.get(role, math.inf) - 1e-12:
            self.ps_due[role] = t
            self.push(max(t, self.now), _PS, role)

    def _refresh_ap(self, net: FluidNetwork, idx: np.ndarray, changed: np.ndarray | None = None) -> None:
        """Airtime costs and weights of the active flows from who sends on each radio (``mac``).

        ``changed``: called again in the same update after a drop episode, which changed only these
        flows' windows; with per-station queues everywhere a flow's cost reads its own window only,
        so only theirs are recomputed (the same element-wise arithmetic, identical values).
        """
        topo = self.topo
        air = self._on_air(net, idx)
        if changed is not None and air.all_fair:
            self._refresh_flows(net, air, idx, changed)
            return
        # airtime left to bulk flows, for the rooms with a flow (waterfill and the FIFO delay read only those;
        # the same element-wise arithmetic as over every room)
        pick = air.pick
        busy = np.array(pick(self.air_v)) * np.exp(-np.maximum(0.0, self.now - np.array(pick(self.air_t))) / AIR_TAU_S)
        net.ap_capacity[air.busy_rooms] = 1.0 - np.minimum(busy, 0.9)
        if self.agg_up is not None:  # aggregated autosaves take their share of each site's uplink
            self.flush_autosaves()
            b = min(len(self.agg_up) - 1, max(0, int((self.now - self.t_lo) // self.dt)))
            if (b, self._agg_version) != self._up_set:  # else the capacities set last time, unchanged since
                self._up_set = (b, self._agg_version)
                net.set_capacity(3, slice(len(topo.site_ids), None),
                                 np.maximum(0.05 * self.up_base, self.up_base - self.agg_up[b]))
        rooms, up, cls, fair, over, u, both, present = (air.rooms, air.up, air.cls, air.fair, air.over, air.u,
                                                        air.both, air.present)  # over, u: per flow
        held = self._fifo_held(net, idx, rooms, up) if not air.all_fair else None
        # an A-MPDU carries what the station's queue holds: its window (per-station queues) or its FIFO share
        window = np.where(net.tcp[idx], net.win[idx] / net.mss[idx], 1e9)  # segments
        segs = window if held is None else np.where(fair | up, window, held / net.mss[idx])
        cost, k = _class_costs(topo, present, segs, over, u, up, both, air.by_class, repeat_probability(u),
                               None if held is None else window)
        net.ap_cost[idx] = cost
        net.segs[idx] = k
        net.ap_weight[idx] = 1.0 / cost if held is None else np.where(fair, 1.0 / cost, self._fifo_weights(held, rooms, up))

    def _refresh_flows(self, net: FluidNetwork, air: OnAir, idx: np.ndarray, changed: np.ndarray) -> None:
        """``_refresh_ap``'s per-flow part (airtime cost, A-MPDU size, weight) for the flows ``changed``
        of ``idx`` alone, at radios with per-station queues (no FIFO shares)."""
        if not len(changed):
            return
        pos = np.searchsorted(idx, changed)
        topo = self.topo
        segs = np.where(net.tcp[changed], net.win[changed] / net.mss[changed], 1e9)
        cls, over, u, up = air.cls[pos], air.over[pos], air.u[pos], air.up[pos]
        both = None if air.both is None else air.both[pos]
        present = air.present if len(air.present) == 1 else np.bincount(cls).nonzero()[0].tolist()
        by_class = _by_class(present, cls, over, u, up, both) if len(present) > 1 else []
        cost, k = _class_costs(topo, present, segs, over, u, up, both, by_class, repeat_probability(u))
        net.ap_cost[changed] = cost
        net.segs[changed] = k
        net.ap_weight[changed] = 1.0 / cost

    def _on_air(self, net: FluidNetwork, idx: np.ndarray) -> OnAir:
        """Who is on each radio and its contention (``mac``): computed once per set of active flows.

        It changes only when a flow arrives or leaves, while the airtime costs
        are refreshed at every recompute (windows and short exchanges change),
        so the last set's result is kept, named by ``net.generation`` and ``idx``.
        """
        key = (net.generation, idx.tobytes())
        if self._air is not None and self._air.key == key:
            return self._air
        topo = self.topo
        rooms = net.nodes[idx, 0]
        up = net.up[idx]
        nr = topo.n_rooms
        m_down = np.bincount(rooms[~up], minlength=nr)
        n_up = np.bincount(rooms[up], minlength=nr)
        busy_rooms = (m_down + n_up).nonzero()[0]
        over = np.zeros(nr)
        u = np.zeros(nr)
        tables = topo.contention_tables
        tc1, tc2 = topo.collision_times(rooms, net.phy_cls[idx], up)  # mac: a collision lasts its longest PPDU
        if len(tables) == 1:
            over[busy_rooms], u[busy_rooms] = tables[0].lookup(m_down[busy_rooms], n_up[busy_rooms],
                                                               tc1[busy_rooms], tc2[busy_rooms])
        else:
            tabs = topo.room_mac[busy_rooms]
            for ti in np.bincount(tabs).nonzero()[0].tolist():
                rs = busy_rooms[tabs == ti]
                over[rs], u[rs] = tables[ti].lookup(m_down[rs], n_up[rs], tc1[rs], tc2[rs])
        cls = net.phy_cls[idx]
        fair = topo.room_fair[rooms]
        over, u, both = over[rooms], u[rooms], _both_ways(net.station[idx], up)
        present = np.bincount(cls).nonzero()[0].tolist()
        by_class = _by_class(present, cls, over, u, up, both) if len(present) > 1 else []
        self._air = OnAir(key, rooms, up, cls, fair, bool(fair.all()), over, u, both, present, by_class,
                          busy_rooms, _picker(busy_rooms.tolist()))
        return self._air

    def _fifo_held(self, net: FluidNetwork, idx: np.ndarray, rooms: np.ndarray, up: np.ndarray) -> np.ndarray:
        """Bytes each downlink flow holds in its AP's transmit FIFO: min(W_i, f), Σ min(W_i, f) = FIFO size."""
        w = np.where(net.tcp[idx], np.minimum(net.win[idx], 1e12), 1e12) * np.where(net.tcp[idx], 1.0, net.weight[idx])
        held = waterfill_rates(np.where(up, 0.0, w), np.ones(len(idx)), None, rooms, self.topo.buffers[0])
        return np.where(up, 0.0, held)

    def _fifo_weights(self, held: np.ndarray, rooms: np.ndarray, up: np.ndarray) -> np.ndarray:
        """Downlink shares at an AP without airtime fairness: a flow's share of the transmit FIFO.

        A FIFO serves each flow in proportion to the packets it holds there,
        i.e. its window; an fq_codel stage in front hands packets to the FIFO
        round-robin, so no flow holds more than the level f with Σ min(W_i, f)
        = FIFO size (RFC 8290 DRR). Uplink stations win their own channel
        accesses (DCF: about as many as the AP's), so each counts as one
        downlink flow of average weight.
        """
        down = ~up
        w = np.where(down, np.maximum(held, 1.0), 0.0)
        if up.any():
            nr = self.topo.n_rooms
            mean = np.bincount(rooms, w, minlength=nr) / np.maximum(1, np.bincount(rooms, down, minlength=nr))
            w = np.where(up, np.where(mean[rooms] > 0, mean[rooms], 1.0), w)
        return w

    def _on_net(self, event: tuple[int, int]) -> None:
        """A fluid update: of every site due within its (or the city's) batching window (local), or of all (global).

        Sites share nothing below the city core, so while the core, data centre
        and content egress are below 98 % of capacity each site is recomputed on
        its own clock, with a batching window from its own flows (a small
        school's error bound does not grow with the city); once the shared top
        nears capacity the whole city is recomputed together until it is below 90 %.
        """
        site, version = event
        net = self.net
        if site < 0:
            if version != self.net_version or not self.net_global:
                return
            self.net_due = math.inf
            self._completed(net.update(self.now, self._refresh_ap))
            if not net.top_saturated(0.9):
                self.net_global = False
                self.net_version += 1
                self._schedule_net()
                return
            self._schedule_net()
            return
        if version != self.site_ver[site] or self.net_global:
            return
        # every site due within its own window, or within the city's: updating a site early costs nothing
        # in accuracy (completions are exact, ramps and arrivals are taken then), and one vectorised call
        # for many sites is much cheaper than one per site
        gaps = np.maximum(np.minimum(net.max_gap, net.gap_per_flow * net.site_flows), net.gap())
        batch = (self.site_due <= self.now + gaps).nonzero()[0]
        if site not in batch:
            batch = np.append(batch, site)
        self.site_due[batch] = math.inf
        self.site_ver[batch] += 1
        self._completed(net.update(self.now, self._refresh_ap, sites=batch))
        if net.top_saturated():
            self.net_global = True
            self.site_due[:] = math.inf
            self.site_ver += 1
            self._completed(net.update(self.now, self._refresh_ap))
            self.net_due = math.inf
            self._schedule_net()
            return
        self._schedule_net(batch)

    def _completed(self, done) -> None:
        if not done:
            return
        flows = [c.flow for c in done]
        rooms = self.net.nodes[flows, 0]
        # per flow (room, site, direction) read in one gather each, then counted down one at a time as before
        for c, room, site, up in zip(done, rooms.tolist(), self.topo.room_site[rooms].tolist(),
                                     self.net.up[flows].tolist()):
            self.ap_bulk[room] -= 1
            if up:
                self.site_up[site] -= 1
                self.total_up -= 1
            else:
                self.site_bulk[site] -= 1
                self.total_bulk -= 1
            self.push(max(c.end_s, self.now), _RESUME, (c.token, c.end_s))

    def _on_ps(self, role: str) -> None:
        st = self.stations[role]
        self.ps_due[role] = math.inf
        for job, end in st.pop_done(self.now):
            self.push(self.now, _RESUME, (job.token, end))
        self._schedule_ps(role)

    def _on_tick(self, t: float) -> None:
        sec = int(t - self.t_lo)
        self.flush_autosaves()
        if 0 <= sec < len(self.autosave_hist) and self.autosave_hist[sec] > 0:
            mean = self.ops["platform"].get("autosave", 0.005)
            self.stations["platform"].background(t, self.autosave_hist[sec] * mean)
        if t + 1.0 > self.horizon or (not self.heap and self._quiet_after(sec)):
            return  # nothing can happen any more: the run ends here (no quiet tail to simulate)
        self.push(t + 1.0, _TICK, t + 1.0)

    def _quiet_after(self, sec: int) -> bool:
        """Whether nothing is left to happen after second ``sec``: no event due (the caller checked the
        heap), no flow in the network, no aggregated autosave ahead."""
        net = self.net
        if net.pending or net.active.any():
            return False
        return not self.autosave_hist[max(0, sec + 1):].any()

    # ------------------------------------------------------------ loop
    def run(self, until: float, progress: Callable[[float, float], None] | None = None) -> None:
        """Handle events in time order up to ``until`` (the first later one stays on the heap)."""
        heap, pop, pushpop = self.heap, heapq.heappop, heapq.heappushpop
        resume, on_net, on_ps, on_tick = self.resume, self._on_net, self._on_ps, self._on_tick
        next_report = 0 if progress is not None else math.inf
        events = self.events
        ahead = None  # a resumed process's next wake, pushed with the next pop (the same order: keys are unique)
        try:
            while True:
                if ahead is not None:
                    ev = pushpop(heap, ahead)
                    ahead = None
                elif heap:
                    ev = pop(heap)
                else:
                    break
                t, _, kind, item = ev
                if t > until:
                    heapq.heappush(heap, ev)
                    break
                self.now = t
                events += 1
                if kind == _RESUME:
                    if item.__class__ is tuple:
                        ahead = resume(item[0], item[1])
                    else:
                        ahead = resume(item, t)
                elif kind == _NET:
                    on_net(item)
                elif kind == _PS:
                    on_ps(item)
                elif kind == _SESSION_TIMEOUT:
                    if item[1]:
                        item[1] = False
                        ahead = resume(item[0], None)
                else:
                    on_tick(item)
                if events >= next_report:
                    next_report = events + 20000
                    progress(t - self.t_lo, until - self.t_lo)
        finally:
            self.events = events


class _Uniforms:
    """``Generator.random()`` one value at a time, drawn in blocks: the same values in the same order (a
    block of n is n successive draws of the bit generator's next double), without NumPy's ~1 us per scalar
    call. Only ``random()`` may be asked of it, so nothing else advances the stream between blocks."""

    __slots__ = ("_rng", "_buf", "_i")

    def __init__(self, rng: np.random.Generator):
        self._rng, self._buf, self._i = rng, [], 0

    def random(self) -> float:
        i = self._i
        if i >= len(self._buf):
            self._buf, i = self._rng.random(1024).tolist(), 0
        self._i = i + 1
        return self._buf[i]


def _picker(items: list[int]) -> Callable:
    """``operator.itemgetter`` of ``items`` that always returns a tuple (also for one item or none)."""
    if len(items) == 1:
        i = items[0]
        return lambda xs: (xs[i],)
    if not items:
        return lambda xs: ()
    return operator.itemgetter(*items)


def _both_ways(station: np.ndarray, up: np.ndarray) -> np.ndarray | None:
    """Flows whose station also has a flow in the other direction (their TCP ACKs ride in its A-MPDUs); None: none."""
    known = station >= 0
    if not known.any():
        return None
    s = station[known]
    n = int(s.max()) + 1
    has_up = np.bincount(s[up[known]], minlength=n) > 0
    has_down = np.bincount(s[~up[known]], minlength=n) > 0
    out = np.zeros(len(station), bool)
    out[known] = has_up[s] & has_down[s]
    return out


def _nice(x: float) -> float:
    for v in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600):
        if x <= v:
            return float(v)
    return 600.0


def simulate(plan: Plan, run_dir: str | Path, until_s: float | None = None,
             progress: Callable[[float, float], None] | None = None,
             options: ModelOptions | None = None, shard: str = "") -> ModelResult:
    """Run the model over ``plan`` and write the trace into ``run_dir``.

    ``until_s`` (seconds from t0) stops the simulation there; steps still in
    progress then are not written. ``progress(done_s, total_s)`` is called now
    and then. Deterministic for a given plan (seed).
    """
    thresholds = gc.get_threshold()
    gc.freeze()  # the plan's objects are long-lived: keep the cyclic collector from re-scanning them
    gc.set_threshold(50_000, 20, 100)  # few collections: the run's objects are freed by reference counting
    try:
        return _simulate(plan, run_dir, until_s, progress, options, shard)
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _simulate(plan: Plan, run_dir: str | Path, until_s: float | None, progress, options: ModelOptions | None,
              shard: str) -> ModelResult:
    wall0 = time.perf_counter()
    options = options or ModelOptions()
    run_dir = Path(run_dir)
    topo = build_topology(plan)
    starts = plan.starts()
    t_lo = math.floor(min(float(starts.min()) if len(starts) else 0.0, 0.0))
    longest = max((r.workload.duration_s for r in plan.rooms), default=0.0)
    natural_end = max(plan.end_s, float(starts.max()) + longest + 1800.0 if len(starts) else plan.end_s)
    horizon = natural_end if until_s is None else min(float(until_s), natural_end)
    writer = TraceWriter(run_dir, shard=shard, flush_every=5000)
    sim = Simulation(plan, topo, writer, options, run_dir.name, horizon, t_lo, horizon >= natural_end)
    try:
        sim.now = t_lo
        room_index = {rid: i for i, rid in enumerate(topo.room_ids)}
        counts: dict[int, int] = {}
        with_teacher: set[int] = set()
        for i, d in enumerate(plan.devices):
            ri = room_index[d.room.id]
            n_in_room = counts.get(ri, 0)
            counts[ri] = n_in_room + 1
            if d.role == "teacher":
                with_teacher.add(ri)
            cls = int(topo.device_class[i])
            st = DeviceState(d, i, ri, int(topo.room_site[ri]), cls, n_in_room >= d.room.ap.max_clients,
                             sim.rate_table(cls, ri), topo.classes[cls].window0)
            if d.transfer:
                procs = [transfer_proc(sim, st, up) for up in ((False, True) if d.transfer == "both" else
                                                               ((d.transfer == "up"),))]
            else:
                procs = [device_proc(sim, st)]
            for proc in procs:
                next(proc)
                sim.push(d.start_s, _RESUME, proc)
        sim.prepare_aggregates()
        for ri, room in enumerate(plan.rooms):
            if ri not in with_teacher:
                sim.open_session(ri, room.start_s)
        sim.push(math.ceil(t_lo), _TICK, float(math.ceil(t_lo)))
        sim.run(horizon, progress)
        end = horizon if until_s is not None else max(sim.now, t_lo + 1.0)
        if sim.net.n_active and end > sim.net.t:
            sim.net.update(end, sim._refresh_ap)  # integrate the flows' load up to the end
        sim.flush_rows()
        resource_rows = write_samples(sim, end)
    finally:
        sim.flush_rows()
        writer.close()
    if progress is not None:
        progress(horizon - t_lo, horizon - t_lo)
    return ModelResult(run_dir, len(plan.devices), writer.step_rows, resource_rows, sim.events,
                       sim.net.recomputes, t_lo, end, time.perf_counter() - wall0, sim.dt,
                       options.autosave_detail)
