"""Fast capture reading: pcap (dpkt) and pcapng (a small block reader that keeps comments).

``read_frames(path)`` yields ``Frame(ts, linktype, data, comment)`` for every
packet. pcapng (draft-ietf-opsawg-pcapng) is read block by block here because
dpkt's reader drops per-packet comments (``opt_comment``, code 1), which
``capture synth`` uses to name device and step; the section header's comment
(``shb_comment``) is kept in ``section_comment``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..errors import UserError

__all__ = ["Frame", "CaptureFile", "read_frames", "ip_payload"]

PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"


@dataclass(slots=True)
class Frame:
    ts: float
    linktype: int
    data: bytes
    comment: str = ""


class CaptureFile:
    """Iterate a pcap or pcapng file's frames; ``section_comment`` after the first block."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise UserError(f"{path}: no such capture file")
        self.section_comment = ""

    def __iter__(self) -> Iterator[Frame]:
        with open(self.path, "rb") as f:
            head = f.read(4)
            f.seek(0)
            if head == PCAPNG_MAGIC:
                yield from self._pcapng(f)
            elif head in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"):
                import dpkt

                r = dpkt.pcap.Reader(f)
                lt = r.datalink()
                for ts, buf in r:
                    yield Frame(float(ts), lt, buf)
            else:
                raise UserError(f"{self.path}: not a pcap or pcapng capture (magic {head.hex()})")

    def _pcapng(self, f) -> Iterator[Frame]:
        data = f.read()
        pos, n = 0, len(data)
        endian = "<"
        ifaces: list[tuple[int, float]] = []  # (linktype, seconds per tick)
        while pos + 12 <= n:
            btype = struct.unpack_from(endian + "I", data, pos)[0]
            if data[pos:pos + 4] == PCAPNG_MAGIC:
                bom = data[pos + 8:pos + 12]
                endian = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
                btype = 0x0A0D0D0A
            blen = struct.unpack_from(endian + "I", data, pos + 4)[0]
            if blen < 12 or pos + blen > n:
                break  # truncated tail (capture still being written): stop at the last whole block
            body = data[pos + 8:pos + blen - 4]
            if btype == 0x0A0D0D0A:
                ifaces = []
                for code, val in _options(body[16:], endian):
                    if code == 1:
                        self.section_comment = val.decode("utf-8", "replace")
            elif btype == 1:  # interface description
                lt = struct.unpack_from(endian + "H", body, 0)[0]
                res = 1e-6
                for code, val in _options(body[8:], endian):
                    if code == 9 and val:
                        b = val[0]
                        res = 2.0 ** -(b & 0x7F) if b & 0x80 else 10.0 ** -b
                ifaces.append((lt, res))
            elif btype == 6:  # enhanced packet
                iface, hi, lo, cap, _orig = struct.unpack_from(endian + "IIIII", body, 0)
                pkt = body[20:20 + cap]
                comment = ""
                opt_at = 20 + ((cap + 3) & ~3)
                if opt_at < len(body):
                    for code, val in _options(body[opt_at:], endian):
                        if code == 1:
                            comment = val.decode("utf-8", "replace")
                lt, res = ifaces[iface] if iface < len(ifaces) else (1, 1e-6)
                yield Frame(((hi << 32) | lo) * res, lt, pkt, comment)
            elif btype == 3:  # simple packet
                cap = struct.unpack_from(endian + "I", body, 0)[0]
                lt = ifaces[0][0] if ifaces else 1
                yield Frame(0.0, lt, body[4:4 + cap])
            pos += blen


def _options(buf: bytes, endian: str):
    pos = 0
    while pos + 4 <= len(buf):
        code, length = struct.unpack_from(endian + "HH", buf, pos)
        if code == 0:
            return
        yield code, buf[pos + 4:pos + 4 + length]
        pos += 4 + ((length + 3) & ~3)


def read_frames(path: str | Path) -> Iterator[Frame]:
    return iter(CaptureFile(path))


def ip_payload(linktype: int, data: bytes):
    """The dpkt IP (v4/v6) packet inside a frame of this link type, or None (ARP, 802.11 management, …).

    Also returns the Ethernet source and destination MACs (or "" when the link has none).
    """
    import dpkt

    try:
        if linktype == 1:  # Ethernet
            eth = dpkt.ethernet.Ethernet(data)
            ip = eth.data
            return (ip if isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)) else None), _mac(eth.src), _mac(eth.dst)
        if linktype == 113:  # Linux cooked (SLL)
            s = dpkt.sll.SLL(data)
            ip = s.data
            return (ip if isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)) else None), "", ""
        if linktype == 276:  # SLL2
            proto = struct.unpack_from(">H", data, 0)[0]
            body = data[20:]
            return (dpkt.ip.IP(body) if proto == 0x0800 else dpkt.ip6.IP6(body) if proto == 0x86DD
                    else None), "", ""
        if linktype == 0:  # BSD loopback
            fam = struct.unpack_from("<I", data, 0)[0]
            return (dpkt.ip.IP(data[4:]) if fam == 2 else None), "", ""
        if linktype in (101, 228):  # raw IP
            return dpkt.ip.IP(data), "", ""
        if linktype == 127:  # radiotap + 802.11: data frames with LLC/SNAP
            rt = dpkt.radiotap.Radiotap(data)
            wifi = rt.data
            llc = getattr(wifi, "data", None)
            ip = getattr(llc, "data", None)
            return (ip if isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)) else None), "", ""
    except (dpkt.UnpackError, struct.error, IndexError, ValueError):
        return None, "", ""
    return None, "", ""


def _mac(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)
