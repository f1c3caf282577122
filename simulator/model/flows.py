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
from typing import NamedTuple

import numpy as np

from .plain import SMALL, NotPlain
from .tcp import TcpState

__all__ = ["MSS", "IW_SEGMENTS", "slow_start", "transfer_time", "waterfill", "waterfill_py", "waterfill_rates",
           "FluidNetwork", "Completion", "TcpFlow"]

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


def waterfill(demand: np.ndarray, weight: np.ndarray, cost: np.ndarray | None, group: np.ndarray,
              capacity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted max-min fair rates for flows in groups sharing one capacity each.

    Each group g solves Σ_i cost_i · min(demand_i, L_g · weight_i) = capacity_g
    for its water level L_g (∞ when the demands fit). Returns the new rates
    and a mask of the flows this level limited. ``cost`` None: 1 for every flow.
    """
    n = len(demand)
    dcost = demand if cost is None else demand * cost
    used = np.bincount(group, dcost, minlength=len(capacity))
    over = used > capacity * (1 + 1e-12)
    if not over.any():
        return demand, np.zeros(n, bool)
    sel = over[group].nonzero()[0]
    g, d, w = group[sel], demand[sel], weight[sel]
    lam = d / w
    n_over = int(np.count_nonzero(over))
    order = _by_group_then_level(lam, g, len(capacity), n_over)
    if n_over == 1:
        return _waterfill_one(demand, cost, sel, order, d, w, lam, capacity[over][0])
    g = g[order]
    d, w, lam, back, dc, wc = _sorted_run(cost, sel, order, d, w, lam)
    cum_dc = np.cumsum(dc)
    cum_wc = np.cumsum(wc)
    # the groups present, each's first position in the sorted run
    head = np.concatenate(([True], g[1:] != g[:-1])).nonzero()[0]
    gid = g[head]
    start_dc = np.zeros(len(capacity))
    start_wc = np.zeros(len(capacity))
    start_dc[gid] = np.concatenate(([0.0], cum_dc))[head]  # Σ before the group (as in the running sums)
    start_wc[gid] = np.concatenate(([0.0], cum_wc))[head]
    total_wc = np.bincount(g, wc, minlength=len(capacity))
    before_dc = cum_dc - dc - start_dc[g]  # Σ of flows strictly before i in its group
    after_wc = total_wc[g] - (cum_wc - wc - start_wc[g])  # Σ w·c of flows i.. end
    fill_at = before_dc + lam * after_wc  # capacity used if the level were lam_i
    binding = fill_at >= capacity[g] * (1 - 1e-12)
    # first binding index per group
    idx = binding.nonzero()[0]
    gb = g[idx]
    firsts = idx[np.concatenate(([True], gb[1:] != gb[:-1]))]
    level = np.full(len(capacity), np.inf)
    level[g[firsts]] = (capacity[g[firsts]] - before_dc[firsts]) / after_wc[firsts]
    new = np.minimum(d, level[g] * w)
    limited = new < d * (1 - 1e-12)
    out = demand.copy()
    lim = np.zeros(n, bool)
    out[back] = new
    lim[back] = limited
    return out, lim


def _sorted_run(cost, sel, order, d, w, lam):
    """The over-capacity flows in ``order``: (demand, weight, level, their indices in the input, demand·cost,
    weight·cost); without ``cost`` the products are the demands and weights themselves."""
    d, w, lam, back = d[order], w[order], lam[order], sel[order]
    if cost is None:
        return d, w, lam, back, d, w
    c = cost[back]
    return d, w, lam, back, d * c, w * c


def _waterfill_one(demand, cost, sel, order, d, w, lam, cap) -> tuple[np.ndarray, np.ndarray]:
    """``waterfill``'s general path when one group is over its capacity (a city's shared top): the same
    arithmetic without the per-group bookkeeping. Bit-identical: the group's running sums start at 0.0
    (x − 0.0 = x), and ``bincount``'s total of the sorted run is the last running sum (both add in order)."""
    d, w, lam, back, dc, wc = _sorted_run(cost, sel, order, d, w, lam)
    cum_dc = np.cumsum(dc)
    cum_wc = np.cumsum(wc)
    before_dc = cum_dc - dc
    after_wc = cum_wc[-1] - (cum_wc - wc)
    binding = (before_dc + lam * after_wc >= cap * (1 - 1e-12)).nonzero()[0]
    out = demand.copy()
    lim = np.zeros(len(demand), bool)
    if len(binding):
        k = binding[0]
        new = np.minimum(d, (cap - before_dc[k]) / after_wc[k] * w)
        out[back] = new
        lim[back] = new < d * (1 - 1e-12)
    else:
        out[back] = d
    return out, lim


def _by_group_then_level(lam: np.ndarray, g: np.ndarray, n_groups: int, n_present: int) -> np.ndarray:
    """The permutation of ``np.lexsort((lam, g))`` (two stable sorts: by level, then by group), cheaper.

    A stable sort's result is fixed by the order of its keys, so equal keys
    give the same permutation: non-negative floats order as their bit
    patterns read as unsigned integers (``+ 0.0`` turns -0.0 into +0.0;
    anything negative or NaN takes the float sort), which NumPy's timsort
    compares faster; group ids below 2^16 sort as 16-bit integers (NumPy's
    radix sort); one group needs no second sort.
    """
    lam = lam + 0.0
    lo = lam.min() if len(lam) else 0.0
    if lo >= 0.0:  # False for NaN
        order = np.argsort(lam.view(np.uint64), kind="stable")
    else:
        order = np.argsort(lam, kind="stable")
    if n_present <= 1:
        return order
    go = g[order]
    if n_groups <= 65536:
        go = go.astype(np.uint16)
    return order[np.argsort(go, kind="stable")]


def waterfill_py(demand: list[float], weight: list[float], cost: list[float] | None, group: list[int],
                 capacity: np.ndarray) -> tuple[list[float], list[int]]:
    """``waterfill`` on Python lists for a few flows (the same arithmetic in the same order, bit-identical):
    the new rates and the positions this level limited. NumPy's per-call cost (~1-3 µs a call, some 20
    calls) dominates a classroom's recompute; Python floats are the same IEEE doubles, ``bincount`` and
    ``cumsum`` add in index order as the loops here do, and ``sorted`` is stable like the stable argsorts.
    Raises ``NotPlain`` where those semantics part (NaN, weight ≤ 0, a level ≤ 0): the caller uses NumPy.
    ``capacity`` must be ≥ 0 (a group without flows is then never over)."""
    used: dict[int, float] = {}
    if cost is None:
        for g, d in zip(group, demand):
            used[g] = used.get(g, 0.0) + d
    else:
        for g, d, c in zip(group, demand, cost):
            used[g] = used.get(g, 0.0) + d * c
    over = {g for g, u in used.items() if u > float(capacity[g]) * (1 + 1e-12)}
    if not over:
        return demand, []
    sel = [i for i, g in enumerate(group) if g in over]
    lam = []
    for i in sel:
        w = weight[i]
        if not w > 0.0:
            raise NotPlain
        v = demand[i] / w
        if v != v:
            raise NotPlain
        lam.append(v)
    order = sorted(range(len(sel)), key=lam.__getitem__)  # stable, as argsort(kind="stable")
    if len(over) > 1:
        order.sort(key=lambda j: group[sel[j]])  # then by group, stable
    back = [sel[j] for j in order]
    d = [demand[i] for i in back]
    w = [weight[i] for i in back]
    lam = [lam[j] for j in order]
    if cost is None:
        dc, wc = d, w
    else:
        c = [cost[i] for i in back]
        dc = [a * b for a, b in zip(d, c)]
        wc = [a * b for a, b in zip(w, c)]
    out = list(demand)
    lim: list[int] = []
    n = len(back)
    if len(over) == 1:  # _waterfill_one
        cap = float(capacity[group[back[0]]])
        cum_dc, cum_wc = _cumsum(dc), _cumsum(wc)
        total = cum_wc[-1]
        bar = cap * (1 - 1e-12)
        for k in range(n):
            before = cum_dc[k] - dc[k]
            after = total - (cum_wc[k] - wc[k])
            if before + lam[k] * after >= bar:
                level = (cap - before) / after
                if not level > 0.0:
                    raise NotPlain
                for i, dd, ww in zip(back, d, w):
                    x = level * ww
                    if x < dd:
                        out[i] = x
                        if x < dd * (1 - 1e-12):
                            lim.append(i)
                break
        return out, lim
    # several groups over: the running sums run across the sorted groups, each group's start subtracted
    cum_dc, cum_wc = _cumsum(dc), _cumsum(wc)
    start_dc: dict[int, float] = {}
    start_wc: dict[int, float] = {}
    total_wc: dict[int, float] = {}
    gs = [group[i] for i in back]
    for k, g in enumerate(gs):
        if g not in start_dc:
            start_dc[g] = cum_dc[k - 1] if k else 0.0
            start_wc[g] = cum_wc[k - 1] if k else 0.0
        total_wc[g] = total_wc.get(g, 0.0) + wc[k]
    level_of: dict[int, float] = {}
    for k, g in enumerate(gs):
        if g in level_of:
            continue
        before = cum_dc[k] - dc[k] - start_dc[g]
        after = total_wc[g] - (cum_wc[k] - wc[k] - start_wc[g])
        cap = float(capacity[g])
        if before + lam[k] * after >= cap * (1 - 1e-12):
            level = (cap - before) / after
            if not level > 0.0:
                raise NotPlain
            level_of[g] = level
    for i, g, dd, ww in zip(back, gs, d, w):
        level = level_of.get(g)
        if level is None:
            continue
        x = level * ww
        if x < dd:
            out[i] = x
            if x < dd * (1 - 1e-12):
                lim.append(i)
    return out, lim


def waterfill_rates(demand: np.ndarray, weight: np.ndarray, cost: np.ndarray | None, group: np.ndarray,
                    capacity: np.ndarray) -> np.ndarray:
    """``waterfill``'s rates alone, in plain Python (``waterfill_py``) for at most ``SMALL`` flows: bit-identical."""
    if len(demand) <= SMALL:
        try:
            return np.array(waterfill_py(demand.tolist(), weight.tolist(), None if cost is None else cost.tolist(),
                                         group.tolist(), capacity)[0])
        except NotPlain:
            pass
    return waterfill(demand, weight, cost, group, capacity)[0]


def _cumsum(xs: list[float]) -> list[float]:
    """``np.cumsum``: running sums in order (the first is the first value itself)."""
    out, acc = [], None
    for x in xs:
        acc = x if acc is None else acc + x
        out.append(acc)
    return out


class Completion(NamedTuple):
    """A flow that finished: its slot, its exact end time, the token it was added with (a tuple: cheap to make)."""

    flow: int
    end_s: float
    token: object


_ARRAYS = ("nodes", "res", "weight", "ap_weight", "ap_cost", "phy_cls", "demand", "rem", "rate", "limit_level", "active",
           "win", "ssth", "rtt", "mss", "min_rto", "dupthresh", "tcp", "paused", "up", "segs", "started", "wmax",
           "beta", "qdelay", "_wired_delay", "fsite", "station")


class FluidNetwork(TcpState):
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
                 codel: list[np.ndarray] | None = None, codel_interval: float = 0.1, n_sites: int = 1,
                 site_level: int = 2):
        self.t_lo = t_lo
        self.caps = capacities
        self.offset = resource_offset
        self.offset_arr = np.asarray(resource_offset, np.int64)
        # the capacities per resource index (when the levels' resources are laid out in order; set_capacity
        # keeps it up to date), for _integrate's one gather
        lay = list(np.cumsum([0] + [len(c) for c in capacities[:-1]]))
        self._cap_flat = np.concatenate(capacities) if lay == list(resource_offset) and sum(
            len(c) for c in capacities) == n_resources else None
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
        self.res = np.zeros((cap, self.L), np.int64)  # resource index per level (offset + node)
        self.weight = np.ones(cap)
        self.ap_weight = np.ones(cap)
        self.ap_cost = np.ones(cap)
        self.phy_cls = np.zeros(cap, np.int64)  # the station's radio class (engine: airtime per station)
        self.ap_capacity = np.ones(len(capacities[0]))  # airtime left to bulk flows (short exchanges take some)
        self.shared_fifo = np.ones(len(capacities[0]), bool)  # radio serves one FIFO (no per-station queues)
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
        self._wired_delay = np.zeros(cap)  # the part of qdelay at a wired bottleneck (tcp.TcpState)
        self.station = np.full(cap, -1, np.int64)  # device index where its flows in both directions meet (or -1)
        self._groups_memo = None  # (idx, TcpState._groups(idx)) while the queues are unchanged
        self._fifo_memo = None  # (idx, TcpState._radio_fifo_delay(idx)) of the last allocation
        self._nodes_memo = None  # [idx, per level the nodes of idx, their weights, the same as lists] (``_pass``)
        self._floors: list[float] | None = None  # per level, its smallest capacity (``_allocate``)
        self.tokens: list[object] = [None] * cap
        self._spec: dict[int, tuple] = {}  # queued flows (``add``) until ``update`` admits and writes them
        self.free = list(range(cap - 1, -1, -1))
        self.pending: list[int] = []
        self.generation = 0  # flows added so far: with the active indices it names a flow set (slots are reused)
        self.t = t_lo
        self.n_sites, self.site_level = n_sites, site_level
        self.local_levels = self.L if n_sites <= 1 else min(self.L, site_level + 2)
        self.fsite = np.zeros(cap, np.int64)
        self.ts = np.full(n_sites, float(t_lo))  # per site: time its flows were last advanced to
        self.site_rc = np.full(n_sites, -math.inf)  # per site: last recompute
        self.site_flows = np.zeros(n_sites, np.int64)  # per site: active + pending flows
        self.n_flows = 0  # their sum (a Python int: read at every arrival)
        self._due: float | None = None  # min of next_done and next_ev, kept until the next update writes them
        self.site_pending = np.zeros(n_sites, np.int64)  # per site: flows waiting for their first recompute
        self.next_done = np.full(n_sites, math.inf)  # per site: earliest completion at current rates
        self.next_ev = np.full(n_sites, math.inf)  # per site: next TCP event (ramp, drop, timeout end)
        self.top_load = np.zeros((n_sites, 2))  # per site: bit/s through the shared top (down, up)
        self.last_recompute = -math.inf
        self.recomputes = 0
        self.losses = 0
        self.timeouts = 0

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
            demand: float = math.inf, cls: int = 0, tcp: TcpFlow | None = None, up: bool = False,
            station: int = -1) -> int:
        """Queue a flow; it starts sharing at the next recompute (``update``, which writes its arrays)."""
        if not self.free:
            self._grow()
        i = self.free.pop()
        self._spec[i] = (nodes, bits, weight, demand, cls, tcp, up, station)
        self.tokens[i] = token
        self.generation += 1
        site = int(nodes[self.site_level]) % self.n_sites if self.n_sites > 1 else 0
        self.fsite[i] = site
        self.site_flows[site] += 1
        self.n_flows += 1
        self.site_pending[site] += 1
        self.pending.append(i)
        return i

    def _write(self, adm: list[int]) -> None:
        """The per-flow arrays of flows being admitted, from what ``add`` queued: one slot at a time for a
        few, one fancy assignment per array for many (the same values either way)."""
        specs = [self._spec.pop(i) for i in adm]
        if len(adm) <= 4:
            for i, (nodes, bits, weight, demand, cls, tcp, up, station) in zip(adm, specs):
                self.nodes[i] = nodes
                self.res[i] = self.offset_arr + self.nodes[i]
                self.phy_cls[i] = cls
                self.weight[i] = weight
                self.demand[i] = demand
                self.rem[i] = bits
                self.rate[i] = 0.0
                self.limit_level[i] = -1
                self.up[i] = up
                self.station[i] = station
                self.paused[i] = -np.inf
                self.qdelay[i] = 0.0
                self._wired_delay[i] = 0.0
                self.tcp[i] = tcp is not None
                if tcp is not None:
                    self.win[i], self.ssth[i], self.rtt[i] = min(tcp.window, tcp.max_window), np.inf, tcp.rtt
                    self.mss[i], self.min_rto[i], self.dupthresh[i] = tcp.mss, tcp.min_rto, tcp.dupthresh
                    self.wmax[i], self.beta[i] = tcp.max_window, tcp.beta
                else:
                    self.win[i], self.ssth[i] = np.inf, np.inf
            return
        a = np.array(adm, np.int64)
        nodes = np.array([s[0] for s in specs], np.int64)
        self.nodes[a] = nodes
        self.res[a] = self.offset_arr + nodes
        self.weight[a] = [s[2] for s in specs]
        self.demand[a] = [s[3] for s in specs]
        self.rem[a] = [s[1] for s in specs]
        self.phy_cls[a] = [s[4] for s in specs]
        self.up[a] = [s[6] for s in specs]
        self.station[a] = [s[7] for s in specs]
        self.rate[a] = 0.0
        self.limit_level[a] = -1
        self.paused[a] = -np.inf
        self.qdelay[a] = 0.0
        self._wired_delay[a] = 0.0
        has = [s[5] is not None for s in specs]
        self.tcp[a] = has
        self.win[a] = np.inf
        self.ssth[a] = np.inf
        tcps = [s[5] for s in specs if s[5] is not None]
        if tcps:  # a plain fluid flow keeps the slot's other TCP fields (unused for it), as one at a time does
            t = a[np.array(has)]
            self.win[t] = [min(c.window, c.max_window) for c in tcps]
            self.rtt[t] = [c.rtt for c in tcps]
            self.mss[t] = [c.mss for c in tcps]
            self.min_rto[t] = [c.min_rto for c in tcps]
            self.dupthresh[t] = [c.dupthresh for c in tcps]
            self.wmax[t] = [c.max_window for c in tcps]
            self.beta[t] = [c.beta for c in tcps]

    @property
    def n_active(self) -> int:
        return int(self.active.sum())

    def gap(self, site: int | None = None) -> float:
        """The batching window: proportional to the flows sharing the bottlenecks (a site's, or all)."""
        n = self.n_flows if site is None else self.site_flows.item(site)
        return min(self.max_gap, self.gap_per_flow * n)

    def next_time(self, site: int | None = None) -> float:
        """When the network (or one site) next needs an update: earliest completion or TCP event, or a
        pending flow's admission, not sooner than the last recompute plus the batching window."""
        if site is None:
            if self.n_flows == 0:
                return math.inf
            soonest = self.last_recompute + self.gap()
            due = self._due
            if due is None:  # only update writes next_done and next_ev
                due = self._due = float(min(self.next_done.min(), self.next_ev.min()))
            if self.pending:
                due = min(due, self.t)
            return max(due, soonest) if due < math.inf else math.inf
        n = self.site_flows.item(site)  # scalars read as Python numbers (cheaper than NumPy scalars; the same values)
        if n == 0:
            return math.inf
        due = min(self.next_done.item(site), self.next_ev.item(site))
        if self.site_pending.item(site):
            due = min(due, self.ts.item(site))
        return max(due, self.site_rc.item(site) + self.gap(site)) if due < math.inf else math.inf

    def next_times(self, sites: np.ndarray) -> np.ndarray:
        """``next_time`` of several sites at once (the same arithmetic, vectorised)."""
        due = np.minimum(self.next_done[sites], self.next_ev[sites])
        due = np.where(self.site_pending[sites] > 0, np.minimum(due, self.ts[sites]), due)
        gap = np.minimum(self.max_gap, self.gap_per_flow * self.site_flows[sites])
        t = np.where(due < math.inf, np.maximum(due, self.site_rc[sites] + gap), math.inf)
        return np.where(self.site_flows[sites] == 0, math.inf, t)

    # ------------------------------------------------------------ time
    def _integrate(self, t0s: np.ndarray, t1: float, idx: np.ndarray) -> None:
        """Add the flows' load per resource and sampling bin over [t0_i, t1] (t0 per flow: its site's clock).

        One weighted ``bincount`` per sampling bin the interval touches (usually one), for all sites at once.
        """
        if len(idx) == 0:
            return
        res = self.res[idx]  # [flow, level] resource index
        rates = self.rate[idx]
        vals = np.empty(res.shape)
        vals[:, 0] = rates * self.ap_cost[idx]
        if self._cap_flat is not None:  # every wired level's capacity in one gather (the same divisions)
            vals[:, 1:] = rates[:, None] / self._cap_flat[res[:, 1:]]
        else:
            for lv in range(1, self.L):
                vals[:, lv] = rates / self.caps[lv][self.nodes[idx, lv]]
        ll = self.limit_level[idx]
        has = ll >= 0
        wait_res = res[has, ll[has]] if has.any() else None
        res, vals = res.ravel(), vals.ravel()
        t0_min = float(t0s.min())
        # every flow from the same clock (one site, or the whole city): one span per bin, the same values
        t0 = t0_min if t0_min == float(t0s.max()) else None
        b0, b1 = int((t0_min - self.t_lo) // self.dt), int((t1 - self.t_lo) // self.dt)
        for b in range(b0, min(b1, len(self.busy) - 1) + 1):
            lo_b, hi_b = self.t_lo + b * self.dt, self.t_lo + (b + 1) * self.dt
            if t0 is not None:
                s = min(t1, hi_b) - max(t0, lo_b)
                if not s > 0:
                    continue
                self.busy[b] += np.bincount(res, vals * s, minlength=self.n_res)
                if wait_res is not None:
                    self.waiting[b] += np.bincount(wait_res, np.full(len(wait_res), s), minlength=self.n_res)
                continue
            span = np.minimum(t1, hi_b) - np.maximum(t0s, lo_b)  # each flow's time inside this bin
            if not (span > 0).any():
                continue
            span = np.maximum(span, 0.0)
            self.busy[b] += np.bincount(res, vals * np.repeat(span, self.L), minlength=self.n_res)
            if wait_res is not None:
                self.waiting[b] += np.bincount(wait_res, span[has], minlength=self.n_res)

    def set_capacity(self, level: int, nodes: slice, values: np.ndarray) -> None:
        """Set some nodes' capacities (in place: ``caps`` may be shared with the topology); change them only here."""
        self.caps[level][nodes] = values
        if self._cap_flat is not None:
            self._cap_flat[self.offset[level]:self.offset[level] + len(self.caps[level])] = self.caps[level]
        if self._floors is not None:
            self._floors[level] = float(self.caps[level].min())

    def top_saturated(self, margin: float = 0.98) -> bool:
        """Whether the shared top of the tree (city core, data centre, content) nears capacity."""
        if self.local_levels >= self.L:
            return True
        down = min(float(self.caps[lv][0]) for lv in range(self.local_levels, self.L))
        up = min(float(self.caps[lv][-1]) for lv in range(self.local_levels, self.L))
        load = self.top_load.sum(axis=0)
        return bool(load[0] > margin * down or load[1] > margin * up)

    def update(self, t: float, refresh=None, sites: np.ndarray | None = None) -> list[Completion]:
        """Advance to ``t`` at the current rates, retire finished flows, admit pending ones, recompute.

        ``sites`` given: only those sites' flows, allocated below the shared top
        of the tree (valid while ``top_saturated`` is false: then no flow is
        limited there, and sites do not interact). None: every flow, every level.
        ``refresh(net, idx, changed)`` sets the radio costs before each allocation;
        ``changed`` is None at the first, then the flows whose windows the drop
        episode just changed (nothing else moved in between).
        """
        local = sites is not None and self.n_sites > 1
        sites_arr = np.asarray(sites, np.int64) if local else np.arange(self.n_sites)
        site_mask = None
        if local:  # the sites' flows among the active ones (not a mask over every slot: slots outnumber flows)
            site_mask = np.zeros(self.n_sites, bool)
            site_mask[sites_arr] = True
        idx = self._active_in(site_mask)
        done: list[Completion] = []
        if len(idx):
            t0s = self.ts[self.fsite[idx]]
            dt = t - t0s
            self._integrate(t0s, t, idx)
            r = self.rate[idx]
            t_fin = np.divide(self.rem[idx], r, out=np.full(len(idx), np.inf), where=r > 0)
            fin = t_fin <= dt * (1 + 1e-12) + 1e-9
            self.rem[idx] -= r * dt
            self._grow_windows(idx, r, dt)
            js = fin.nonzero()[0]
            if len(js):  # retired at once: the same slots freed in the same order as one at a time
                fi = idx[js]
                tokens = self.tokens
                slots = fi.tolist()
                for i, end in zip(slots, (t0s[js] + t_fin[js]).tolist()):
                    done.append(Completion(i, end, tokens[i]))
                    tokens[i] = None
                self.active[fi] = False
                self.site_flows -= np.bincount(self.fsite[fi], minlength=self.n_sites)
                self.n_flows -= len(slots)
                self.free.extend(slots)
        self.ts[sites_arr] = t
        self.t = max(self.t, t)
        keep, adm = [], self.pending
        if local and adm:
            pend = np.array(adm, np.int64)
            take = site_mask[self.fsite[pend]]
            adm, keep = pend[take].tolist(), pend[~take].tolist()
        if adm:
            self._write(adm)
            self.active[adm] = True
            self.started[adm] = t
        self.pending = keep
        self.site_pending[sites_arr] = 0
        self.next_done[sites_arr] = math.inf
        self.next_ev[sites_arr] = math.inf
        self.top_load[sites_arr] = 0.0
        idx = self._active_in(site_mask)
        if len(idx):
            changed = None  # after a drop episode: the flows whose windows it changed (refresh only those)
            for _ in range(4):  # a drop episode changes windows: allocate again (bounded)
                self._groups_memo = None
                if refresh is not None:
                    refresh(self, idx, changed)
                self._allocate(idx, self.local_levels if local else self.L)
                changed = self._drops(idx)
                if changed is None:
                    break
            else:  # the last drop episode changed windows after its queues and FIFO delays were read
                self._groups_memo = self._fifo_memo = None
            self._queue_delays(idx)
            self._schedule_tcp(idx)
            self._groups_memo = None
            r = self.rate[idx]
            t_done = np.divide(self.rem[idx], r, out=np.full(len(idx), np.inf), where=r > 0) + t
            fs = self.fsite[idx]
            if len(sites_arr) == 1:  # one site: its earliest completion (a min is exact)
                s0 = int(sites_arr[0])
                self.next_done[s0] = min(float(self.next_done[s0]), float(t_done.min()))
            else:
                np.minimum.at(self.next_done, fs, t_done)
            # per site and direction, the rates added in flow order to the zeroed rows (np.add.at's sums;
            # the other sites' rows get + 0.0)
            self.top_load += np.bincount(2 * fs + self.up[idx], r, minlength=2 * self.n_sites).reshape(-1, 2)
        self.site_rc[sites_arr] = t
        self._due = None
        if not local:
            self.last_recompute = t
        self.recomputes += 1
        done.sort(key=lambda c: c.end_s)
        return done

    def _active_in(self, site_mask: np.ndarray | None) -> np.ndarray:
        """The active flows' slots in ascending order: all, or those of the sites ``site_mask`` marks."""
        act = self.active.nonzero()[0]
        return act if site_mask is None else act[site_mask[self.fsite[act]]]

    def _groups(self, idx: np.ndarray):
        """``TcpState._groups``, computed once per allocation: drops, queue delays and the TCP schedule all
        read the same queues (only a drop episode changes them, and ``update`` then forgets them)."""
        memo = self._groups_memo
        if memo is not None and memo[0] is idx:
            return memo[1]
        g = super()._groups(idx)
        self._groups_memo = (idx, g)
        return g

    # ------------------------------------------------------------ allocation
    def _allocate(self, idx: np.ndarray, levels: int | None = None) -> None:
        """Bottom-up water-filling; a second pass hands airtime freed by wired limits back to the radio.

        Airtime is not a plain capacity (a station's cost is c_i), so when a
        wired level lowers some stations of an AP, other stations of the same
        AP may use the airtime freed: pass 2 re-fills the radios with the
        wired-limited flows frozen at their rates, then re-applies the wired levels.
        """
        levels = self.L if levels is None else levels
        demand = self._demand(idx)
        floors = self._floors
        if floors is None:  # each level's smallest node (kept until ``set_capacity``)
            floors = self._floors = [float(c.min()) for c in self.caps]
        rate, limit = self._pass(idx, demand, levels, floors)
        if (limit > 0).any() and (limit == 0).any():
            frozen = limit > 0
            rate2, limit2 = self._pass(idx, np.where(frozen, rate, demand), levels, floors)
            limit2[frozen & (limit2 < 0)] = limit[frozen & (limit2 < 0)]
            rate, limit = rate2, limit2
        self.rate[idx] = rate
        self.limit_level[idx] = limit

    def _pass(self, idx: np.ndarray, rate: np.ndarray, levels: int, floors: list[float]
              ) -> tuple[np.ndarray, np.ndarray]:
        """One bottom-up pass: the radios, then each run of wired levels in turn (``_level_runs``).

        A run whose smallest node could carry every flow's rate at once cannot
        limit any (``waterfill`` would return the rates unchanged), so it is
        skipped: the sum after the radio bounds every later level's loads,
        since levels only lower rates. The slack 2.3e-16·n covers the rounding
        of both sums, so the skip happens only where ``waterfill``'s own test
        (a node's load above capacity·(1 + 1e-12)) is false.
        """
        memo = self._nodes_memo
        if memo is None or memo[0] is not idx:  # the flows' nodes per level and weights, once per update
            memo = self._nodes_memo = [idx, None, None, None, {}]  # idx, arrays (NumPy), lists, runs per levels
        if len(idx) <= SMALL:
            try:
                return self._pass_py(idx, rate, levels, floors, memo)
            except NotPlain:
                pass
        if memo[1] is None:
            memo[1], memo[2] = [self.nodes[idx, lv] for lv in range(self.L)], self.weight[idx]
        nodes, w = memo[1], memo[2]
        limit = np.full(len(idx), -1)
        rate, lim = waterfill(rate, self.ap_weight[idx], self.ap_cost[idx], nodes[0], self.ap_capacity)
        limit[lim] = 0
        bound = float(rate.sum()) * (1.0 + 2.3e-16 * len(idx))
        for run in self._level_runs(memo, levels):
            if bound <= min(floors[lv] for lv in run) * (1 + 1e-12):
                continue
            cap, at = self._run_capacity(run)
            group = nodes[run[0]]
            rate, lim = waterfill(rate, w, None, group, cap)
            limit[lim] = at if type(at) is int else at[group[lim]]
        return rate, limit

    def _level_runs(self, memo: list, levels: int) -> list[list[int]]:
        """The wired levels below ``levels`` in runs of consecutive levels on which every flow of ``memo``
        has the same node (school switch and site uplink; city core, data centre and content egress: one
        node per direction), found once per update.

        Water-filling a run's levels in turn equals one fill at each node's
        smallest capacity: a fill at C below the level before lowers the same
        flows further (that level's water is higher, so it lowered none that C
        does not), one at C above it finds nothing over capacity. A flow the
        run limits is attributed to the level of that smallest capacity, as the
        levels in turn did (on ties the first: the later ones find nothing over).
        """
        runs = memo[4].get(levels)
        if runs is None:
            a = self.nodes[memo[0]]
            alike = (a[:, 1:] == a[:, :-1]).all(axis=0).tolist()  # alike[lv - 1]: levels lv - 1 and lv
            runs = []
            for lv in range(1, levels):
                if runs and alike[lv - 1] and len(self.caps[lv]) == len(self.caps[runs[-1][0]]):
                    runs[-1].append(lv)
                else:
                    runs.append([lv])
            memo[4][levels] = runs
        return runs

    def _run_capacity(self, run: list[int]) -> tuple[np.ndarray, int | np.ndarray]:
        """A run's capacity per node (its levels' smallest) and the level a flow it limits is attributed
        to: the level itself, or per node the first of the run's levels with that capacity."""
        if len(run) == 1:
            return self.caps[run[0]], run[0]
        caps = np.stack([self.caps[lv] for lv in run])
        return caps.min(axis=0), np.asarray(run)[caps.argmin(axis=0)]

    def _pass_py(self, idx: np.ndarray, rate: np.ndarray, levels: int, floors: list[float], memo: list
                 ) -> tuple[np.ndarray, np.ndarray]:
        """``_pass`` for a few flows, with ``waterfill_py`` (bit-identical). The skip test's sum is Python's
        sequential one: its rounding is within the same slack (either sum's error ≤ (n−1)·2^-53 of it),
        and a level not skipped only gives the same rates again."""
        if memo[3] is None:
            memo[3] = (self.nodes[idx].T.tolist(), self.weight[idx].tolist())
        nodes, w = memo[3]
        n = len(idx)
        r = rate.tolist()
        r, lim = waterfill_py(r, self.ap_weight[idx].tolist(), self.ap_cost[idx].tolist(), nodes[0], self.ap_capacity)
        limit = [-1] * n
        for i in lim:
            limit[i] = 0
        bound = sum(r) * (1.0 + 2.3e-16 * n)
        for run in self._level_runs(memo, levels):
            if bound <= min(floors[lv] for lv in run) * (1 + 1e-12):
                continue
            cap, at = self._run_capacity(run)
            group = nodes[run[0]]
            r, lim = waterfill_py(r, w, None, group, cap)
            for i in lim:
                limit[i] = at if type(at) is int else int(at[group[i]])
        return np.array(r), np.array(limit)
