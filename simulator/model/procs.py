"""One device's exam start as a process: join, login, assertion, download, autosave, submit.

Sources:

- RFC 2131 §4.1 (DHCP client): first DISCOVER after a random wait
  (``dhcp.initial_wait_min..max``), retransmission after 4 s doubling to 64 s,
  each randomised by ±1 s; DORA is two exchanges with the server.
- SAML 2.0 Web Browser SSO (HTTP-Redirect to the IdP, login page, credentials
  POST answered by an auto-submitting form, HTTP-POST to the SP's ACS):
  three exchanges for ``login``, one for ``assertion`` (DESIGN.md steps).
- RFC 6928 / RFC 5681 slow start for every response (``flows.slow_start``);
  a new host costs a TCP and a TLS 1.3 handshake (2 RTT).
- Retries with exponential backoff and jitter (the device profile's
  ``http.retry``): delay = min(max_backoff, backoff·2^(k−1)) · (1 ± jitter).

Both directions go through the network: downloads are ``Bulk`` flows on the
down tree, autosave and submit bodies (and a bare test's uploads) ``Bulk``
flows on the up tree (station airtime → AP port → switch → ``uplink-up`` →
``core-up`` → ``dc-up``); the short requests and responses of the login
exchanges are timed against the current up/down shares and take airtime from
the same radio (``Simulation.short_exchange``). The process yields typed
commands (``commands``) or a float (sleep until then).

Bare transfer mode (``exam.transfer``): no join, login or session; after one
round trip of TCP handshake each device moves its bytes as one ``Bulk`` flow
(``download``/``upload`` rows), so the model can be set beside a packet-level
simulation step by step.

Each step attempt becomes one trace row (``queue_s`` = time queued at
servers/DHCP). Autosaves: ``autosave_detail`` per device are simulated one by
one (rows); the others load the platform and links in aggregate (per-second
background work, per-bin bytes) and write no rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..plan import Device
from ..trace import StepRows
from .commands import AwaitSession, Bulk, Serve
from .flows import slow_start
from .services import REFUSED
from .topology import MAX_N

INITIAL_RTO_S = 1.0  # RFC 6298 §2.1: the RTO before any RTT sample (a lost SYN-ACK is sent again after it)

__all__ = ["DeviceState", "device_proc", "transfer_proc"]

NAN = math.nan
# request / response sizes of the exchanges (bytes; inference from SAML Web SSO traces)
REDIRECT = (900.0, 1200.0)
LOGIN_PAGE = (900.0, 30000.0)
CREDENTIALS = (1200.0, 12000.0)
ACS = (12000.0, 40000.0)
MANIFEST_REQ = 900.0
OPEN = (900.0, 400.0)  # teacher's open-session POST and its JSON answer
AUTOSAVE_RESP = 500.0
SUBMIT_RESP = 2000.0


@dataclass(slots=True)
class DeviceState:
    dev: Device
    index: int
    room: int
    site: int
    cls: int
    over_capacity: bool
    rates: list  # Simulation.rate_table(cls, room): radio_rate's cache, read directly by _share
    iw: float  # the radio class's initial window (bytes) for short responses


def _share(sim, st: DeviceState, up: bool = False) -> float:
    """A new transfer's expected rate (bit/s): the least of its shares of airtime, site uplink and city core."""
    return _shares(sim, st)[up]


def _shares(sim, st: DeviceState) -> tuple[float, float]:
    """``_share`` down and up at once (one radio look-up): (down, up)."""
    n_ap = sim.ap_bulk[st.room] + 1
    v = st.rates[n_ap if n_ap < MAX_N else MAX_N - 1]
    if v == 0.0:
        v = sim.radio_rate(st.cls, n_ap, st.room)
    r_ap = v / n_ap
    site = st.site
    r_up = sim.uplink_up_caps[site] / (sim.site_up[site] + 1)
    r_core = sim.core_up_cap / (sim.total_up + 1)
    r = r_ap if r_ap < r_up else r_up
    up = r if r < r_core else r_core
    r_up = sim.uplink_caps[site] / (sim.site_bulk[site] + 1)
    r_core = sim.core_cap / (sim.total_bulk + 1)  # core, data centre, content egress: the smallest
    r = r_ap if r_ap < r_up else r_up
    return (r if r < r_core else r_core), up


def _resp_time(size: float, rate: float, rtt: float, iw: float) -> float:
    """Response after the server's last byte: half an RTT, slow-start rounds, serialisation."""
    if size <= iw:  # within the initial window (most responses): what the general case gives, in fewer steps
        return rtt / 2 + size * 8 / rate
    k, sent = slow_start(size, rate, rtt, 1, iw)
    first = min(size, iw)
    return rtt / 2 + max(k - 1, 0) * rtt + (max(0.0, size - sent) + first) * 8 / rate


AHEAD_S = 0.05  # exchanges starting within this of "now" are offered ahead, without an event


def _exchange_fifo(sim, st: DeviceState, rtt: float, t0: float, role: str, op: str, req: float, resp: float,
                   setup: int, timeout: float) -> tuple[bool, str, float, float]:
    """One HTTP request/response at a FIFO station, sent at t0 → (ok, error, queue_s, end).

    The station is offered the request with its arrival time (send +
    handshakes + transfer + half an RTT) without waiting for it in simulated
    time; callers only do this for requests sent within ``AHEAD_S`` of now,
    so the station serves in send order, which differs from arrival order by
    milliseconds.
    """
    rate, rate_up = _shares(sim, st)
    t_arr = t0 + setup * rtt + (req * 8 / rate_up if req else 0.0) + rtt / 2
    station = sim.stations[role]
    start, end = station.offer(t_arr, station.times.draw(sim.ops[role].get(op, 0.001)))
    if start == REFUSED:
        return False, "http 503", 0.0, t_arr + rtt / 2
    sim.short_exchange(t0, st.room, st.cls, req, resp)
    t_done = end + _resp_time(resp, rate, rtt, st.iw)
    if t_done - t0 > timeout:
        return False, "timeout", start - t_arr, t0 + timeout
    return True, "", start - t_arr, t_done


def _exchange_ps(sim, st: DeviceState, rtt: float, role: str, op: str, req: float, resp: float,
                 setup: int, timeout: float):
    """A request to a processor-sharing station (events at arrival and completion) → (ok, error, queue_s, end).

    ``end`` (the response's last byte) may lie ahead of the simulated time.
    """
    t0 = sim.now
    t_arr = t0 + setup * rtt + req * 8 / _share(sim, st, True) + rtt / 2
    station = sim.stations[role]
    work = station.times.draw(sim.ops[role].get(op, 0.001))
    now = yield t_arr
    end = yield Serve(role, work)
    if end is None:
        return False, "http 503", 0.0, now + rtt / 2
    sim.short_exchange(t0, st.room, st.cls, req, resp)
    q = max(0.0, end - t_arr - work)
    t_done = end + _resp_time(resp, _share(sim, st), rtt, st.iw)
    if t_done - t0 > timeout:
        return False, "timeout", q, t0 + timeout
    return True, "", q, t_done


@lru_cache(maxsize=None)
def _autosave_split(n: int, detail: int, every: float) -> tuple[list[int], np.ndarray | None]:
    """A test's autosaves 1..n: the ``detail`` modelled one by one (evenly spread; all when ``detail`` is 0
    or n ≤ ``detail``), and the others' offsets from the test start (``every``·k), None when there are
    none. Shared by every device with the same test (read only)."""
    ks = np.arange(1, n + 1)
    if not (detail and n > detail):
        return ks.tolist(), None
    step = n // detail
    detailed = ks[(ks - 1) % step == 0][:detail]
    mask = np.ones(n, bool)
    mask[detailed - 1] = False
    agg = ks[mask]
    if not len(agg):
        return detailed.tolist(), None
    offsets = every * agg
    offsets.flags.writeable = False
    return detailed.tolist(), offsets


def device_proc(sim, st: DeviceState):
    """The generator the engine drives; prime it with ``next()`` before the first ``send``."""
    now = yield None
    d = st.dev
    prof = sim.plan.device_profiles[d.kind]
    http, retry = prof.http, prof.http.retry
    kind = "teacher" if d.role == "teacher" else d.kind
    row = StepRows(sim.rows, sim.flush_rows, sim.run_id, "model", d.id, kind, d.site, d.room.name, d.room.id).add
    rtt = sim.rtt(st)
    rng_u = sim.rng_jitter

    def backoff(attempt: int) -> float:
        b = min(retry.max_backoff, retry.backoff * 2 ** (attempt - 1))
        return b * (1 + retry.jitter * (2 * rng_u.random() - 1))

    # ---------------------------------------------------------------- join
    start = now
    if st.over_capacity:
        row("join", d.start_s, start, start, 0, False, "ap full: association refused", 1, 0.0)
        return
    dh = prof.dhcp
    u = sim.dev_uniform[st.index]
    t = start + prof.association + dh.initial_wait_min + u * (dh.initial_wait_max - dh.initial_wait_min)
    dhcp = sim.stations["dhcp"]
    lease = sim.ops["dhcp"].get("lease", 0.002)
    q_total = 0.0
    for _phase in range(2):  # DISCOVER/OFFER, REQUEST/ACK
        timer, best, q_best = dh.retransmit, math.inf, 0.0
        while True:
            arrive = t + rtt / 2
            now = yield arrive  # offered in arrival order: the DHCP queue is FIFO
            s0, e0 = dhcp.offer(arrive, dhcp.times.draw(lease))
            if s0 != REFUSED:
                sim.dhcp_site.append(st.site)
                if e0 + rtt / 2 < best:  # retransmissions keep the xid: the first answer wins
                    best, q_best = e0 + rtt / 2, s0 - arrive
            t_next = t + timer + (2 * rng_u.random() - 1)
            if best <= t_next:
                t, q_total = best, q_total + q_best
                break
            t, timer = t_next, min(2 * timer, dh.max_retransmit)
    now = yield t
    row("join", d.start_s, start, now, 1200, True, "", 1, q_total)

    # ---------------------------------------------------------------- login, assertion
    def http_step(name, exchanges, planned, t_start):
        """Exchanges in a row, retried per the policy → end of the successful attempt, or None.

        Returns without waiting for the end in simulated time (the caller
        does), so consecutive steps cost one event when nothing queues.
        """
        attempt, t_plan, t = 1, planned, t_start
        while True:
            s = t
            q, nbytes, ok, err, end = 0.0, 0.0, True, "", t
            for role, op, req, resp, setup, upload in exchanges(attempt):
                if upload:  # the body goes up the tree as a flow, then the server answers
                    if end > sim.now:
                        yield end
                    sent = sim.now
                    end = yield Bulk(st.room, st.cls, req * 8.0, 1.0, True)
                    ok, err, qq, end = _exchange_fifo(sim, st, rtt, end, role, op, 0.0, resp, setup,
                                                      http.timeout - (end - sent))
                    if not ok and err == "timeout":
                        end = sent + http.timeout
                elif end - sim.now > AHEAD_S:  # keep the stations' arrivals in order when they queue
                    yield end
                    ok, err, qq, end = _exchange_fifo(sim, st, rtt, end, role, op, req, resp, setup, http.timeout)
                else:
                    ok, err, qq, end = _exchange_fifo(sim, st, rtt, end, role, op, req, resp, setup, http.timeout)
                q += qq
                nbytes += resp
                if not ok:
                    break
            if end > sim.horizon:
                return None  # still in progress when the run stops
            row(name, t_plan, s, end, nbytes, ok, err, attempt, q)
            if ok:
                return end
            if attempt >= retry.attempts:
                return None
            attempt += 1
            t_plan = end + backoff(attempt - 1)
            t = yield t_plan

    def login_ex(attempt):
        new = 2 if attempt == 1 else 0
        return (("platform", "authn_request", *REDIRECT, new, False), ("idp", "authn_request", *LOGIN_PAGE, new, False),
                ("idp", "credentials", *CREDENTIALS, 0, False))

    end = yield from http_step("login", login_ex, now, now)
    if end is None:
        return
    end = yield from http_step("assertion", lambda a: (("platform", "acs", *ACS, 0, False),), end, end)
    if end is None:
        return
    yield end
    if d.role == "teacher":  # opens the group's test session: one small POST to the platform
        end = yield from http_step("open", lambda a: (("platform", "open", *OPEN, 0, False),), sim.now, sim.now)
        if end is not None:
            yield end
            sim.open_session(st.room, sim.now)
        return

    # ---------------------------------------------------------------- download
    waiting_since = sim.now
    opened = yield AwaitSession(st.room)
    now = sim.now
    if opened is None:  # the teacher never opened the session (failed login) before the horizon
        row("download", waiting_since, waiting_since, now, 0, False, "session not opened", 1, 0.0)
        return
    wl = d.room.workload
    parts = wl.parts
    manifest_b = next((b for n, b in parts if n == "manifest"), 2000.0)
    content = [b for n, b in parts if n != "manifest"]
    bulk = float(sum(content))
    conns = max(1, min(http.connections_per_host, len(content)))
    attempt, t_plan = 1, max(now, opened)
    while True:
        s = sim.now
        ok, err, q, end = _exchange_fifo(sim, st, rtt, s, "platform", "manifest", MANIFEST_REQ, manifest_b, 0,
                                         http.timeout)
        ttfb = NAN
        if ok and content:
            yield end
            ok, err, qq, t_first = yield from _exchange_ps(sim, st, rtt, "content", "part",
                                                           MANIFEST_REQ * len(content), 0.0, 2, http.timeout)
            q += qq
            end = t_first
            if ok:
                ttfb = t_first - s
                yield t_first
                end = yield Bulk(st.room, st.cls, bulk * 8.0, float(conns))
        if end > sim.horizon:
            return
        row("download", t_plan, s, end, manifest_b + bulk, ok, err, attempt, q, ttfb)
        yield end
        if ok:
            break
        if attempt >= retry.attempts:
            return
        attempt += 1
        t_plan = end + backoff(attempt - 1)
        yield t_plan

    # ---------------------------------------------------------------- autosave, submit
    test_start = sim.now
    n, every = wl.autosaves, wl.autosave_every_s
    detailed, agg_offsets = _autosave_split(n, sim.options.autosave_detail, every)
    if agg_offsets is not None:
        times = test_start + agg_offsets
        times = times[times < sim.horizon]
        sim.autosaves_ahead.append((times, st.room, st.site, wl.autosave_bytes, wl.autosave_bytes * 8.0 / sim.dt))
    for k in detailed:
        planned = test_start + every * k
        now = yield planned
        ex = lambda a: (("platform", "autosave", wl.autosave_bytes, AUTOSAVE_RESP, 0, True),)  # noqa: E731
        end = yield from http_step("autosave", ex, planned, now)
        if end is None and sim.now + every > sim.horizon:
            return
    planned = test_start + wl.duration_s
    now = yield planned
    yield from http_step("submit", lambda a: (("platform", "submit", wl.submit_bytes, SUBMIT_RESP, 0, True),),
                         planned, now)


def transfer_proc(sim, st: DeviceState, up: bool):
    """Bare transfer mode: one TCP handshake, then the room's download (or upload) bytes as one flow."""
    now = yield None
    d = st.dev
    tr = d.room.transfer
    row = StepRows(sim.rows, sim.flush_rows, sim.run_id, "model", d.id, d.kind, d.site, d.room.name, d.room.id).add
    if st.over_capacity:
        row("join", d.start_s, now, now, 0, False, "ap full: association refused", 1, 0.0)
        return
    nbytes = tr.upload if up else tr.download
    start = now
    syn = start
    if not up and sim.syn_lost(st.room):  # the SYN met the AP's full transmit queue: wait and send again
        syn = yield syn + sim.topo.classes[st.cls].syn_timeout
    elif up and sim.synack_lost(st.room):  # the server's SYN-ACK met the AP's full FIFO: its initial RTO
        syn = yield syn + INITIAL_RTO_S
    # SYN, SYN-ACK: the sender's data leaves one round trip after the start; the SYN-ACK (and a download's
    # first segment) also queue behind the AP's FIFO backlog (TcpState.fifo_wait; ns-3 tables/slow/)
    yield syn + sim.rtt(st) + sim.net.fifo_wait(st.room, sim.now)
    end = yield Bulk(st.room, st.cls, nbytes * 8.0, float(tr.connections), up, st.index)
    if end <= sim.horizon:
        row("upload" if up else "download", d.start_s, start, end, nbytes, True, "", 1, 0.0)
