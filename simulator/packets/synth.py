"""A run folder -> pcapng (scapy): what the model or a storm says happened, packet by packet, for Wireshark.

- DHCP: a storm's ``exchanges.jsonl`` as recorded (every DISCOVER and
  REQUEST retransmission, OFFER, ACK); for a model run, each ``join`` row's
  DORA placed just before its end (the model does not record the packets).
- DNS: a storm's ``dns.jsonl`` lookups (query, answer).
- HTTP steps (login, assertion, open, download, autosave, submit): one TCP
  connection per successful attempt, device -> 10.200.0.1:80, SYN and request
  at its start (the device id as the form's ``username``), one response
  packet at its end (timing only: not the step's bytes).

Every packet carries a comment ``device=<id> step=<step>`` (DISCOVERs also
``wake=<s>``), which ``capture analyse`` reads back, so synth -> analyse
reproduces the run's step timings. Timestamps: the run's ``t0_epoch`` (or
2026-01-01) + trace seconds; the first packet's comment says ``t0_epoch=``.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import UserError
from ..results import read_manifest
from ..trace import read_steps
from .records import DhcpExchange, DnsLookup, read_records
from .steps import step_of

__all__ = ["synthesise", "SYNTH_URLS"]

#: One URL per HTTP step, each mapped back to its step by ``steps.URL_STEPS``.
SYNTH_URLS = {"login": ("POST", "/idp/login"), "assertion": ("POST", "/platform/acs"),
              "open": ("POST", "/platform/api/teacher/open"), "download": ("GET", "/platform/api/manifest"),
              "autosave": ("POST", "/platform/api/answers"), "submit": ("POST", "/platform/api/submit")}
SERVER_IP, SERVER_MAC, DHCP_IP = "10.200.0.1", "02:00:00:00:00:01", "10.64.0.1"
EPOCH = 1767225600.0  # 2026-01-01T00:00:00Z


def synthesise(run_dir: Path, out: Path) -> int:
    """Write ``out`` (pcapng); returns the number of packets."""
    from scapy.utils import PcapNgWriter

    if not (run_dir / "manifest.json").exists():
        raise UserError(f"{run_dir}: not a run folder (no manifest.json)")
    man = read_manifest(run_dir)
    t0 = man.get("t0_epoch") or (man.get("live") or {}).get("t0_epoch") or EPOCH
    steps = read_steps(run_dir)
    exchanges = read_records(run_dir, DhcpExchange)
    if not exchanges:  # model run: a DORA per join row, ending at the row's end
        from .storm import mac_for
        for i, r in enumerate(steps.records()):
            if r.step == "join" and r.ok:
                e = r.end_s
                exchanges.append(DhcpExchange(mac=mac_for(i), xid=i + 1, device=r.device, wake_s=r.start_s,
                                              discovers=[e - 0.004], offer_s=e - 0.003, requests=[e - 0.002],
                                              ack_s=e, ip=_ip(i), server=DHCP_IP, server_mac=SERVER_MAC))
    pkts = []
    for i, ex in enumerate(exchanges):
        pkts += _dora(ex, _ip(i))
    ip_of = {ex.device: ex.ip or _ip(i) for i, ex in enumerate(exchanges)}
    mac_of = {ex.device: ex.mac for ex in exchanges}
    for look in read_records(run_dir, DnsLookup):
        pkts += _dns(look, ip_of.get(look.device, "10.63.0.2"), mac_of.get(look.device, "02:ed:ff:ff:ff:ff"))
    ports: dict[str, int] = {}
    for r in steps.records():
        if r.step in SYNTH_URLS and r.ok:
            k = list(ip_of).index(r.device) if r.device in ip_of else len(ip_of) + len(ports)
            ports[r.device] = ports.get(r.device, 10000) + 1  # a new source port per attempt
            pkts += _flow(r.device, r, ip_of.get(r.device, f"10.63.{k // 250 % 256}.{k % 250 + 2}"),
                          mac_of.get(r.device, "02:ee:00:00:%02x:%02x" % (k // 256 % 256, k % 256)), ports[r.device])
    pkts.sort(key=lambda p: p[0])
    w = PcapNgWriter(str(out))
    for k, (t, pkt, comment) in enumerate(pkts):
        if k == 0:
            comment += f" t0_epoch={t0!r}"  # the time origin, for capture analyse
        pkt.time = t0 + t
        pkt.comments = [comment.encode()]
        w.write(pkt)
    w.close()
    return len(pkts)


def _ip(i: int) -> str:
    n = i + 10
    return f"10.64.{n // 256}.{n % 256}"


def _dora(ex: DhcpExchange, ip: str) -> list:
    from scapy.layers.dhcp import BOOTP, DHCP
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.utils import mac2str

    ip = ex.ip or ip
    server = ex.server or DHCP_IP
    smac = ex.server_mac or SERVER_MAC
    tag = f"device={ex.device or ex.mac} step=join"
    out = []

    def frame(op, mtype, src):
        opts = [("message-type", mtype), ("server_id", server)]
        if op == 1:
            opts.append(("hostname", (ex.device or ex.mac).encode()[:63]))
        return (Ether(src=src, dst="ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0" if op == 1 else server,
                                                                dst="255.255.255.255")
                / UDP(sport=68 if op == 1 else 67, dport=67 if op == 1 else 68)
                / BOOTP(op=op, xid=ex.xid, chaddr=mac2str(ex.mac), flags=0x8000, yiaddr=ip if op == 2 else "0.0.0.0")
                / DHCP(options=opts + ["end"]))

    wake = "" if math.isnan(ex.wake_s) else f" wake={ex.wake_s!r}"
    for t in ex.discovers:
        out.append((t, frame(1, "discover", ex.mac), tag + " packet=discover" + wake))
    if not math.isnan(ex.offer_s):
        out.append((ex.offer_s, frame(2, "offer", smac), tag + " packet=offer"))
    for t in ex.requests:
        out.append((t, frame(1, "request", ex.mac), tag + " packet=request"))
    if not math.isnan(ex.ack_s):
        out.append((ex.ack_s, frame(2, "ack", smac), tag + " packet=ack"))
    return out


def _dns(look: DnsLookup, ip: str, mac: str) -> list:
    from scapy.layers.dns import DNS, DNSQR, DNSRR
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    tag = f"device={look.device or look.client} step=dns"
    q = DNSQR(qname=look.name)
    out = [(look.sent_s, Ether(src=mac, dst=SERVER_MAC) / IP(src=ip, dst=DHCP_IP) / UDP(sport=33000, dport=53)
            / DNS(id=1, rd=1, qd=q), tag + " packet=query")]
    if not math.isnan(look.answer_s):
        an = DNSRR(rrname=look.name, rdata=look.address or DHCP_IP) if look.rcode == 0 else None
        out.append((look.answer_s, Ether(src=SERVER_MAC, dst=mac) / IP(src=DHCP_IP, dst=ip)
                    / UDP(sport=53, dport=33000) / DNS(id=1, qr=1, rcode=max(0, look.rcode), qd=q, an=an),
                    tag + " packet=answer"))
    return out


def _flow(device: str, r, ip: str, mac: str, port: int) -> list:
    """One TCP connection for one step attempt: SYN at its start, the request, one response packet at its end.

    A connection per attempt (not keep-alive) because the model's attempts
    may overlap (an autosave during a download); each request carries the
    device id as ``username`` so ``capture analyse`` attributes it.
    """
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether

    tag = f"device={device} step={r.step}"

    def up(t, flags, seq, ack, data=b""):
        return (t, Ether(src=mac, dst=SERVER_MAC) / IP(src=ip, dst=SERVER_IP)
                / TCP(sport=port, dport=80, flags=flags, seq=seq, ack=ack) / data, tag)

    def down(t, flags, seq, ack, data=b""):
        return (t, Ether(src=SERVER_MAC, dst=mac) / IP(src=SERVER_IP, dst=ip)
                / TCP(sport=80, dport=port, flags=flags, seq=seq, ack=ack) / data, tag)

    method, path = SYNTH_URLS[r.step]
    body = f"username={device}".encode()
    req = (f"{method} {path} HTTP/1.1\r\nHost: platform\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    resp = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    t, e = r.start_s, max(r.end_s, r.start_s + 3e-6)
    return [up(t, "S", 1000, 0), down(t + 1e-6, "SA", 5000, 1001), up(t + 2e-6, "PA", 1001, 5001, req),
            down(e, "PA", 5001, 1001 + len(req), resp), up(e + 1e-6, "FA", 1001 + len(req), 5001 + len(resp)),
            down(e + 2e-6, "FA", 5001 + len(resp), 1002 + len(req))]
