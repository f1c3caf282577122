"""A capture -> DHCP exchanges, DNS lookups, TCP flows, HTTP requests (one fast pass with dpkt).

Per client: the DORA exchange and its retransmissions (RFC 2131; matched by
xid + chaddr), DNS lookups (RFC 1035; id + client port), TCP flows (SYN ->
SYN/ACK RTT, payload bytes each way, retransmitted segments = payload whose
end is not beyond the highest sequence already seen, zero windows), TLS
ClientHello -> first application data record (RFC 8446 record types 22/23),
and plain HTTP/1.1 requests with their responses (loopback runs), including
the sign-in form's username and the cookies that tie a device's connections
together. ``sni()`` adds TLS server names with Wireshark's dissector
(pyshark), only on the ClientHello packets.

Per-packet comments (pcapng ``opt_comment``, as ``capture synth`` writes:
``device=<id> step=<step> wake=<s>``) name the device and its planned wake.
"""

from __future__ import annotations

import math
import re
import socket
import struct
from dataclasses import dataclass, field
from pathlib import Path

from .pcapio import CaptureFile, ip_payload
from .records import DhcpExchange, DnsLookup, HttpExchange, TcpFlow

__all__ = ["Analysis", "analyse_capture", "sni"]

_METHODS = (b"GET ", b"POST ", b"PUT ", b"HEAD ", b"DELETE ", b"PATCH ", b"OPTIONS ")
_COMMENT = re.compile(r"(\w+)=(\S+)")


@dataclass
class Analysis:
    exchanges: list[DhcpExchange] = field(default_factory=list)
    dns: list[DnsLookup] = field(default_factory=list)
    flows: list[TcpFlow] = field(default_factory=list)
    http: list[HttpExchange] = field(default_factory=list)
    cookies: dict[str, set[str]] = field(default_factory=dict)  # flow client -> cookie values seen
    packets: int = 0
    first_ts: float = math.nan
    section_comment: str = ""


class _FlowState:
    __slots__ = ("flow", "max_seq_up", "max_seq_down", "reqs", "up_buf")

    def __init__(self, flow: TcpFlow):
        self.flow = flow
        self.max_seq_up = self.max_seq_down = None
        self.reqs: list[HttpExchange] = []
        self.up_buf = b""  # current request's bytes (head + body start), for username/cookie


def analyse_capture(path: str | Path, t0_epoch: float | None = None, username_field: str = "username") -> Analysis:
    """Read ``path`` once; times in the records are seconds from ``t0_epoch`` (default: the first packet)."""
    import dpkt

    cap = CaptureFile(path)
    out = Analysis()
    dhcp: dict[tuple[str, int], DhcpExchange] = {}
    dns_q: dict[tuple[str, int, int], DnsLookup] = {}
    flows: dict[tuple, _FlowState] = {}
    user_re = re.compile(re.escape(username_field).encode() + rb"=([^&\s]+)")
    t0 = t0_epoch
    unpack_ip, unpack_tcp = struct.Struct("!BxHxxxxBBxx4s4s").unpack_from, struct.Struct("!HHIIBBH").unpack_from
    for fr in cap:
        out.packets += 1
        if t0 is None:
            m = re.search(r"t0_epoch=([0-9.]+)", fr.comment)  # capture synth names its time origin
            t0 = float(m.group(1)) if m else fr.ts
        t = fr.ts - t0
        d = fr.data
        if fr.linktype == 1 and d[12:14] == b"\x08\x00" and len(d) >= 34:
            # fast path, Ethernet + IPv4 + TCP parsed by hand (no objects): most packets of a capture
            vihl, total, _ttl, proto, src, dst = unpack_ip(d, 14)
            if proto == 6:
                at = 14 + (vihl & 0x0F) * 4
                if len(d) < at + 20:
                    continue
                sport, dport, seq, _ack, off, flags, win = unpack_tcp(d, at)
                payload = d[at + (off >> 4) * 4:14 + total]
                _tcp(_addr(src), _addr(dst), sport, dport, flags, seq, win, payload, t, flows, out, user_re)
                continue
        ip, src_mac, _ = ip_payload(fr.linktype, d)
        if ip is None:
            continue
        l4 = ip.data
        if isinstance(l4, dpkt.udp.UDP):
            if {l4.sport, l4.dport} == {67, 68}:
                _dhcp(l4.data, t, src_mac, fr.comment, dhcp)
            elif l4.sport == 53 or l4.dport == 53:
                _dns(ip, l4, t, dns_q, out.dns)
        elif isinstance(l4, dpkt.tcp.TCP):
            _tcp(_addr(ip.src), _addr(ip.dst), l4.sport, l4.dport, l4.flags, l4.seq, l4.win, bytes(l4.data), t,
                 flows, out, user_re)
    out.first_ts = t0 if t0 is not None else math.nan
    out.section_comment = cap.section_comment
    out.exchanges = sorted(dhcp.values(), key=lambda e: (e.discovers or [e.offer_s])[0])
    out.flows = [s.flow for s in flows.values()]
    for s in flows.values():
        out.http.extend(s.reqs)
    out.http.sort(key=lambda h: h.request_s)
    return out


# ---------------------------------------------------------------- DHCP / DNS

def _dhcp(payload: bytes, t: float, src_mac: str, comment: str, table: dict) -> None:
    import dpkt

    try:
        d = dpkt.dhcp.DHCP(payload)
    except (dpkt.UnpackError, struct.error):
        return
    opts = dict(d.opts)
    mtype = opts.get(53, b"\x00")[0]
    mac = ":".join(f"{x:02x}" for x in d.chaddr[:6])
    ex = table.get((mac, d.xid))
    if ex is None:
        ex = table[(mac, d.xid)] = DhcpExchange(mac=mac, xid=d.xid)
    if comment:
        kv = dict(_COMMENT.findall(comment))
        ex.device = ex.device or kv.get("device", "")
        if "wake" in kv:
            ex.wake_s = float(kv["wake"])
    if d.op == 1:
        host = opts.get(12)
        if host and not ex.device:
            ex.device = host.decode("utf-8", "replace")
        if mtype == 1:
            ex.discovers.append(t)
        elif mtype == 3:
            ex.requests.append(t)
        return
    if mtype == 2 and math.isnan(ex.offer_s):
        ex.offer_s = t
        ex.ip = ".".join(str(x) for x in struct.pack(">I", d.yiaddr))
        sid = opts.get(54)
        ex.server = ".".join(str(x) for x in sid) if sid else ""
        ex.server_mac = src_mac
    elif mtype == 5 and math.isnan(ex.ack_s):
        ex.ack_s = t
        ex.error = ""
    elif mtype == 6:
        ex.error = "nak: the server refused the requested address"


def _dns(ip, udp, t: float, pending: dict, out: list) -> None:
    import dpkt

    try:
        msg = dpkt.dns.DNS(udp.data)
    except (dpkt.UnpackError, struct.error, IndexError):
        return
    src, dst = _addr(ip.src), _addr(ip.dst)
    if msg.qr == dpkt.dns.DNS_Q:
        key = (src, udp.sport, msg.id)
        if key in pending:
            pending[key].attempts += 1
            return
        name = msg.qd[0].name if msg.qd else ""
        look = DnsLookup(client=src, name=name, sent_s=t)
        pending[key] = look
        out.append(look)
        return
    look = pending.get((dst, udp.dport, msg.id))
    if look is None or not math.isnan(look.answer_s):
        return
    look.answer_s, look.rcode = t, msg.rcode
    for an in msg.an:
        if an.type == dpkt.dns.DNS_A:
            look.address = ".".join(str(x) for x in an.rdata)
            break


def _addr(b: bytes) -> str:
    if len(b) == 4:
        return socket.inet_ntoa(b)
    return socket.inet_ntop(socket.AF_INET6, b)


# ---------------------------------------------------------------- TCP / TLS / HTTP

def _tcp(src: str, dst: str, sport: int, dport: int, flags: int, seq: int, win: int, data: bytes, t: float,
         flows: dict, out: Analysis, user_re) -> None:
    a, b = f"{src}:{sport}", f"{dst}:{dport}"
    syn, ack = flags & 0x02, flags & 0x10
    st = flows.get((a, b))
    up = True
    if st is None:
        st = flows.get((b, a))
        up = False
    if st is None:
        if syn and ack:  # SYN/ACK of a flow whose SYN we missed: the receiver of this is the client
            st = flows[(b, a)] = _FlowState(TcpFlow(client=b, server=a, syn_s=math.nan, synack_s=t))
            up = False
        else:
            st = flows[(a, b)] = _FlowState(TcpFlow(client=a, server=b, syn_s=t if syn else math.nan))
            up = True
    f = st.flow
    f.packets += 1
    f.end_s = t
    if syn and ack and not up and math.isnan(f.synack_s):
        f.synack_s = t
    if win == 0 and not flags & 0x04:  # zero window, not a reset
        f.zero_windows += 1
    if not data:
        return
    end = (seq + len(data)) & 0xFFFFFFFF
    top = st.max_seq_up if up else st.max_seq_down
    if top is not None and not 0 < ((end - top) & 0xFFFFFFFF) < 0x80000000:  # ends at or before what we saw
        f.retransmissions += 1
        return
    if up:
        st.max_seq_up = end
        f.bytes_up += len(data)
    else:
        st.max_seq_down = end
        f.bytes_down += len(data)
    if data[0] == 0x16 and len(data) > 5 and data[5] == 1 and up and math.isnan(f.tls_hello_s):
        f.tls_hello_s = t
    elif data[0] == 0x17 and not math.isnan(f.tls_hello_s) and math.isnan(f.tls_data_s):
        f.tls_data_s = t
    if up:
        if data.startswith(_METHODS):
            line = data.split(b"\r\n", 1)[0].split(b" ")
            st.reqs.append(HttpExchange(client=f.client, method=line[0].decode(), uri=line[1].decode("latin-1")
                                        if len(line) > 1 else "", request_s=t))
            st.up_buf = data
        elif st.reqs and len(st.up_buf) < 8192:
            st.up_buf += data
        if st.reqs:
            h = st.reqs[-1]
            if not h.user:
                m = user_re.search(st.up_buf)
                if m:
                    import urllib.parse
                    h.user = urllib.parse.unquote_plus(m.group(1).decode("latin-1"))
            for c in re.findall(rb"\r\nCookie: ([^\r\n]+)", st.up_buf):
                out.cookies.setdefault(f.client, set()).update(
                    x.strip().decode("latin-1") for x in c.split(b";") if b"=" in x)
        return
    if st.reqs:
        h = st.reqs[-1]
        if math.isnan(h.response_s):
            h.response_s = t
            if data.startswith(b"HTTP/1."):
                try:
                    h.status = int(data[9:12])
                except ValueError:
                    pass
            for c in re.findall(rb"\r\nSet-Cookie: ([^;\r\n]+)", data):
                out.cookies.setdefault(f.client, set()).add(c.strip().decode("latin-1"))
        h.end_s = t
        h.bytes += len(data)


def sni(path: str | Path, flows: list[TcpFlow], t0_epoch: float) -> int:
    """TLS server names from Wireshark's dissector (pyshark on ClientHellos only); returns names found."""
    if not any(not math.isnan(f.tls_hello_s) for f in flows):
        return 0
    import pyshark

    by_client = {f.client: f for f in flows}
    found = 0
    cap = pyshark.FileCapture(str(path), display_filter="tls.handshake.type == 1", keep_packets=False)
    try:
        for pkt in cap:
            try:
                ip = pkt.ip.src if hasattr(pkt, "ip") else pkt.ipv6.src
                key = f"{ip}:{pkt.tcp.srcport}"
                name = pkt.tls.get_field_value("handshake_extensions_server_name")
            except AttributeError:
                continue
            if name and key in by_client:
                by_client[key].sni = str(name)
                found += 1
    finally:
        cap.close()
    return found
