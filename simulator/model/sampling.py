"""Resource samples for the trace: utilisation and queue of every AP radio, link and service per interval.

Sources: the trace format (``simulator.trace``: ``ap:<site>/<room>``,
``uplink-down:<site>``, ``core-down``, ``dhcp:<site>``, ``service:<role>``);
utilisation is the busy share of each interval (Little's law reading of
queue × time as waiting, as the analysis uses it). Bulk-flow load comes from
the fluid network's integrals (``flows.FluidNetwork``), short exchanges and
aggregated autosaves are added per interval here; service stations are
sampled from their job records (``services.Station.sample``).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ..trace import resource_lines

__all__ = ["write_samples"]


def write_samples(sim, end: float) -> int:
    sim.flush_autosaves()
    topo, dt, t_lo = sim.topo, sim.dt, sim.t_lo
    nb = max(1, min(sim.n_bins, int(math.ceil((end - t_lo) / dt))))
    edges = t_lo + dt * np.arange(nb + 1)
    busy = sim.net.busy[:nb].copy()
    wait = sim.net.waiting[:nb] / dt
    if sim.small:
        # the exchanges' (t, room, cls, up, down) tuples as rows, read as one flat run (np.array's values, faster)
        arr = np.fromiter(itertools.chain.from_iterable(sim.small), float, 5 * len(sim.small)).reshape(-1, 5)
        t, room, cls = arr[:, 0], arr[:, 1].astype(np.int64), arr[:, 2].astype(np.int64)
        up, down = arr[:, 3] * 8, arr[:, 4] * 8
        b = ((t - t_lo) // dt).astype(np.int64)
        keep = (b >= 0) & (b < nb)
        b, room, cls, up, down = b[keep], room[keep], cls[keep], up[keep], down[keep]
        site = topo.room_site[room]
        off = topo.offsets
        fixed, per_byte = topo.small_air[cls, 0], topo.small_air[cls, 1]
        np.add.at(busy, (b, off[0] + room), fixed + per_byte * (up + down) / 8)
        np.add.at(busy, (b, off[1] + room), down / topo.capacities[1][room])
        np.add.at(busy, (b, off[2] + site), down / topo.capacities[2][site])
        np.add.at(busy, (b, off[3] + site), down / topo.capacities[3][site])
        for lv in (4, 5):
            np.add.at(busy[:, off[lv]], b, down / topo.capacities[lv][0])
        _up(sim, busy, b, site, up, room)
    ab = sim.autosave_bytes[:nb] * 8  # [bin, room]
    if ab.any():
        bins, rooms = np.nonzero(ab)
        vals = ab[bins, rooms]
        fixed, per_byte = topo.small_air[0]
        np.add.at(busy, (bins, topo.offsets[0] + rooms), vals / 8 * per_byte)
        _up(sim, busy, bins, topo.room_site[rooms], vals, rooms)
    util = np.clip(busy / dt, 0.0, 1.0)
    names = list(topo.resources)
    columns = [util[:, i] for i in range(topo.n_resources)]
    queues = [wait[:, i] for i in range(topo.n_resources)]
    for role in ("idp", "platform", "content", "provisioning"):
        u, q = sim.stations[role].sample(edges)
        names.append((f"service:{role}", "service"))
        columns.append(u)
        queues.append(q)
    du, _ = sim.stations["dhcp"].sample(edges)
    dq = _dhcp_queues(sim, edges)
    for si, s in enumerate(topo.site_ids):
        names.append((f"dhcp:{s}", "dhcp"))
        columns.append(du)
        queues.append(dq[si])
    t_end, columns, queues = _coarsen_tail(sim, edges, columns, queues)
    t_col = [repr(round(float(x), 6)) for x in t_end]
    rows = 0
    always = ("uplink", "core", "dc-", "service:", "dhcp:")
    for (name, kind), u, q in zip(names, columns, queues):
        if not (u.any() or q.any()) and not name.startswith(always):
            continue
        q = np.round(q, 3)
        zero = not q.any() and not np.signbit(q).any()  # every cell "0.0" (-0.0 would print as "-0.0")
        sim.writer.resource_csv(resource_lines(t_col, name, kind, np.round(u, 5).tolist(), None if zero else q.tolist()),
                                len(t_col))
        rows += len(t_col)
    return rows


def _coarsen_tail(sim, edges: np.ndarray, columns: list, queues: list):
    """Keep the fine interval while anything but autosaves happens; merge the quiet tail into coarse bins.

    The tail (after the last bulk flow and the last queue at the IdP/DHCP)
    is averaged over groups of k bins so a long test window does not cost
    more rows than the exam start; sample times stay the bins' ends.
    """
    nb = len(edges) - 1
    fluid = np.flatnonzero(sim.net.busy[:nb].sum(axis=1) > 0)
    last = int(fluid[-1]) if len(fluid) else 0
    budget_tail = max(1, sim.options.max_resource_rows // 4)
    start = min(nb, last + 5)
    tail = nb - start
    k = 1
    if tail > 0:
        k = max(1, int(math.ceil(len(columns) * tail / budget_tail)))
    if k == 1:
        return edges[1:], columns, queues
    groups = int(math.ceil(tail / k))
    idx = start + np.minimum(np.arange(groups) * k, tail - 1)
    ends = np.minimum(idx + k, nb)

    def merge(col: np.ndarray) -> np.ndarray:
        head = col[:start]
        sums = np.add.reduceat(col[start:], idx - start)
        return np.concatenate((head, sums / (ends - idx)))

    t_end = np.concatenate((edges[1:start + 1], edges[ends]))
    return t_end, [merge(c) for c in columns], [merge(q) for q in queues]


def _up(sim, busy: np.ndarray, b: np.ndarray, site: np.ndarray, bits: np.ndarray, room=None) -> None:
    """Short uploads' load on the up halves: AP port (when the room is known), switch, uplink, core, dc."""
    topo = sim.topo
    off, caps, nr, ns = topo.offsets, topo.capacities, topo.n_rooms, len(topo.site_ids)
    if room is not None:
        np.add.at(busy, (b, off[1] + nr + room), bits / caps[1][nr + room])
    np.add.at(busy, (b, off[2] + ns + site), bits / caps[2][ns + site])
    np.add.at(busy, (b, off[3] + ns + site), bits / caps[3][ns + site])
    np.add.at(busy[:, off[4] + 1], b, bits / caps[4][1])
    np.add.at(busy[:, off[5] + 1], b, bits / caps[5][1])


def _dhcp_queues(sim, edges: np.ndarray) -> np.ndarray:
    """DHCP requests waiting at each interval's end, per site (central server, per-site view)."""
    st = sim.stations["dhcp"]
    ns = len(sim.topo.site_ids)
    out = np.zeros((ns, len(edges) - 1))
    if not st.arrivals:
        return out
    # fromiter: about half np.asarray's time on a long list of floats (43k requests in malmo)
    a, s = np.fromiter(st.arrivals, float, len(st.arrivals)), np.fromiter(st.starts, float, len(st.starts))
    site = np.fromiter(sim.dhcp_site, np.int64, len(a))
    for si in np.unique(site):
        m = site == si
        out[si] = (np.searchsorted(np.sort(a[m]), edges[1:], "right")
                   - np.searchsorted(np.sort(s[m]), edges[1:], "right"))
    return out
