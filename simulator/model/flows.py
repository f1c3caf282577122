"""TCP at flow level: max-min fair sharing over a tree of links, with the slow-start ramp.

Sources:

- Max-min fairness by progressive filling (water-filling): D. Bertsekas,
  R. Gallager, *Data Networks*, §6.5. Concurrent bulk TCP flows on shared
  links converge to (approximately) max-min fair shares; a browser's k
  parallel connections to one host count k times (weight k).
- RFC 6928 (initial window 10 segments) and RFC 5681 (slow start doubles
  cwnd every RTT): a transfer of S bytes needs ~⌈log2(S/IW + 1)⌉ round trips
  before bandwidth matters, so short requests cost round trips.
- Wi-Fi airtime as a shared capacity (``wifi.py``): with airtime fairness the
  AP's constraint is Σ x_i/e_i ≤ 1 with weights e_i (equal airtime); without
  it, weights 1 (equal throughput, Heusse 2003 performance anomaly).

The network seen by bulk flows is a tree (AP radio → AP port → school switch
→ site uplink → city core → data centre → content egress), every flow running
from a leaf to the root. On a tree of plain capacities, applying each node's
water level bottom-up, once, gives the max-min allocation (a node's level only
lowers flows that nothing below limits more). Airtime is not a plain capacity
(a station's cost is 1/e_i), so a second pass re-fills the radios with the
wired-limited flows frozen and re-applies the wired levels (``_allocate``).
Each level is solved for all of its nodes at once with numpy (sort by
saturation level, cumulative sums per node); a level whose nodes are all under
capacity costs one ``bincount``.

Locality and batching: the whole city is recomputed in one vectorised call,
but only at flow arrivals and completions, batched in a window proportional
to the number of active flows (``gap_per_flow``, capped by ``max_gap``): with
F flows a recompute costs O(F log F) and happens at most every F·gap seconds,
so the cost per simulated second stays O(log F), and a run grows about
linearly with devices. Flows that finish inside a window get their exact
completion time (rates are constant between recomputes); a flow that arrives
inside one starts at the window's end (a delay of at most F·gap, 0.2 ms per
active flow — under 1 % of any transfer that shares with that many flows).

Slow start is not part of the fluid: a transfer first runs its slow-start
rounds analytically against its expected share (``slow_start``), and only
the rest enters the fluid, so short requests cost round trips and nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["MSS", "IW_SEGMENTS", "slow_start", "transfer_time", "waterfill", "FluidNetwork", "Completion"]

MSS = 1460.0
IW_SEGMENTS = 10


def slow_start(size: float, rate: float, rtt: float, connections: int = 1) -> tuple[int, float]:
    """Slow-start rounds before a flow of ``size`` bytes reaches ``rate`` (bit/s), and the bytes sent in them.

    Each of ``connections`` connections starts with IW = 10 × MSS (RFC 6928) and
    doubles per RTT. Returns (rounds, bytes) — bytes ≥ size when it ends in slow start.
    """
    iw = IW_SEGMENTS * MSS * max(1, connections)
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


class FluidNetwork:
    """Bulk flows over a tree of capacities, advanced between events at constant max-min rates.

    ``levels`` lists, per tree level from leaf to root, the capacity of each
    node (array). A flow carries one node index per level, a weight (parallel
    connections), a demand cap (bit/s), and for the first level (the AP radio)
    an airtime cost 1/e and a water-filling weight (e for airtime fairness, 1
    without). Loads are integrated per resource for utilisation sampling.
    """

    def __init__(self, capacities: list[np.ndarray], resource_offset: list[int], n_resources: int,
                 sample_dt: float, n_bins: int, gap_per_flow: float = 2e-5, max_gap: float = 0.25,
                 t_lo: float = 0.0):
        self.t_lo = t_lo
        self.caps = capacities
        self.offset = resource_offset
        self.L = len(capacities)
        self.n_res = n_resources
        self.dt = sample_dt
        self.busy = np.zeros((n_bins + 1, n_resources))  # ∫ utilisation dt per bin
        self.waiting = np.zeros((n_bins + 1, n_resources))  # ∫ flows limited here dt per bin
        self.gap_per_flow, self.max_gap = gap_per_flow, max_gap
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
        self.tokens: list[object] = [None] * cap
        self.free = list(range(cap - 1, -1, -1))
        self.pending: list[int] = []
        self.t = t_lo
        self.last_recompute = -math.inf
        self.recomputes = 0

    # ------------------------------------------------------------ flows
    def _grow(self) -> None:
        old = len(self.rem)
        new = old * 2
        for name in ("nodes", "weight", "ap_weight", "ap_cost", "phy_cls", "demand", "rem", "rate", "limit_level",
                     "active"):
            a = getattr(self, name)
            shape = (new,) + a.shape[1:]
            b = np.zeros(shape, a.dtype)
            b[:old] = a
            setattr(self, name, b)
        self.tokens.extend([None] * old)
        self.free.extend(range(new - 1, old - 1, -1))

    def add(self, nodes: tuple[int, ...], bits: float, weight: float, token: object,
            demand: float = math.inf, cls: int = 0) -> int:
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
        self.tokens[i] = token
        self.pending.append(i)
        return i

    @property
    def n_active(self) -> int:
        return int(self.active.sum())

    def next_time(self) -> float:
        """When the network next needs an update: earliest completion, not sooner than the batching gap."""
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
        return max(t_done, soonest)

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
        if not hasattr(self, "offset_arr"):
            self.offset_arr = np.asarray(self.offset, np.int64)
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
            for j in np.flatnonzero(fin):
                i = int(idx[j])
                done.append(Completion(i, self.t + float(t_fin[j]), self.tokens[i]))
                self.active[i] = False
                self.tokens[i] = None
                self.free.append(i)
        self.t = t
        for i in self.pending:
            self.active[i] = True
        self.pending.clear()
        idx = np.flatnonzero(self.active)
        if len(idx):
            if refresh is not None:
                refresh(self, idx)
            self._allocate(idx)
        self.last_recompute = t
        self.recomputes += 1
        done.sort(key=lambda c: c.end_s)
        return done

    def _allocate(self, idx: np.ndarray) -> None:
        """Bottom-up water-filling; a second pass hands airtime freed by wired limits back to the radio.

        Airtime is not a plain capacity (a station's cost is 1/e_i), so when a
        wired level lowers some stations of an AP, slower stations of the same
        AP may use the airtime freed: pass 2 re-fills the radios with the
        wired-limited flows frozen at their rates, then re-applies the wired levels.
        """
        demand = np.minimum(self.demand[idx], 1e15)
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
