"""TCP inside the fluid: window growth, queues at bottlenecks, drop episodes, timeouts (``flows.FluidNetwork``).

Sources: RFC 5681 (slow start grows the window by the bytes acknowledged;
congestion avoidance one MSS per RTT; fast retransmit after ``dupthresh``
duplicate ACKs), RFC 6675 (SACK loss recovery), RFC 6298 (retransmission
timeout, at least ``min_rto``), RFC 9438 (CUBIC's β = 0.7), RFC 8290/8289
(fq_codel: per-flow queues, CoDel target 5 ms / interval 100 ms, drops at
interval/√count), RFC 6298 §2 (initial RTO 1 s; ns-3's ``ConnTimeout`` 3 s:
``tcp.syn_timeout``). A window's round trip on Wi-Fi: the FIFO delay from
the current windows (``_radio_fifo_delay``) and, for an upload, its own
airtime (half duplex, ``_cycle``). The mechanisms are described in ``flows``' module docstring;
this mixin holds the per-flow arrays' TCP half so ``flows`` keeps the
allocation.
"""

from __future__ import annotations

import math

import numpy as np

from .plain import SMALL, NotPlain, finite as _finite

__all__ = ["TcpState"]


def _unique(key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique(key, return_index=True, return_inverse=True)`` of integer keys, the same arrays: sorted keys, the
    first position of each, each position's group. A queue group's handful of flows in plain Python (np.unique's
    fixed cost dominates there), larger sets with one stable sort."""
    n = len(key)
    if n <= SMALL:
        kl = key.tolist()
        first: dict[int, int] = {}
        for i, k in enumerate(kl):
            first.setdefault(k, i)
        ks = sorted(first)
        pos = {k: i for i, k in enumerate(ks)}
        return (np.array(ks, key.dtype), np.array([first[k] for k in ks], np.intp),
                np.array([pos[k] for k in kl], np.intp))
    order = np.argsort(key, kind="stable")
    sk = key[order]
    flag = np.empty(n, bool)
    flag[0] = True
    np.not_equal(sk[1:], sk[:-1], out=flag[1:])
    inv = np.empty(n, np.intp)
    inv[order] = np.cumsum(flag) - 1
    return sk[flag], order[flag], inv


class TcpState:
    """TCP methods of ``FluidNetwork`` (uses its per-flow arrays: win, ssth, rtt, mss, rate, nodes, ...)."""

    def _grow_windows(self, idx: np.ndarray, r: np.ndarray, dt: np.ndarray) -> None:
        """Slow start: W += bytes acknowledged (up to ssthresh); congestion avoidance: W += MSS per RTT.

        ``r``, ``dt``: per flow of ``idx``, its rate and the time it ran at it.
        """
        tcp = self.tcp[idx]
        if not tcp.any():
            return
        i = idx[tcp]
        acked = r[tcp] * np.maximum(0.0, dt[tcp]) / 8.0
        w, ss = self.win[i], self.ssth[i]
        in_ss = w < ss
        grown = np.where(in_ss, np.minimum(w + acked, ss), w)
        ca_bytes = np.where(in_ss, np.maximum(0.0, w + acked - ss), acked)
        grown = grown + self.mss[i] * ca_bytes / np.maximum(grown, self.mss[i])
        self.win[i] = np.minimum(grown, self.wmax[i])

    def _radio_fifo_delay(self, idx: np.ndarray, reuse: bool = False) -> np.ndarray:
        """Per flow: the wait its next packets meet in its AP's shared transmit FIFO (downlink TCP; else 0).

        From the current windows, not the last allocation: the AP drains all
        windows W_j in A = Σ c_j·W_j seconds of airtime (c_j its airtime per
        bit), so a FIFO fed by them holds A − RTT of backlog — capped by what
        it can hold (the FIFO's bytes at the mean cost; fq_codel keeps the rest
        in per-flow queues in front, RFC 8290, which a new flow's packets pass).
        With this delay the windows' demands W_j/(RTT + d) just fill the
        radio, so a window-capped flow neither over- nor under-fills it.
        ``reuse``: the last result for the same ``idx``, valid while no window,
        pause or airtime cost changed since (``update`` forgets it otherwise).
        """
        memo = self._fifo_memo
        if reuse and memo is not None and memo[0] is idx:
            return memo[1]
        out = np.zeros(len(idx))
        self._fifo_memo = (idx, out)
        rooms = self.nodes[idx, 0]
        sel = self.tcp[idx] & ~self.up[idx] & self.shared_fifo[rooms] & (self.paused[idx] <= self.t)
        if self.buffers is None or not sel.any():
            return out
        f, r = idx[sel], rooms[sel]
        nr = len(self.caps[0])
        w = np.minimum(self.win[f], 1e12) * 8.0
        drain = np.bincount(r, self.ap_cost[f] * w, minlength=nr) / np.maximum(self.ap_capacity, 1e-3)
        bits = np.bincount(r, w, minlength=nr)
        rtt = np.full(nr, np.inf)
        np.minimum.at(rtt, r, self.rtt[f])
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.minimum(np.maximum(0.0, drain - rtt), drain * self.buffers[0] * 8.0 / bits)
        d = np.where(np.isnan(d), 0.0, d)  # 0/0: no bits queued (d is finite where a flow is: rtt, drain are)
        out[sel] = d[r]
        return out

    def fifo_backlog(self, room: int, now: float) -> tuple[float, float]:
        """(bytes, bytes/s): what the downlink windows of ``room`` keep queued at its AP (each window less what
        is in flight) and the rate at which they drain."""
        m = self.active & self.tcp & ~self.up & (self.nodes[:, 0] == room) & (self.paused <= now)
        queued = float(np.sum(np.maximum(0.0, self.win[m] - self.rate[m] * self.rtt[m] / 8.0)))
        return queued, float(np.sum(self.rate[m])) / 8.0

    def fifo_wait(self, room: int, now: float) -> float:
        """Seconds a new packet to a station of ``room`` waits in its AP's shared transmit FIFO (0: none there).

        A new connection's SYN-ACK passes the fq_codel stage at once (a new flow's
        queue is served first, RFC 8290 §4.1) but then joins the FIFO behind
        the downlink windows' backlog (their windows less what is in flight,
        capped at what the FIFO holds), drained at their rates: wait =
        backlog / drain (Little). ns-3 ``ax20-mcs5-n10`` (validation/tables/slow/):
        a download's first byte arrives 5-9 ms after its start in an idle room,
        45-190 ms after it when others are already running.
        """
        if self.buffers is None or not self.shared_fifo[room]:
            return 0.0
        queued, drain = self.fifo_backlog(room, now)
        return min(queued, float(self.buffers[0][room])) / drain if drain > 0.0 else 0.0

    def _cycle(self, idx: np.ndarray) -> np.ndarray:
        """A window's round trip: base RTT, queueing, and for an upload the airtime of the window itself.

        The medium is half duplex: while a station's A-MPDUs carry its window
        (its own queue holds it), the AP cannot return the TCP ACKs that
        release the next one, so a window-limited upload moves W per
        (RTT + W·c), c its airtime per bit: 1/x = c + RTT/W, not
        min(1/c, W/RTT). A download's window waits in the AP's FIFO, whose
        delay (``_radio_fifo_delay``) already holds its drain.
        """
        own = np.where(self.up[idx], self.ap_cost[idx] * np.minimum(self.win[idx], 1e12) * 8.0, 0.0)
        return self.rtt[idx] + self.qdelay[idx] + own

    def _demand(self, idx: np.ndarray) -> np.ndarray:
        if len(idx) <= SMALL:
            try:
                return self._demand_py(idx)
            except (NotPlain, ZeroDivisionError):
                pass
        d = np.minimum(self.demand[idx], 1e15)
        tcp = self.tcp[idx]
        if tcp.any():
            self.qdelay[idx] = self._wired_delay[idx] + self._radio_fifo_delay(idx)
            d = np.where(tcp, np.minimum(d, self.win[idx] * 8.0 / self._cycle(idx)), d)
        paused = self.paused[idx] > self.t
        if paused.any():
            d = np.where(paused, 0.0, d)
        return d

    def _demand_py(self, idx: np.ndarray) -> np.ndarray:
        """``_demand`` (with ``_radio_fifo_delay`` and ``_cycle``) for a few flows in plain Python, bit-identical:
        elementwise IEEE operations, min/max in NumPy's argument order on NaN-free values, and ``bincount``'s and
        ``minimum.at``'s sums and minima in index order. ``NotPlain``/``ZeroDivisionError``: NumPy's path
        (nothing written yet)."""
        d = [min(x, 1e15) for x in self.demand[idx].tolist()]
        tcp = self.tcp[idx].tolist()
        paused = (self.paused[idx] > self.t).tolist()
        if any(tcp):
            win = _finite(self.win[idx].tolist())
            up = self.up[idx].tolist()
            cost = _finite(self.ap_cost[idx].tolist())
            rtt = _finite(self.rtt[idx].tolist())
            wired = _finite(self._wired_delay[idx].tolist())
            fifo = self._fifo_py(idx, tcp, up, win, cost, rtt)
            qd = [a + b for a, b in zip(wired, fifo)]
            out = d
            d = []
            for j in range(len(out)):
                if tcp[j]:
                    own = cost[j] * min(win[j], 1e12) * 8.0 if up[j] else 0.0
                    d.append(min(out[j], win[j] * 8.0 / (rtt[j] + qd[j] + own)))
                else:
                    d.append(out[j])
            for x in d:
                if x != x:
                    raise NotPlain
            self._fifo_memo = (idx, np.array(fifo))
            self.qdelay[idx] = qd
        if any(paused):
            d = [0.0 if pz else x for x, pz in zip(d, paused)]
        return np.array(d)

    def _fifo_py(self, idx: np.ndarray, tcp: list, up: list, win: list, cost: list, rtt: list) -> list[float]:
        """``_radio_fifo_delay`` in plain Python (``_demand_py``); the caller stores the memo."""
        n = len(idx)
        out = [0.0] * n
        if self.buffers is None:
            return out
        rooms = self.nodes[idx, 0]
        sel = (self.shared_fifo[rooms] & (self.paused[idx] <= self.t)).tolist()
        rl = rooms.tolist()
        drain: dict[int, float] = {}
        bits: dict[int, float] = {}
        rmin: dict[int, float] = {}
        for j in range(n):
            if sel[j] and tcp[j] and not up[j]:
                r = rl[j]
                w = min(win[j], 1e12) * 8.0
                drain[r] = drain.get(r, 0.0) + cost[j] * w
                bits[r] = bits.get(r, 0.0) + w
                rmin[r] = min(rmin.get(r, math.inf), rtt[j])
        if not drain:
            return out
        apc, buf = self.ap_capacity, self.buffers[0]
        d: dict[int, float] = {}
        for r, dr in drain.items():
            dr = dr / max(float(apc[r]), 1e-3)
            b = bits[r]
            if not b > 0.0:
                raise NotPlain
            v = min(max(0.0, dr - rmin[r]), dr * float(buf[r]) * 8.0 / b)
            if not math.isfinite(v):
                raise NotPlain
            d[r] = v
        for j in range(n):
            if sel[j] and tcp[j] and not up[j]:
                out[j] = d[rl[j]]
        return out

    def _queues(self, idx: np.ndarray):
        """Per TCP flow limited by a node with a buffer: (flow positions, group key, queued bytes, buffer bytes)."""
        if self.buffers is None:
            return None
        ll = self.limit_level[idx]
        sel = (self.tcp[idx] & (ll >= 0) & (self.paused[idx] <= self.t)).nonzero()[0]
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
        keys, first, inv = _unique(key)
        f = idx[sel]
        x = self.rate[f] / 8.0
        total = np.bincount(inv, q)
        served = np.bincount(inv, x)
        fifo_g, target_g = fifo[first], target[first]
        # fq_codel: the FIFO, then per flow the standing backlog its CoDel tolerates (``_codel_threshold``)
        cap = fifo_g + np.where(target_g > 0, np.bincount(inv, self._codel_threshold(f, target)), 0.0)
        return sel, keys, first, inv, q, total, served, fifo_g, target_g, cap

    def _codel_threshold(self, f: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Per flow: the bytes it may hold in an fq_codel stage before its own CoDel sees a standing queue.

        CoDel (RFC 8289 §3) drops only when the sojourn time stays above
        ``target`` for a whole ``interval``; an empty queue resets that clock.
        fq_codel (RFC 8290 §4) gives each flow its own queue and CoDel state,
        and a flow's packets arrive in bursts of what one returning ACK
        releases: on Wi-Fi, one A-MPDU's worth (``segs``·MSS), handed on by
        the AP at the next wake of the device queue. A flow's queue therefore
        empties between its bursts, and its sojourn resets, unless it holds
        more than one burst, and more than ``target`` of its own drain.
        ns-3 ``ax20-mcs5-n20`` (validation/): 100-270 packets stood in the
        queue disc over ~10 flows for ~1 s with no CoDel drop; at n = 30,
        430-690 over ~20 flows: 79 drops.
        """
        return np.maximum(np.maximum(1.0, self.segs[f]) * self.mss[f], target * self.rate[f] / 8.0)

    def _codel_flows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per-flow CoDel state (RFC 8289's first_above_time, last drop, count, and the flow's start as its id)."""
        n = len(self.win)
        st = getattr(self, "_codel_f", None)
        if st is None or len(st[0]) != n:
            new = (np.full(n, np.nan), np.full(n, -np.inf), np.zeros(n), np.full(n, np.nan))
            if st is not None:
                m = min(n, len(st[0]))
                for a, b in zip(new, st):
                    a[:m] = b[:m]
            st = self._codel_f = new
        return st

    def _codel_next(self, f: np.ndarray) -> np.ndarray:
        """When each of ``f`` (clocks running) may drop next: ``interval`` after its queue began to stand, and
        interval/√count after its last drop (RFC 8289 §5)."""
        first_above, last, count, _ = self._codel_flows()
        iv = self.codel_interval
        return np.maximum(first_above[f] + iv, last[f] + iv / np.sqrt(np.maximum(1.0, count[f])))

    def _stop_clocks(self, armed: np.ndarray | None, keep: np.ndarray | None = None) -> None:
        """Stop the CoDel clocks of the ``armed`` flows (their queues no longer stand), except ``keep``'s."""
        if armed is None or not len(armed):
            return
        first_above = self._codel_flows()[0]
        kept = None if keep is None else first_above[keep]
        first_above[armed] = np.nan
        if keep is not None:
            first_above[keep] = kept

    def _codel_due(self, f: np.ndarray, standing: np.ndarray) -> np.ndarray:
        """CoDel's control law per fq_codel flow (RFC 8289 §5): which of ``f`` drop a packet now.

        A flow's queue standing above its threshold starts the clock
        (first_above_time); a drop is due once it has stood for ``interval``
        and, while it keeps standing, again after interval/√count. A queue that
        stops standing resets the clock; re-entering within 16 intervals of
        the last drop resumes at count − 2, else at 0 (an approximation of
        RFC 8289 §5.5, whose pseudocode resumes at count − lastcount).
        """
        first_above, last, count, started = self._codel_flows()
        t, iv = self.t, self.codel_interval
        new = started[f] != self.started[f]  # a new flow in this slot
        if new.any():
            fn = f[new]
            first_above[fn], last[fn], count[fn], started[fn] = np.nan, -np.inf, 0.0, self.started[fn]
        fa = first_above[f]
        enter = standing & np.isnan(fa)
        if enter.any():
            fe = f[enter]
            count[fe] = np.where(t - last[fe] < 16 * iv, np.maximum(0.0, count[fe] - 2), 0.0)
            first_above[fe] = t
        first_above[f[~standing]] = np.nan
        due = standing & (t >= self._codel_next(f) - 1e-9)
        fd = f[due]
        count[fd] += 1
        last[fd] = t
        return due

    def _queue_delays(self, idx: np.ndarray) -> None:
        """Queueing delay per flow for its next window: its radio's shared FIFO plus its wired bottleneck's queue."""
        self.qdelay[idx] = self._radio_fifo_delay(idx, reuse=True)  # windows as at the allocation (no drops since)
        self._wired_delay[idx] = 0.0
        g = self._groups(idx)
        if g is None:
            return
        sel, keys, first, inv, q, total, served, fifo_g, target_g, cap = g
        with np.errstate(divide="ignore", invalid="ignore"):
            fifo_delay = np.where(served > 0, np.minimum(total, np.where(target_g > 0, fifo_g, total)) / served, 0.0)
        f = idx[sel]
        wired = self.limit_level[f] > 0
        self._wired_delay[f[wired]] = fifo_delay[inv[wired]]
        self.qdelay[f[wired]] += fifo_delay[inv[wired]]

    def _drops(self, idx: np.ndarray) -> np.ndarray | None:
        """Drop episodes at nodes whose queue exceeds what they hold; the flows whose windows changed
        (in ``idx`` order), None when none did.

        Drop tail (a FIFO alone): every TCP flow through the full node sends
        into it for one (queue-lengthened) round trip: its arrivals are x·RTT
        plus its growth (slow start: as much again), each dropped with the
        node's excess rate p = Σgrowth / (service + Σgrowth). A flow with
        losses retransmits them while the flows that lost nothing keep growing
        (drop rate p'); a lost retransmission, fewer than ``dupthresh``
        surviving segments, or a loss in the last ``dupthresh`` segments
        costs a timeout; otherwise the window is cut to β·W (fast recovery,
        RFC 5681/6675, CUBIC's β).

        fq_codel (RFC 8290/8289): per flow, its backlog beyond its even part
        of the FIFO is its queue in the fq_codel stage; one standing above
        ``_codel_threshold`` runs that flow's CoDel clock (``_codel_due``): one
        packet lost after ``interval``, again after interval/√count while it
        stands, so windows shrink gently; a timeout only when the window is too
        small for ``dupthresh`` duplicate ACKs or the loss is in the last segments.
        """
        g = self._groups(idx)
        if g is None:
            return None
        sel, keys, first, inv, q, total, served_g, fifo_g, target_g, cap = g
        codel = target_g > 0
        armed = None  # flows whose CoDel clock runs: it stops for those not found standing below
        if codel.any():
            first_above = self._codel_flows()[0]
            armed = idx[~np.isnan(first_above[idx])]
        # drop tail: the node's queue at its buffer; fq_codel: anything beyond the FIFO (each flow's CoDel decides)
        over = np.where(codel, total > fifo_g * (1 + 1e-9), total >= cap * (1 - 1e-9)).nonzero()[0]
        if not len(over):
            self._stop_clocks(armed)
            return None
        f_lim = idx[sel]
        g_lv = self.limit_level[f_lim[first[over]]]
        live = idx[self.tcp[idx] & (self.paused[idx] <= self.t)]
        member = np.full(len(live), -1)
        for lv in sorted(set(g_lv.tolist())):  # every live flow through an overflowing node is a member
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
        if is_codel.any():  # one packet from each flow whose own CoDel drops now
            fc = f[is_codel]
            qf = np.maximum(0.0, self.win[fc] - self.rate[fc] * self.rtt[fc] / 8.0)
            n_g = np.bincount(g, minlength=ng)[g[is_codel]]
            backlog = qf - fifo_g[g[is_codel]] / np.maximum(1, n_g)  # DRR hands the FIFO its packets evenly
            standing = backlog > self._codel_threshold(fc, target_g[g[is_codel]]) * (1 + 1e-9)
            self._stop_clocks(armed, keep=fc[standing])  # the armed flows not standing now
            lost[is_codel] = self._codel_due(fc, standing).astype(np.int64)
        else:
            self._stop_clocks(armed)
        hit = lost > 0
        if not hit.any():
            return None
        self.losses += int(np.count_nonzero(np.bincount(g[hit], minlength=ng)))  # nodes with a loss
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
        return fh  # in idx order (live is); fr is a subset of fh

    def _schedule_tcp(self, idx: np.ndarray) -> None:
        """Per site, the next ramp (a window-limited flow doubles), queue overflow or timeout's end."""
        tcp = self.tcp[idx]
        if not tcp.any():
            return
        if len(idx) <= SMALL:
            try:
                self._schedule_flows_py(idx[tcp])
            except (NotPlain, ZeroDivisionError):  # NumPy's path (the minima already taken are taken again)
                self._schedule_flows(idx[tcp])
        else:
            self._schedule_flows(idx[tcp])
        self._schedule_queues(idx)

    def _schedule_flows_py(self, i: np.ndarray) -> None:
        """``_schedule_flows`` in plain Python for a few flows (bit-identical: elementwise IEEE operations, min/max
        in NumPy's argument order on NaN-free values; ``minimum.at`` is a minimum in any order)."""
        t = self.t
        ne = self.next_ev
        site = self.fsite[i].tolist()
        paused = self.paused[i].tolist()
        r = _finite(self.rate[i].tolist())
        win = _finite(self.win[i].tolist())
        wmax, ssth = self.wmax[i].tolist(), self.ssth[i].tolist()
        up = self.up[i].tolist()
        cost = self.ap_cost[i].tolist()
        rtt0, qd = _finite(self.rtt[i].tolist()), _finite(self.qdelay[i].tolist())
        segs, mss = self.segs[i].tolist(), self.mss[i].tolist()
        for j in range(len(site)):
            pz = paused[j]
            if pz != pz:
                raise NotPlain
            if pz > t:
                if pz < ne[site[j]]:
                    ne[site[j]] = pz
                continue
            rj = r[j]
            if not rj > 0:
                continue
            own = cost[j] * min(win[j], 1e12) * 8.0 if up[j] else 0.0
            rtt = rtt0[j] + qd[j] + own
            w = win[j]
            cap = w * 8.0 / rtt
            if rj >= cap * (1 - 1e-9) and w < wmax[j]:
                ss = ssth[j]
                x = rj / 8.0
                t_ss = min(rtt, max((ss - w) / x, 0.25 * rtt)) if w < ss else 4 * rtt
                v = t + t_ss
            elif segs[j] * mss[j] >= w * (1 - 1e-9) and w < wmax[j] and w < ssth[j]:
                v = t + w * 8.0 / rj
            else:
                continue
            if v != v:
                raise NotPlain
            if v < ne[site[j]]:
                ne[site[j]] = v

    def _schedule_flows(self, i: np.ndarray) -> None:
        """Per TCP flow of ``i``: its timeout's end, or its next ramp while its window limits it."""
        t = self.t
        paused = self.paused[i]
        wait = paused > t
        if wait.any():
            np.minimum.at(self.next_ev, self.fsite[i[wait]], paused[wait])
        r = self.rate[i]
        active = ~wait & (r > 0)
        rtt_all = self._cycle(i)
        cap = self.win[i] * 8.0 / rtt_all
        # the window limits (and can still grow): it doubles per RTT in slow start, the share may not
        limited = active & (r >= cap * (1 - 1e-9)) & (self.win[i] < self.wmax[i])
        if limited.any():
            w, ss = self.win[i][limited], self.ssth[i][limited]
            rtt = rtt_all[limited]
            x = r[limited] / 8.0
            t_ss = np.where(w < ss, np.minimum(rtt, np.maximum((ss - w) / x, 0.25 * rtt)), 4 * rtt)
            np.minimum.at(self.next_ev, self.fsite[i[limited]], t + t_ss)
        # the window limits the A-MPDU (fewer segments than the caps allow): its airtime cost falls as the
        # window grows, so look again when it has doubled (slow start: after W/x)
        small = active & ~limited & (self.segs[i] * self.mss[i] >= self.win[i] * (1 - 1e-9)) \
            & (self.win[i] < self.wmax[i]) & (self.win[i] < self.ssth[i])
        if small.any():
            np.minimum.at(self.next_ev, self.fsite[i[small]], t + self.win[i][small] * 8.0 / r[small])

    def _schedule_queues(self, idx: np.ndarray) -> None:
        """Per queue group: when its backlog reaches what it holds; per standing fq_codel flow: its CoDel clock."""
        t = self.t
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
            t_full[(target_g > 0) & (total >= cap * (1 - 1e-9))] = np.inf  # standing: the CoDel clocks below
            if (target_g > 0).any():  # fq_codel: a standing flow's next drop is due at its CoDel clock
                fs = idx[~np.isnan(self._codel_flows()[0][idx])]
                if len(fs):
                    np.minimum.at(self.next_ev, self.fsite[fs], np.maximum(t + 1e-6, self._codel_next(fs)))
            if len(t_full):
                np.minimum.at(self.next_ev, self.fsite[f[first]], t + np.maximum(1e-6, t_full))

