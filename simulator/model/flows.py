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
           "win", "ssth", "rtt", "mss", "min_rto", "dupthresh", "tcp", "paused", "up", "segs", "started")


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
                 t_lo: float = 0.0, buffers: list[np.ndarray] | None = None, seed: int = 0):
        self.t_lo = t_lo
        self.caps = capacities
        self.offset = resource_offset
        self.offset_arr = np.asarray(resource_offset, np.int64)
        self.L = len(capacities)
        self.n_res = n_resources
        self.buffers = buffers
        if buffers is not None:
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
        self.tcp[i] = tcp is not None
        if tcp is not None:
            self.win[i], self.ssth[i], self.rtt[i] = tcp.window, np.inf, tcp.rtt
            self.mss[i], self.min_rto[i], self.dupthresh[i] = tcp.mss, tcp.min_rto, tcp.dupthresh
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
        self.win[i] = grown

    def _demand(self, idx: np.ndarray) -> np.ndarray:
        d = np.minimum(self.demand[idx], 1e15)
        tcp = self.tcp[idx]
        if tcp.any():
            d = np.where(tcp, np.minimum(d, self.win[idx] * 8.0 / self.rtt[idx]), d)
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
        buf = self._buf_flat[self._buf_off[lv] + node]
        return sel, key, q, buf

    def _drops(self, idx: np.ndarray) -> bool:
        """Drop episodes at nodes whose queue exceeds the buffer; True when windows changed.

        Every TCP flow through the node sends into the full queue for one
        (queue-lengthened) round trip: its arrivals are x·RTT plus its growth
        (slow start: as much again), each dropped with the node's excess rate
        p = Σgrowth / (service + Σgrowth). A flow with losses retransmits them
        while the flows that lost nothing keep growing (drop rate p'); a lost
        retransmission, fewer than ``dupthresh`` surviving segments, or a loss
        in the last ``dupthresh`` segments costs a timeout; otherwise the
        window halves (fast recovery, RFC 5681/6675).
        """
        qs = self._queues(idx)
        if qs is None:
            return False
        sel, key, q, buf = qs
        keys, first, inv = np.unique(key, return_index=True, return_inverse=True)
        total = np.bincount(inv, q)
        cap = np.bincount(inv, buf) / np.bincount(inv)
        over = np.flatnonzero(total >= cap * (1 - 1e-9))
        if not len(over):
            return False
        f_lim = idx[sel]
        lv_lim = self.limit_level[f_lim]
        live = idx[self.tcp[idx] & (self.paused[idx] <= self.t)]
        for g in over.tolist():
            j0 = int(first[g])
            lv, fi = int(lv_lim[j0]), int(f_lim[j0])
            if lv == 0 and self.up[fi]:
                f = np.array([fi])  # a station's own queue
            else:
                f = live[(self.nodes[live, lv] == self.nodes[fi, lv]) & (self.up[live] == self.up[fi])]
            x = self.rate[f] / 8.0  # bytes/s served
            ss = self.win[f] < self.ssth[f]
            grow = np.where(ss, x, self.mss[f] * x / np.maximum(self.win[f], self.mss[f]))
            served = float(x.sum())
            if served <= 0:
                continue
            p = grow.sum() / (served + grow.sum())
            rtt_eff = self.rtt[f] + total[g] / served
            arrivals = np.maximum(1, np.round((x + grow) * rtt_eff / self.mss[f])).astype(np.int64)
            lost = self.rng.binomial(arrivals, p)
            hit = lost > 0
            if not hit.any():
                continue
            self.losses += 1
            g_after = float(grow[~hit].sum())
            p_after = g_after / (served + g_after)
            retx_lost = self.rng.random(len(f)) < 1.0 - (1.0 - p_after) ** lost
            rem_segs = self.rem[f] / 8.0 / self.mss[f]
            dup = self.dupthresh[f]
            rto = hit & (retx_lost | (arrivals - lost < dup) | (rem_segs < dup))
            half = np.maximum(2 * self.mss[f], self.win[f] / 2)  # the flight the path held, halved
            for j in np.flatnonzero(hit).tolist():
                i = int(f[j])
                self.ssth[i] = half[j]
                if rto[j]:
                    self.timeouts += 1
                    self.paused[i] = self.t + rtt_eff[j] + max(self.min_rto[i], 3 * self.rtt[i])
                    self.win[i] = self.mss[i]
                else:
                    self.win[i] = half[j]
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
        cap = self.win[i] * 8.0 / self.rtt[i]
        limited = active & (r >= cap * (1 - 1e-9))  # the window limits: it grows, the share may not
        if limited.any():
            w, ss = self.win[i][limited], self.ssth[i][limited]
            rtt = self.rtt[i][limited]
            x = r[limited] / 8.0
            t_ss = np.where(w < ss, np.minimum(rtt, np.maximum((ss - w) / x, 0.25 * rtt)), 4 * rtt)
            nxt = min(nxt, self.t + float(t_ss.min()))
        qs = self._queues(idx)
        if qs is not None:
            sel, key, q, buf = qs
            f = idx[sel]
            x = self.rate[f] / 8.0
            ss = self.win[f] < self.ssth[f]
            grow = np.where(ss, x, self.mss[f] * x / np.maximum(self.win[f], self.mss[f]))
            keys, inv = np.unique(key, return_inverse=True)
            total = np.bincount(inv, q)
            cap = np.bincount(inv, buf) / np.bincount(inv)
            g = np.bincount(inv, grow)
            with np.errstate(divide="ignore", invalid="ignore"):
                t_full = np.where(g > 0, (cap - total) / g, np.inf)
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
