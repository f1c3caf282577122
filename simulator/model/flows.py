"""TCP at flow level: max-min fair sharing over a tree of links, with windows, slow start and losses inside.

Sources:

- Max-min fairness by progressive filling (water-filling): D. Bertsekas,
  R. Gallager, *Data Networks*, §6.5. Concurrent bulk TCP flows on shared
  links converge to (approximately) max-min fair shares; a browser's k
  parallel connections to one host count k times (weight k).
- RFC 6928 (initial window 10 segments), RFC 5681 (slow start: the window
  grows by the bytes acknowledged, i.e. doubles per RTT while the window
  limits; congestion avoidance: one MSS per RTT; multiplicative decrease to
  half the flight on a loss; fast retransmit after ``dupthresh`` duplicate
  ACKs), RFC 6298 (retransmission timeout ≥ ``min_rto``, window back to one
  segment after it).
- Wi-Fi airtime as a shared capacity (``mac.py``): the AP radio constraint is
  Σ x_i·c_i ≤ 1 with c_i a flow's airtime per bit, weights 1/c_i (equal
  airtime) with airtime fairness and 1 without (equal throughput, Heusse 2003).

The network is a tree per direction (down: AP radio → AP port → school switch
→ site uplink → city core → data centre → content egress; up: the same radio,
then the up halves of each link to the platform's ingress), every flow running
from a leaf to the root; both directions share the radio, since uplink and
downlink frames take turns on one channel. Applying each node's water level
bottom-up, once, gives the max-min allocation on a tree of plain capacities;
airtime is not a plain capacity (costs differ per station), so a second pass
re-fills the radios with the wired-limited flows frozen (``_allocate``).

TCP inside the fluid: each TCP flow carries a window W (bytes) and a base RTT;
its rate is capped at W/RTT. Between recomputes W grows by the bytes
delivered (slow start, so a window-limited flow doubles per RTT: a *ramp*
event then), or by MSS per RTT (congestion avoidance). A flow whose share,
not its window, limits it keeps W − x·RTT bytes queued at its bottleneck;
when the queued bytes of a node exceed its buffer, the node drops: during the
episode (one RTT of detection) each flow there loses a binomial draw of its
arrivals at the drop rate (excess over service), from a seeded generator. A
flow that lost segments halves its window (fast recovery) — unless fewer
than ``dupthresh`` segments of its window survive, or the loss falls in its
last ``dupthresh`` segments: then it waits a retransmission timeout
(max(min_rto, 3·RTT)) and restarts from one segment. This is what makes the
tail: a flow arriving at a full queue with a small window, or a finishing one.

Batching: the city is recomputed in one vectorised call at flow arrivals,
completions, ramps, drops and timeouts, batched in a window proportional to
the number of active flows (``gap_per_flow``, capped by ``max_gap``). Flows
finishing inside a window get their exact completion time (rates are
constant between recomputes); a flow arriving inside one starts at its end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["MSS", "IW_SEGMENTS", "slow_start", "transfer_time", "waterfill", "FluidNetwork", "Completion",
           "TcpFlow"]

MSS = 1448.0
IW_SEGMENTS = 10


def slow_start(size: float, rate: float, rtt: float, connections: int = 1, iw_bytes: float = IW_SEGMENTS * MSS
               ) -> tuple[int, float]:
    """Slow-start rounds before a transfer of ``size`` bytes reaches ``rate`` (bit/s), and the bytes sent in them.

    Each of ``connections`` connections starts with IW (RFC 6928) and
    doubles per RTT. Returns (rounds, bytes) — bytes ≥ size when it ends in slow start.
    Used for short responses, which never enter the fluid.
    """
    iw = iw_bytes * max(1, connections)
    if size <= iw:
        return (1, size) if size > 0 else (0, 0.0)
    k_done = math.ceil(math.log2(size / iw + 1) - 1e-12)
    target = rate * rtt / 8  # bytes per RTT at full rate
    k_rate = 0 if iw >= target else math.ceil(math.log2(target / iw) - 1e-12)
    if k_done <= k_rate:
        return k_done, size
    return k_rate, iw * (2 ** k_rate - 1)


def transfer_time(size: float, rate: float, rtt: float, connections: int = 1) -> float:
    """Time to move ``size`` bytes at a fixed share ``rate`` (bit/s) after slow start: k·RTT + rest/rate."""
    k, sent = slow_start(size, rate, rtt, connections)
    return k * rtt + max(0.0, size - sent) * 8 / rate


@dataclass(frozen=True, slots=True)
class TcpFlow:
    """The TCP state a bulk flow starts with (``FluidNetwork.add``)."""

    window: float  # initial window, bytes (IW × MSS × connections)
    rtt: float  # base round trip (s): wired route + Wi-Fi access
    mss: float = MSS
    min_rto: float = 0.2
    dupthresh: int = 3
    max_window: float = math.inf  # socket buffer cap (bytes)
    beta: float = 0.7  # window kept after a loss (CUBIC, RFC 9438)


def waterfill(demand: np.ndarray, weight: np.ndarray, cost: np.ndarray, group: np.ndarray,
              capacity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted max-min fair rates for flows in groups sharing one capacity each.

    Each group g solves Σ_i cost_i · min(demand_i, L_g · weight_i) = capacity_g
    for its water level L_g (∞ when the demands fit). Returns the new rates
    and a mask of the flows this level limited.
    """
    n = len(demand)
    used = np.bincount(group, demand * cost, minlength=len(capacity))
    over = used > capacity * (1 + 1e-12)
    if not over.any():
        return demand, np.zeros(n, bool)
    sel = np.flatnonzero(over[group])
    g, d, w, c = group[sel], demand[sel], weight[sel], cost[sel]
    lam = d / w
    order = np.lexsort((lam, g))
    g, d, w, c, lam = g[order], d[order], w[order], c[order], lam[order]
    dc, wc = d * c, w * c
    cum_dc = np.cumsum(dc)
    cum_wc = np.cumsum(wc)
    ng = len(capacity)
    first = np.searchsorted(g, np.arange(ng))  # start of each group in the sorted run
    start_dc = np.concatenate(([0.0], cum_dc))[first]
    total_wc = np.bincount(g, wc, minlength=ng)
    start_wc = np.concatenate(([0.0], cum_wc))[first]
    before_dc = cum_dc - dc - start_dc[g]  # Σ of flows strictly before i in its group
    after_wc = total_wc[g] - (cum_wc - wc - start_wc[g])  # Σ w·c of flows i.. end
    fill_at = before_dc + lam * after_wc  # capacity used if the level were lam_i
    binding = fill_at >= capacity[g] * (1 - 1e-12)
    # first binding index per group
    idx = np.flatnonzero(binding)
    gb = g[idx]
    firsts = idx[np.concatenate(([True], gb[1:] != gb[:-1]))]
    level = np.full(ng, np.inf)
    level[g[firsts]] = (capacity[g[firsts]] - before_dc[firsts]) / after_wc[firsts]
    new = np.minimum(d, level[g] * w)
    limited = new < d * (1 - 1e-12)
    out = demand.copy()
    lim = np.zeros(n, bool)
    back = sel[order]
    out[back] = new
    lim[back] = limited
    return out, lim


@dataclass(frozen=True, slots=True)
class Completion:
    flow: int
    end_s: float
    token: object


_ARRAYS = ("nodes", "weight", "ap_weight", "ap_cost", "phy_cls", "demand", "rem", "rate", "limit_level", "active",
           "win", "ssth", "rtt", "mss", "min_rto", "dupthresh", "tcp", "paused", "up", "segs", "started", "wmax",
           "beta", "qdelay")


class FluidNetwork:
    """Bulk flows over a tree of capacities, advanced between events at constant max-min rates.

    ``capacities`` lists, per tree level from leaf to root, the capacity of
    each node; ``buffers`` the bytes each node queues before it drops (None:
    never). A flow carries one node index per level, a weight (parallel
    connections), a demand cap (bit/s), optionally TCP state (``TcpFlow``),
    and for the first level (the radio) an airtime cost per bit and a
    water-filling weight, set by ``refresh`` before each allocation. Loads
    are integrated per resource for utilisation sampling; ``losses`` and
    ``timeouts`` count drop episodes and RTOs.
    """

    def __init__(self, capacities: list[np.ndarray], resource_offset: list[int], n_resources: int,
                 sample_dt: float, n_bins: int, gap_per_flow: float = 2e-5, max_gap: float = 0.25,
                 t_lo: float = 0.0, buffers: list[np.ndarray] | None = None, seed: int = 0,
                 codel: list[np.ndarray] | None = None, codel_interval: float = 0.1):
        self.t_lo = t_lo
        self.caps = capacities
        self.offset = resource_offset
        self.offset_arr = np.asarray(resource_offset, np.int64)
        self.L = len(capacities)
        self.n_res = n_resources
        self.buffers = buffers
        self.codel_interval = codel_interval
        if buffers is not None:
            self._codel_flat = np.concatenate(codel) if codel is not None else np.zeros(sum(len(b) for b in buffers))
            self._buf_flat = np.concatenate(buffers)
            self._buf_off = np.concatenate(([0], np.cumsum([len(b) for b in buffers])[:-1])).astype(np.int64)
        self.dt = sample_dt
        self.busy = np.zeros((n_bins + 1, n_resources))  # ∫ utilisation dt per bin
        self.waiting = np.zeros((n_bins + 1, n_resources))  # ∫ flows limited here dt per bin
        self.gap_per_flow, self.max_gap = gap_per_flow, max_gap
        self.rng = np.random.default_rng([seed, 17])
        cap = 1024
        self.nodes = np.zeros((cap, self.L), np.int64)
        self.weight = np.ones(cap)
        self.ap_weight = np.ones(cap)
        self.ap_cost = np.ones(cap)
        self.phy_cls = np.zeros(cap, np.int64)  # the station's radio class (engine: airtime per station)
        self.ap_capacity = np.ones(len(capacities[0]))  # airtime left to bulk flows (short exchanges take some)
        self.demand = np.full(cap, np.inf)
        self.rem = np.zeros(cap)  # bits remaining
        self.rate = np.zeros(cap)
        self.limit_level = np.full(cap, -1)
        self.active = np.zeros(cap, bool)
        self.win = np.full(cap, np.inf)  # TCP window (bytes); inf for a plain fluid flow
        self.ssth = np.full(cap, np.inf)
        self.rtt = np.ones(cap)
        self.mss = np.full(cap, MSS)
        self.min_rto = np.full(cap, 0.2)
        self.dupthresh = np.full(cap, 3.0)
        self.tcp = np.zeros(cap, bool)
        self.paused = np.full(cap, -np.inf)  # waiting for a retransmission timeout until this time
        self.up = np.zeros(cap, bool)  # uplink flow (station sends)
        self.segs = np.ones(cap)  # segments per A-MPDU last used (refresh writes it; statistics)
        self.started = np.zeros(cap)
        self.wmax = np.full(cap, np.inf)
        self.beta = np.full(cap, 0.7)
        self.qdelay = np.zeros(cap)  # queueing delay its packets meet (FIFO part of its radio / bottleneck)
        self._codel: dict[int, tuple[float, int]] = {}  # group key -> (last drop, drops in this episode)
        self.tokens: list[object] = [None] * cap
        self.free = list(range(cap - 1, -1, -1))
        self.pending: list[int] = []
        self.t = t_lo
        self.last_recompute = -math.inf
        self.recomputes = 0
        self.losses = 0
        self.timeouts = 0
        self._next_event = math.inf  # ramps, drops, timeouts (from the last recompute)

    # ------------------------------------------------------------ flows
    def _grow(self) -> None:
        old = len(self.rem)
        new = old * 2
        for name in _ARRAYS:
            a = getattr(self, name)
            shape = (new,) + a.shape[1:]
            b = np.zeros(shape, a.dtype)
            b[:old] = a
            setattr(self, name, b)
        self.tokens.extend([None] * old)
        self.free.extend(range(new - 1, old - 1, -1))

    def add(self, nodes: tuple[int, ...], bits: float, weight: float, token: object,
            demand: float = math.inf, cls: int = 0, tcp: TcpFlow | None = None, up: bool = False) -> int:
        """Queue a flow; it starts sharing at the next recompute (``update``)."""
        if not self.free:
            self._grow()
        i = self.free.pop()
        self.nodes[i] = nodes
        self.phy_cls[i] = cls
        self.weight[i] = weight
        self.demand[i] = demand
        self.rem[i] = bits
        self.rate[i] = 0.0
        self.limit_level[i] = -1
        self.up[i] = up
        self.paused[i] = -np.inf
        self.qdelay[i] = 0.0
        self.tcp[i] = tcp is not None
        if tcp is not None:
            self.win[i], self.ssth[i], self.rtt[i] = tcp.window, np.inf, tcp.rtt
            self.mss[i], self.min_rto[i], self.dupthresh[i] = tcp.mss, tcp.min_rto, tcp.dupthresh
            self.wmax[i], self.beta[i] = tcp.max_window, tcp.beta
            self.win[i] = min(tcp.window, tcp.max_window)
        else:
            self.win[i], self.ssth[i] = np.inf, np.inf
        self.tokens[i] = token
        self.pending.append(i)
        return i

    @property
    def n_active(self) -> int:
        return int(self.active.sum())

    def next_time(self) -> float:
        """When the network next needs an update: earliest completion or TCP event, not sooner than the gap."""
        idx = np.flatnonzero(self.active)
        gap = min(self.max_gap, self.gap_per_flow * (len(idx) + len(self.pending)))
        soonest = self.last_recompute + gap
        if self.pending:
            return max(self.t, soonest)
        if len(idx) == 0:
            return math.inf
        r = self.rate[idx]
        with np.errstate(divide="ignore"):
            t_done = self.t + np.min(np.where(r > 0, self.rem[idx] / r, np.inf))
        return max(min(t_done, self._next_event), soonest)

    # ------------------------------------------------------------ time
    def _integrate(self, t0: float, t1: float, idx: np.ndarray) -> None:
        if t1 <= t0 or len(idx) == 0:
            return
        rates = self.rate[idx]
        cols, vals = [], []
        for lv in range(self.L):
            res = self.offset[lv] + self.nodes[idx, lv]
            cols.append(res)
            if lv == 0:
                vals.append(rates * self.ap_cost[idx])
            else:
                vals.append(rates / self.caps[lv][self.nodes[idx, lv]])
        cols_a = np.concatenate(cols)
        load = np.bincount(cols_a, np.concatenate(vals), minlength=self.n_res)
        ll = self.limit_level[idx]
        has = ll >= 0
        wait = np.bincount(self.offset_arr[ll[has]] + self.nodes[idx[has], ll[has]], minlength=self.n_res) \
            if has.any() else None
        b0, b1 = int((t0 - self.t_lo) // self.dt), int((t1 - self.t_lo) // self.dt)
        last = len(self.busy) - 1
        for b in range(b0, min(b1, last) + 1):
            lo, hi = max(t0, self.t_lo + b * self.dt), min(t1, self.t_lo + (b + 1) * self.dt)
            if hi > lo:
                self.busy[b] += load * (hi - lo)
                if wait is not None:
                    self.waiting[b] += wait * (hi - lo)

    def update(self, t: float, refresh=None) -> list[Completion]:
        """Advance to ``t`` at the current rates, retire finished flows, admit pending ones, recompute."""
        idx = np.flatnonzero(self.active)
        done: list[Completion] = []
        if len(idx):
            dt = t - self.t
            self._integrate(self.t, t, idx)
            r = self.rate[idx]
            with np.errstate(divide="ignore", invalid="ignore"):
                t_fin = np.where(r > 0, self.rem[idx] / r, np.inf)
            fin = t_fin <= dt * (1 + 1e-12) + 1e-9
            self.rem[idx] -= r * dt
            self._grow_windows(idx, r, dt)
            for j in np.flatnonzero(fin):
                i = int(idx[j])
                done.append(Completion(i, self.t + float(t_fin[j]), self.tokens[i]))
                self.active[i] = False
                self.tokens[i] = None
                self.free.append(i)
        self.t = t
        for i in self.pending:
            self.active[i] = True
            self.started[i] = t
        self.pending.clear()
        idx = np.flatnonzero(self.active)
        self._next_event = math.inf
        if len(idx):
            for _ in range(4):  # a drop episode changes windows: allocate again (bounded)
                if refresh is not None:
                    refresh(self, idx)
                self._allocate(idx)
                if not self._drops(idx):
                    break
            self._queue_delays(idx)
            self._schedule_tcp(idx)
        self.last_recompute = t
        self.recomputes += 1
        done.sort(key=lambda c: c.end_s)
        return done

    # ------------------------------------------------------------ TCP
    def _grow_windows(self, idx: np.ndarray, r: np.ndarray, dt: float) -> None:
        """Slow start: W += bytes acknowledged (up to ssthresh); congestion avoidance: W += MSS per RTT."""
        tcp = self.tcp[idx]
        if not tcp.any() or dt <= 0:
            return
        i = idx[tcp]
        acked = r[tcp] * dt / 8.0
        w, ss = self.win[i], self.ssth[i]
        in_ss = w < ss
        grown = np.where(in_ss, np.minimum(w + acked, ss), w)
        ca_bytes = np.where(in_ss, np.maximum(0.0, w + acked - ss), acked)
        grown = grown + self.mss[i] * ca_bytes / np.maximum(grown, self.mss[i])
        self.win[i] = np.minimum(grown, self.wmax[i])

    def _demand(self, idx: np.ndarray) -> np.ndarray:
        d = np.minimum(self.demand[idx], 1e15)
        tcp = self.tcp[idx]
        if tcp.any():
            d = np.where(tcp, np.minimum(d, self.win[idx] * 8.0 / (self.rtt[idx] + self.qdelay[idx])), d)
        paused = self.paused[idx] > self.t
        if paused.any():
            d = np.where(paused, 0.0, d)
        return d

    def _queues(self, idx: np.ndarray):
        """Per TCP flow limited by a node with a buffer: (flow positions, group key, queued bytes, buffer bytes)."""
        if self.buffers is None:
            return None
        ll = self.limit_level[idx]
        sel = np.flatnonzero(self.tcp[idx] & (ll >= 0) & (self.paused[idx] <= self.t))
        if len(sel) == 0:
            return None
        f = idx[sel]
        lv = ll[sel]
        node = self.nodes[f, lv]
        # uplink flows queue in their own station at the radio; everything else in the node's buffer
        own = (lv == 0) & self.up[f]
        key = np.where(own, self.n_res + f, self.offset_arr[lv] + node)
        q = np.maximum(0.0, self.win[f] - self.rate[f] * self.rtt[f] / 8.0)
        flat = self._buf_off[lv] + node
        return sel, key, q, self._buf_flat[flat], self._codel_flat[flat]

    def _groups(self, idx: np.ndarray):
        """Queues per node: members, backlog, capacity before drops (FIFO + CoDel target × drain), drain rate."""
        qs = self._queues(idx)
        if qs is None:
            return None
        sel, key, q, fifo, target = qs
        keys, first, inv = np.unique(key, return_index=True, return_inverse=True)
        total = np.bincount(inv, q)
        served = np.bincount(inv, self.rate[idx[sel]] / 8.0)
        fifo_g, target_g = fifo[first], target[first]
        cap = fifo_g + target_g * served
        return sel, keys, first, inv, q, total, served, fifo_g, target_g, cap

    def _queue_delays(self, idx: np.ndarray) -> None:
        """Queueing delay per flow for its next window: the FIFO share of its radio's (or bottleneck's) queue."""
        self.qdelay[idx] = 0.0
        g = self._groups(idx)
        if g is None:
            return
        sel, keys, first, inv, q, total, served, fifo_g, target_g, cap = g
        with np.errstate(divide="ignore", invalid="ignore"):
            fifo_delay = np.where(served > 0, np.minimum(total, np.where(target_g > 0, fifo_g, total)) / served, 0.0)
        f = idx[sel]
        self.qdelay[f] = fifo_delay[inv]
        # downlink flows the window limits still wait in their radio's FIFO
        lv0 = (self.limit_level[f] == 0) & ~self.up[f]
        if lv0.any():
            rooms = self.nodes[f[lv0], 0]
            per_room = np.zeros(len(self.caps[0]))
            per_room[rooms] = fifo_delay[inv[lv0]]
            other = idx[(self.limit_level[idx] < 0) & ~self.up[idx] & self.tcp[idx]]
            self.qdelay[other] = per_room[self.nodes[other, 0]]

    def _drops(self, idx: np.ndarray) -> bool:
        """Drop episodes at nodes whose queue exceeds what they hold; True when windows changed.

        Drop tail (a FIFO alone): every TCP flow through the full node sends
        into it for one (queue-lengthened) round trip: its arrivals are x·RTT
        plus its growth (slow start: as much again), each dropped with the
        node's excess rate p = Σgrowth / (service + Σgrowth). A flow with
        losses retransmits them while the flows that lost nothing keep growing
        (drop rate p'); a lost retransmission, fewer than ``dupthresh``
        surviving segments, or a loss in the last ``dupthresh`` segments
        costs a timeout; otherwise the window is cut to β·W (fast recovery,
        RFC 5681/6675, CUBIC's β).

        fq_codel (RFC 8290/8289): the node holds its FIFO plus the CoDel
        target's worth of drain before dropping; then each flow queueing more
        than its fair part loses one packet, again after interval/√count while
        the queue stays above (the CoDel control law), so windows shrink
        gently; a timeout only when the window is too small for ``dupthresh``
        duplicate ACKs or the loss is in the last segments.
        """
        g = self._groups(idx)
        if g is None:
            return False
        sel, keys, first, inv, q, total, served_g, fifo_g, target_g, cap = g
        over = total >= cap * (1 - 1e-9)
        codel = target_g > 0
        if codel.any():
            for j in np.flatnonzero(over & codel).tolist():
                last, count = self._codel.get(int(keys[j]), (-math.inf, 0))
                if self.t - last > 2 * self.codel_interval:
                    count = 0  # a new episode
                if count and self.t < last + self.codel_interval / math.sqrt(count) - 1e-9:
                    over[j] = False
        over = np.flatnonzero(over)
        if not len(over):
            return False
        f_lim = idx[sel]
        g_lv = self.limit_level[f_lim[first[over]]]
        live = idx[self.tcp[idx] & (self.paused[idx] <= self.t)]
        member = np.full(len(live), -1)
        for lv in np.unique(g_lv).tolist():  # every live flow through an overflowing node is a member
            gk = keys[over[g_lv == lv]]
            k_live = self.offset_arr[lv] + self.nodes[live, lv]
            if lv == 0:  # the AP's queue holds downlink flows; an uplink flow queues in its own station
                k_live = np.where(self.up[live], self.n_res + live, k_live)
            pos = np.minimum(np.searchsorted(gk, k_live), len(gk) - 1)
            hit_g = (gk[pos] == k_live) & (member < 0)
            member[hit_g] = np.searchsorted(keys, k_live[hit_g])
        m = member >= 0
        f, g = live[m], member[m]
        ng = len(keys)
        x = self.rate[f] / 8.0  # bytes/s served
        ss = self.win[f] < self.ssth[f]
        grow = np.where(ss, x, self.mss[f] * x / np.maximum(self.win[f], self.mss[f]))
        served = np.bincount(g, x, minlength=ng)
        grown = np.bincount(g, grow, minlength=ng)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(served > 0, grown / (served + grown), 0.0)
            rtt_eff = self.rtt[f] + np.where(served[g] > 0, total[g] / served[g], 0.0)
        arrivals = np.maximum(1, np.round((x + grow) * rtt_eff / self.mss[f])).astype(np.int64)
        is_codel = target_g[g] > 0
        lost = self.rng.binomial(arrivals, p[g])
        if is_codel.any():  # one packet from each flow above its fair part of the queue
            qf = np.maximum(0.0, self.win[f] - self.rate[f] * self.rtt[f] / 8.0)
            n_g = np.bincount(g, minlength=ng)
            fair = total[g] / np.maximum(1, n_g[g])
            lost = np.where(is_codel, (qf >= fair * (1 - 1e-9)).astype(np.int64), lost)
        hit = lost > 0
        if not hit.any():
            return False
        for j in np.unique(g[hit & is_codel]).tolist():
            last, count = self._codel.get(int(keys[j]), (-math.inf, 0))
            self._codel[int(keys[j])] = (self.t, (0 if self.t - last > 2 * self.codel_interval else count) + 1)
        self.losses += len(np.unique(g[hit]))
        g_after = np.bincount(g, np.where(hit, 0.0, grow), minlength=ng)
        with np.errstate(divide="ignore", invalid="ignore"):
            p_after = np.where(served > 0, g_after / (served + g_after), 0.0)
        retx_lost = (self.rng.random(len(f)) < 1.0 - (1.0 - p_after[g]) ** lost) & ~is_codel
        rem_segs = self.rem[f] / 8.0 / self.mss[f]
        dup = self.dupthresh[f]
        rto = hit & (retx_lost | (arrivals - lost < dup) | (rem_segs < dup))
        cut = np.maximum(2 * self.mss[f], self.win[f] * self.beta[f])  # of the flight the path held
        fh, fr = f[hit], f[rto]
        self.ssth[fh] = cut[hit]
        self.win[fh] = cut[hit]
        self.timeouts += len(fr)
        self.paused[fr] = self.t + rtt_eff[rto] + np.maximum(self.min_rto[fr], 3 * self.rtt[fr])
        self.win[fr] = self.mss[fr]
        return True

    def _schedule_tcp(self, idx: np.ndarray) -> None:
        """The next ramp (a window-limited flow doubles), queue overflow or timeout's end."""
        nxt = math.inf
        tcp = self.tcp[idx]
        if not tcp.any():
            self._next_event = nxt
            return
        i = idx[tcp]
        paused = self.paused[i]
        wait = paused[paused > self.t]
        if len(wait):
            nxt = float(wait.min())
        r = self.rate[i]
        active = (paused <= self.t) & (r > 0)
        rtt_all = self.rtt[i] + self.qdelay[i]
        cap = self.win[i] * 8.0 / rtt_all
        # the window limits (and can still grow): it doubles per RTT in slow start, the share may not
        limited = active & (r >= cap * (1 - 1e-9)) & (self.win[i] < self.wmax[i])
        if limited.any():
            w, ss = self.win[i][limited], self.ssth[i][limited]
            rtt = rtt_all[limited]
            x = r[limited] / 8.0
            t_ss = np.where(w < ss, np.minimum(rtt, np.maximum((ss - w) / x, 0.25 * rtt)), 4 * rtt)
            nxt = min(nxt, self.t + float(t_ss.min()))
        grp = self._groups(idx)
        if grp is not None:
            sel, keys, first, inv, q, total, served, fifo_g, target_g, cap = grp
            f = idx[sel]
            x = self.rate[f] / 8.0
            ss = (self.win[f] < self.ssth[f]) & (self.win[f] < self.wmax[f])
            grow = np.where(ss, x, self.mss[f] * x / np.maximum(self.win[f], self.mss[f]))
            grow = np.where(self.win[f] >= self.wmax[f], 0.0, grow)
            gr = np.bincount(inv, grow)
            with np.errstate(divide="ignore", invalid="ignore"):
                t_full = np.where(gr > 0, (cap - total) / gr, np.inf)
            for j in np.flatnonzero(target_g > 0).tolist():  # CoDel: not before its next drop is due
                last, count = self._codel.get(int(keys[j]), (-math.inf, 0))
                if count and self.t - last <= 2 * self.codel_interval:
                    t_full[j] = max(t_full[j], last + self.codel_interval / math.sqrt(count) - self.t)
            if len(t_full):
                nxt = min(nxt, self.t + max(1e-6, float(t_full.min())))
        self._next_event = nxt

    # ------------------------------------------------------------ allocation
    def _allocate(self, idx: np.ndarray) -> None:
        """Bottom-up water-filling; a second pass hands airtime freed by wired limits back to the radio.

        Airtime is not a plain capacity (a station's cost is c_i), so when a
        wired level lowers some stations of an AP, other stations of the same
        AP may use the airtime freed: pass 2 re-fills the radios with the
        wired-limited flows frozen at their rates, then re-applies the wired levels.
        """
        demand = self._demand(idx)
        rate, limit = self._pass(idx, demand, 0)
        if (limit > 0).any() and (limit == 0).any():
            frozen = limit > 0
            rate2, limit2 = self._pass(idx, np.where(frozen, rate, demand), 0)
            limit2[frozen & (limit2 < 0)] = limit[frozen & (limit2 < 0)]
            rate, limit = rate2, limit2
        self.rate[idx] = rate
        self.limit_level[idx] = limit

    def _pass(self, idx: np.ndarray, rate: np.ndarray, first: int) -> tuple[np.ndarray, np.ndarray]:
        limit = np.full(len(idx), -1)
        for lv in range(first, self.L):
            nodes = self.nodes[idx, lv]
            if lv == 0:
                w, c = self.ap_weight[idx], self.ap_cost[idx]
                capa = self.ap_capacity
            else:
                w, c = self.weight[idx], np.ones(len(idx))
                capa = self.caps[lv]
            rate, lim = waterfill(rate, w, c, nodes, capa)
            limit[lim] = lv
        return rate, limit
