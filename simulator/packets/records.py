"""Typed records of what happened on the wire, shared by storm, analyse, synth and calibrate.

A run folder of the ``packets`` engine (or an analysed capture) holds, beside
the trace, ``exchanges.jsonl`` (one ``DhcpExchange`` per client), and
``dns.jsonl`` / ``flows.jsonl`` / ``http.jsonl`` when there were lookups, TCP
flows or HTTP requests. Times are seconds from the run's t0, like the trace.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Iterable, TypeVar

__all__ = ["DhcpExchange", "DnsLookup", "TcpFlow", "HttpExchange", "write_records", "read_records",
           "RECORD_FILES"]


@dataclass(slots=True)
class DhcpExchange:
    """One client's DORA (RFC 2131 §3.1): every DISCOVER/REQUEST it sent and the answers."""

    mac: str
    xid: int
    device: str = ""  # plan device id ("" when the capture does not say)
    kind: str = ""
    site: str = ""
    room: str = ""
    ap: str = ""
    wake_s: float = math.nan  # planned wake (storm/model); NaN in a capture
    discovers: list[float] = field(default_factory=list)
    offer_s: float = math.nan  # first OFFER received
    requests: list[float] = field(default_factory=list)
    ack_s: float = math.nan
    ip: str = ""
    server: str = ""  # server identifier (option 54)
    server_mac: str = ""
    error: str = ""  # "" when bound

    @property
    def ok(self) -> bool:
        return not self.error and not math.isnan(self.ack_s)

    @property
    def retransmits(self) -> int:
        return max(0, len(self.discovers) - 1) + max(0, len(self.requests) - 1)


@dataclass(slots=True)
class DnsLookup:
    """One name lookup (RFC 1035) by a client: query sent, answer (or none)."""

    client: str  # MAC or IP
    name: str
    sent_s: float
    answer_s: float = math.nan
    rcode: int = -1  # -1: no answer
    address: str = ""
    device: str = ""
    attempts: int = 1


@dataclass(slots=True)
class TcpFlow:
    """One TCP connection: handshake RTT (SYN -> SYN/ACK), TLS timing, bytes, trouble signs."""

    client: str  # "ip:port"
    server: str  # "ip:port"
    syn_s: float
    synack_s: float = math.nan
    end_s: float = math.nan  # last packet
    bytes_up: int = 0  # TCP payload client -> server
    bytes_down: int = 0
    packets: int = 0
    retransmissions: int = 0
    zero_windows: int = 0
    tls_hello_s: float = math.nan  # ClientHello
    tls_data_s: float = math.nan  # first application data after the hello
    sni: str = ""
    device: str = ""

    @property
    def rtt_s(self) -> float:
        return self.synack_s - self.syn_s

    @property
    def duration_s(self) -> float:
        return self.end_s - self.syn_s


@dataclass(slots=True)
class HttpExchange:
    """One HTTP/1.1 request and its response on a flow (plain HTTP: loopback runs)."""

    client: str  # "ip:port" of the flow
    method: str
    uri: str
    request_s: float
    response_s: float = math.nan  # first response packet
    end_s: float = math.nan  # last packet of the response (before the next request)
    status: int = 0
    bytes: int = 0  # response bytes on the wire
    user: str = ""  # the form's username when this request carried one (sign-in)


RECORD_FILES = {DhcpExchange: "exchanges.jsonl", DnsLookup: "dns.jsonl", TcpFlow: "flows.jsonl",
                HttpExchange: "http.jsonl"}

R = TypeVar("R")


def _clean(v):
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def write_records(run_dir: str | os.PathLike, records: Iterable[object], cls: type) -> Path:
    """Write records of one type as JSON lines (NaN as null) into their file in ``run_dir``."""
    path = Path(run_dir) / RECORD_FILES[cls]
    with open(path, "w") as f:
        for r in records:
            f.write(json.dumps({k: _clean(v) for k, v in asdict(r).items()}) + "\n")
    return path


def read_records(run_dir: str | os.PathLike, cls: type[R]) -> list[R]:
    """Read a record file back (missing file: no records; unknown keys ignored)."""
    path = Path(run_dir) / RECORD_FILES[cls]
    if not path.exists():
        return []
    names = {f.name: f for f in fields(cls)}
    out = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        d = json.loads(line)
        kw = {k: (math.nan if v is None and names[k].type == "float" else v) for k, v in d.items() if k in names}
        out.append(cls(**kw))
    return out
