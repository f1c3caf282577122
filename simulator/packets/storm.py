"""The join storm's client side: every planned device joins with RFC 2131 timers, over one socket per link.

Runs in the namespace whose links it uses (``python -m simulator.packets.storm
CONFIG.json``, started by ``commands/storm.py`` under ``ip netns exec``). Each
device is a distinct locally administered MAC; at its planned wake it waits
its profile's association time and a uniform initial wait
(``dhcp.initial_wait_min..max``, RFC 2131 §4.1), then DISCOVERs; without an
OFFER it retransmits after ``retransmit`` ±1 s, doubling to
``max_retransmit``, keeping its xid (§4.1), and gives up after ``give_up_s``
(dhclient's ``timeout``, 60 s by default). The first OFFER wins; REQUEST is
retransmitted the same way until ACK (or NAK). With a lease it optionally
looks up names (RFC 1035 over UDP to the server from option 6; 1 s timeout,
3 attempts) and answers ARP for its address so the server can reach it.

Frames are built with scapy and sent/received on ONE ``conf.L2socket`` per
link, opened once; a single loop selects on them, matches replies by
xid + chaddr (DHCP) or id + port (DNS), and drives per-device timers from a
heap. Sends are paced by an optional rate cap (evenly: at most one frame every 1/max_pps s); the whole storm by a
duration cap. Output: ``join`` (and ``dns``) rows in the trace, every
exchange in ``exchanges.jsonl`` / ``dns.jsonl``, counters in
``storm-result.json``.
"""

from __future__ import annotations

import heapq
import json
import math
import os
import select
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..trace import StepRecord, TraceWriter
from .records import DhcpExchange, DnsLookup, write_records

__all__ = ["StormDevice", "StormLink", "StormConfig", "StormResult", "run_storm", "mac_for"]

DNS_TIMEOUT_S = 1.0
DNS_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class StormDevice:
    device: str
    kind: str
    site: str
    room: str
    ap: str
    link: int  # index into StormConfig.links
    mac: str
    xid: int
    wake_s: float  # planned, seconds from t0
    association_s: float
    initial_wait_s: float  # drawn from the profile's uniform range (seeded)
    retransmit_s: float
    max_retransmit_s: float


@dataclass(frozen=True, slots=True)
class StormLink:
    site: str
    iface: str


@dataclass(frozen=True)
class StormConfig:
    run: str
    run_dir: str
    seed: int
    links: tuple[StormLink, ...]
    devices: tuple[StormDevice, ...]
    names: tuple[str, ...] = ()  # DNS names to look up after the lease
    give_up_s: float = 60.0
    max_pps: float | None = None
    max_duration_s: float = 600.0
    lead_s: float = 0.5  # real seconds before the earliest wake

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "StormConfig":
        d = json.loads(text)
        d["links"] = tuple(StormLink(**x) for x in d["links"])
        d["devices"] = tuple(StormDevice(**x) for x in d["devices"])
        d["names"] = tuple(d["names"])
        return cls(**d)


@dataclass
class StormResult:
    status: str  # finished | capped | interrupted
    t0_epoch: float
    sent: int = 0
    received: int = 0
    joined: int = 0
    failed: int = 0
    unfinished: int = 0
    wall_s: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)


def mac_for(index: int) -> str:
    """A distinct locally administered unicast MAC per device index (02:ed:xx:xx:xx:xx)."""
    return "02:ed:" + ":".join(f"{(index >> s) & 0xFF:02x}" for s in (24, 16, 8, 0))


class _Dev:
    """Mutable state of one device during the storm."""

    __slots__ = ("index", "cfg", "ex", "state", "gen", "timer", "deadline", "dns", "dns_i", "dns_id", "bytes",
                 "dns_start")

    def __init__(self, index: int, cfg: StormDevice):
        self.index = index
        self.cfg = cfg
        self.ex = DhcpExchange(mac=cfg.mac, xid=cfg.xid, device=cfg.device, kind=cfg.kind, site=cfg.site,
                               room=cfg.room, ap=cfg.ap, wake_s=cfg.wake_s)
        self.state = "asleep"  # asleep -> discover -> request -> dns -> done | failed
        self.timer = cfg.retransmit_s
        self.deadline = math.inf
        self.dns: list[DnsLookup] = []
        self.dns_i = 0
        self.dns_id = 0
        self.gen = 0  # bumped on every state change: older timers are stale
        self.dns_start = math.nan
        self.bytes = 0


class _Storm:
    def __init__(self, cfg: StormConfig):
        from scapy.all import conf  # scapy.all sets conf.L2socket for this platform

        conf.verb = 0
        self.cfg = cfg
        self.rng = np.random.default_rng(cfg.seed + 13)
        self.socks = [conf.L2socket(iface=link.iface) for link in cfg.links]  # opened once, reused
        self.devs = [_Dev(i, d) for i, d in enumerate(cfg.devices)]
        self.by_xid = {(d.cfg.xid, d.cfg.mac): d for d in self.devs}
        self.by_ip: dict[str, _Dev] = {}
        self.by_dns: dict[tuple[int, int], _Dev] = {}
        self.heap: list[tuple[float, int, int, int]] = []  # (trace time, seq, device index, generation)
        self.seq = 0
        t_min = min((d.wake_s for d in cfg.devices), default=0.0)
        self.offset = t_min - cfg.lead_s  # trace time = monotonic - m0 + offset
        self.m0 = time.monotonic()
        self.t0_epoch = time.time() - self.offset
        self.sent = self.received = 0
        self.t_last = -math.inf  # when the last frame went out (pacing)
        self.stop = False
        for i, d in enumerate(self.devs):
            self.push(d.cfg.wake_s, i)

    # ------------------------------------------------------------------ clock, scheduling
    def now(self) -> float:
        return time.monotonic() - self.m0 + self.offset

    def push(self, t: float, i: int) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, i, self.devs[i].gen))

    # ------------------------------------------------------------------ frames
    def send(self, dev: _Dev, frame) -> float:
        """Send one frame (paced: at most ``max_pps`` a second, no bursts); returns when it went out."""
        raw = bytes(frame)
        if self.cfg.max_pps:
            gap = 1.0 / self.cfg.max_pps
            wait = self.t_last + gap - self.now()
            if wait > 0:
                time.sleep(wait)
        t = self.now()
        self.socks[dev.cfg.link].send(raw)
        self.t_last = t
        self.sent += 1
        dev.bytes += len(raw)
        return t

    def dhcp_frame(self, dev: _Dev, kind: str):
        from scapy.layers.dhcp import BOOTP, DHCP
        from scapy.layers.inet import IP, UDP
        from scapy.layers.l2 import Ether
        from scapy.utils import mac2str

        c = dev.cfg
        opts = [("message-type", kind), ("client_id", b"\x01" + mac2str(c.mac)),
                ("hostname", c.device.replace("/", "-")[-60:].encode())]
        if kind == "request":
            opts += [("requested_addr", dev.ex.ip), ("server_id", dev.ex.server)]
        opts += [("param_req_list", [1, 3, 6, 15, 51, 54]), "end"]
        return (Ether(src=c.mac, dst="ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0", dst="255.255.255.255")
                / UDP(sport=68, dport=67) / BOOTP(op=1, chaddr=mac2str(c.mac), xid=c.xid, flags=0x8000)
                / DHCP(options=opts))

    # ------------------------------------------------------------------ device timers
    def fire(self, i: int, t: float) -> None:
        dev = self.devs[i]
        c = dev.cfg
        if dev.state == "asleep":
            dev.deadline = t + c.association_s + c.initial_wait_s + self.cfg.give_up_s
            self.push(t + c.association_s + c.initial_wait_s, i)
            dev.state = "discover-wait"
            return
        if dev.state in ("discover-wait", "discover", "request"):
            if t >= dev.deadline:
                self.fail(dev, t)
                return
            if dev.state == "discover-wait":
                dev.state = "discover"
            kind = "discover" if dev.state == "discover" else "request"
            sent = self.send(dev, self.dhcp_frame(dev, kind))
            (dev.ex.discovers if kind == "discover" else dev.ex.requests).append(sent)
            wait = dev.timer + float(self.rng.uniform(-1.0, 1.0)) * min(1.0, dev.timer / 4)
            dev.timer = min(2 * dev.timer, c.max_retransmit_s)
            self.push(min(t + max(wait, 0.05), dev.deadline), i)
            return
        if dev.state == "dns":
            self.dns_step(i, t)

    def fail(self, dev: _Dev, t: float) -> None:
        ex = dev.ex
        if dev.state in ("discover", "discover-wait"):
            ex.error = (f"no-offer (pool exhausted?) after {len(ex.discovers)} DISCOVERs in "
                        f"{self.cfg.give_up_s:.0f} s")
        else:
            ex.error = f"no-ack after {len(ex.requests)} REQUESTs"
        dev.state = "failed"
        self.row_join(dev, t)

    def dns_step(self, i: int, t: float) -> None:
        from scapy.layers.dns import DNS, DNSQR
        from scapy.layers.inet import IP, UDP
        from scapy.layers.l2 import Ether

        dev = self.devs[i]
        while True:
            if dev.dns_i >= len(self.cfg.names):
                self.finish_dns(dev, t)
                return
            if dev.dns_i == len(dev.dns):
                dev.dns.append(DnsLookup(client=dev.cfg.mac, name=self.cfg.names[dev.dns_i], sent_s=self.now(),
                                         device=dev.cfg.device, attempts=0))
            look = dev.dns[dev.dns_i]
            if look.attempts < DNS_ATTEMPTS:
                break
            dev.dns_i += 1  # no answer after the last attempt: on to the next name
        look.attempts += 1
        dev.dns_id = (dev.dns_id + 1) & 0xFFFF or 1
        sport = 20000 + (i % 40000)
        self.by_dns[(sport, dev.dns_id)] = dev
        frame = (Ether(src=dev.cfg.mac, dst=dev.ex.server_mac) / IP(src=dev.ex.ip, dst=dev.ex.server)
                 / UDP(sport=sport, dport=53) / DNS(id=dev.dns_id, rd=1, qd=DNSQR(qname=look.name)))
        self.send(dev, frame)
        self.push(t + DNS_TIMEOUT_S, i)

    def finish_dns(self, dev: _Dev, t: float) -> None:
        dev.state = "done"
        bad = [x for x in dev.dns if x.rcode != 0]
        err = ""
        if bad:
            x = bad[0]
            err = f"dns: {x.name}: " + ("timeout" if x.rcode < 0 else {3: "NXDOMAIN", 2: "SERVFAIL"}.get(
                x.rcode, f"rcode {x.rcode}"))
        self.row(dev, "dns", dev.dns_start, dev.dns_start, t, not bad, err)

    # ------------------------------------------------------------------ replies
    def on_frame(self, link: int, raw: bytes) -> None:
        if len(raw) < 42:
            return
        etype = raw[12:14]
        if etype == b"\x08\x06":
            self.on_arp(link, raw)
            return
        if etype != b"\x08\x00" or raw[23] != 17:
            return
        ihl = (raw[14] & 0x0F) * 4
        sport = int.from_bytes(raw[14 + ihl:16 + ihl], "big")
        dport = int.from_bytes(raw[16 + ihl:18 + ihl], "big")
        if sport == 67 and dport == 68:
            self.on_dhcp(raw)
        elif sport == 53:
            self.on_dns(raw, dport)

    def on_dhcp(self, raw: bytes) -> None:
        from scapy.layers.dhcp import BOOTP, DHCP
        from scapy.layers.l2 import Ether

        pkt = Ether(raw)
        b = pkt[BOOTP]
        if b.op != 2:
            return
        mac = ":".join(f"{x:02x}" for x in bytes(b.chaddr)[:6])
        dev = self.by_xid.get((b.xid, mac))
        if dev is None:
            return
        self.received += 1
        dev.bytes += len(raw)
        opts = {o[0]: o[1] for o in pkt[DHCP].options if isinstance(o, tuple)}
        mtype = opts.get("message-type")
        t = self.now()
        ex = dev.ex
        if mtype == 2 and dev.state == "discover":  # OFFER: the first one wins
            ex.offer_s, ex.ip, ex.server, ex.server_mac = t, b.yiaddr, str(opts.get("server_id", "")), pkt.src
            dev.gen += 1
            dev.state, dev.timer, dev.deadline = "request", dev.cfg.retransmit_s, t + self.cfg.give_up_s
            self.push(t, dev.index)
        elif mtype == 5 and dev.state == "request":  # ACK
            ex.ack_s = t
            dev.gen += 1
            self.by_ip[ex.ip] = dev
            self.row_join(dev, t)
            if self.cfg.names:
                dev.gen += 1
                dev.state, dev.dns_start = "dns", t
                self.push(t, dev.index)
            else:
                dev.state = "done"
        elif mtype == 6 and dev.state == "request":  # NAK
            dev.gen += 1
            ex.error = "nak: the server refused the requested address"
            dev.state = "failed"
            self.row_join(dev, t)

    def on_dns(self, raw: bytes, dport: int) -> None:
        from scapy.layers.dns import DNS
        from scapy.layers.l2 import Ether

        pkt = Ether(raw)
        if DNS not in pkt:
            return
        d = pkt[DNS]
        dev = self.by_dns.pop((dport, d.id), None)
        if dev is None or dev.state != "dns" or dev.dns_i >= len(dev.dns):
            return
        self.received += 1
        dev.bytes += len(raw)
        look = dev.dns[dev.dns_i]
        look.answer_s, look.rcode = self.now(), int(d.rcode)
        if d.ancount and d.an is not None:
            look.address = str(d.an[0].rdata) if hasattr(d.an, "__getitem__") else str(d.an.rdata)
        dev.dns_i += 1
        dev.gen += 1
        self.push(self.now(), dev.index)

    def on_arp(self, link: int, raw: bytes) -> None:
        from scapy.layers.l2 import ARP, Ether

        if raw[20:22] != b"\x00\x01":  # who-has
            return
        target = ".".join(str(x) for x in raw[38:42])
        dev = self.by_ip.get(target)
        if dev is None:
            return
        pkt = Ether(raw)
        a = pkt[ARP]
        self.send(dev, Ether(src=dev.cfg.mac, dst=a.hwsrc) / ARP(op=2, hwsrc=dev.cfg.mac, psrc=target,
                                                                  hwdst=a.hwsrc, pdst=a.psrc))

    # ------------------------------------------------------------------ rows
    def row(self, dev: _Dev, step: str, planned: float, start: float, end: float, ok: bool, err: str) -> None:
        c = dev.cfg
        self.writer.step(StepRecord(run=self.cfg.run, engine="packets", device=c.device, kind=c.kind, site=c.site,
                                    room=c.room, ap=c.ap, step=step, planned_s=planned, start_s=start, end_s=end,
                                    bytes=dev.bytes, ok=ok, error=err))

    def row_join(self, dev: _Dev, t: float) -> None:
        self.row(dev, "join", dev.cfg.wake_s, dev.cfg.wake_s, t, dev.ex.ok, dev.ex.error)

    # ------------------------------------------------------------------ the loop
    def run(self) -> StormResult:
        cap_at = self.offset + self.cfg.max_duration_s
        fds = {s.fileno(): k for k, s in enumerate(self.socks)}
        status = "finished"
        with TraceWriter(self.cfg.run_dir, shard="packets", flush_every=50) as self.writer:
            while not self.stop:
                t = self.now()
                if t >= cap_at:
                    status = "capped"
                    break
                while self.heap and self.heap[0][0] <= t:
                    _, _, i, gen = heapq.heappop(self.heap)
                    if gen == self.devs[i].gen:
                        self.fire(i, t)
                if not self.heap and all(d.state in ("done", "failed") for d in self.devs):
                    break
                wait = min((self.heap[0][0] - self.now()) if self.heap else 0.2, cap_at - self.now(), 0.2)
                ready, _, _ = select.select(list(fds), [], [], max(0.0, wait))
                for fd in ready:
                    k = fds[fd]
                    while True:  # drain
                        r, _, _ = select.select([fd], [], [], 0)
                        if not r:
                            break
                        raw = self.socks[k].ins.recv(65535)
                        self.on_frame(k, raw)
            if self.stop:
                status = "interrupted"
            t = self.now()
            for dev in self.devs:  # honest rows for whoever had not finished
                if dev.state in ("asleep",):
                    continue  # never woke: no attempt to record
                if dev.state in ("discover-wait", "discover", "request"):
                    dev.ex.error = f"{status}: still joining ({dev.state.split('-')[0]})"
                    self.row_join(dev, t)
                elif dev.state == "dns":
                    self.row(dev, "dns", dev.dns_start, dev.dns_start, t, False, f"{status}: lookup unfinished")
        for s in self.socks:
            s.close()
        write_records(self.cfg.run_dir, [d.ex for d in self.devs if d.state != "asleep"], DhcpExchange)
        lookups = [x for d in self.devs for x in d.dns]
        if lookups:
            write_records(self.cfg.run_dir, lookups, DnsLookup)
        res = StormResult(status, self.t0_epoch, self.sent, self.received, wall_s=time.monotonic() - self.m0)
        for d in self.devs:
            if d.ex.ok:
                res.joined += 1
            elif d.state == "failed":
                res.failed += 1
                key = d.ex.error.split(" after")[0]
                res.errors[key] = res.errors.get(key, 0) + 1
            else:
                res.unfinished += 1
        return res


def run_storm(cfg: StormConfig) -> StormResult:
    storm = _Storm(cfg)

    def stop(*_):
        storm.stop = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    res = storm.run()
    Path(cfg.run_dir, "storm-result.json").write_text(json.dumps(asdict(res), indent=2) + "\n")
    return res


def main(argv: list[str]) -> int:
    cfg = StormConfig.from_json(Path(argv[0]).read_text())
    res = run_storm(cfg)
    return 0 if res.status == "finished" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
