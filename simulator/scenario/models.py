"""Typed scenario and profile objects (pydantic v2, ``extra="forbid"``).

Units are parsed at this edge (``simulator.units``): every field below holds
SI floats — seconds, bytes, bit/s, fractions — whatever the YAML said.
Templates (``templates.classrooms`` / ``templates.sites`` with ``count``) are
expanded by the loader before these models see the document, so a Scenario
always lists concrete sites and classrooms.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

from .. import units

__all__ = [
    "Bitrate", "Bytes", "Duration", "Clock", "Fraction",
    "DeviceProfile", "ApProfile", "Mac", "Edca", "Tcp", "LinkQuality", "Transfer", "TestProfile", "ServiceProfile",
    "Link", "Classroom", "Site", "Exam", "Arrival", "Services", "ServiceRef",
    "Targets", "LoginForm", "Scenario",
]


def _unit(parse, example: str, pattern: str):
    def check(v):
        try:
            return parse(v)
        except units.UnitError as e:
            raise ValueError(str(e)) from None
    schema = {"anyOf": [{"type": "string", "pattern": pattern, "examples": [example]}, {"type": "number"}]}
    return Annotated[float, BeforeValidator(check), WithJsonSchema(schema)]


Bitrate = _unit(units.parse_bitrate, "100 Mbit/s", r"^\s*[0-9.eE+-]+\s*[kKMGT]?(bit/s|bps)\s*$")
Bytes = _unit(units.parse_bytes, "35 MB", r"^\s*[0-9.eE+-]+\s*([kKMGT]?B|KiB|MiB|GiB|bytes?)\s*$")
Duration = _unit(units.parse_duration, "45 s", r"^\s*[0-9.eE+-]+\s*(us|µs|ms|s|sec|min|h|hours?|minutes?|seconds?)\s*$")
Clock = _unit(units.parse_clock, "09:00", r"^\s*[0-9]{1,2}:[0-9]{2}(:[0-9]{2})?\s*$")
Fraction = _unit(units.parse_fraction, "0.5 %", r"^\s*[0-9.]+\s*%?\s*$")

Standard = Literal["a", "n", "ac", "ax"]
Band = Literal["2.4 GHz", "5 GHz", "6 GHz"]
Width = Literal["20 MHz", "40 MHz", "80 MHz", "160 MHz"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- profiles

class Radio(_Strict):
    """A Wi-Fi capability: what the PHY rate is computed from (IEEE 802.11-2020/ax-2021)."""

    standard: Standard
    streams: int = Field(ge=1, le=8)
    max_mcs: int = Field(ge=0, le=11)
    width: Width = "80 MHz"
    band: Band = "5 GHz"
    short_gi: bool = True
    gi: Duration | None = None
    """Guard interval, explicit: 0.8/1.6/3.2 µs for HE (ax), 0.4/0.8 µs for HT/VHT; unset: from ``short_gi``."""

    @property
    def width_mhz(self) -> int:
        return int(self.width.split()[0])

    @model_validator(mode="after")
    def _check_gi(self):
        if self.gi is not None:
            allowed = {"ax": (0.8e-6, 1.6e-6, 3.2e-6), "a": (0.8e-6,)}.get(self.standard, (0.4e-6, 0.8e-6))
            if not any(abs(self.gi - g) < 1e-9 for g in allowed):
                shown = ", ".join(f"{g * 1e6:g} µs" for g in allowed)
                raise ValueError(f"gi {self.gi * 1e6:g} µs is not a guard interval of 802.11{self.standard}; "
                                 f"use one of {shown}")
        return self

    @property
    def gi_s(self) -> float:
        """The guard interval in seconds (``gi``, else the short/long GI of the standard)."""
        if self.gi is not None:
            return self.gi
        if self.standard == "ax":
            return 0.8e-6 if self.short_gi else 3.2e-6
        return 0.4e-6 if self.short_gi and self.standard != "a" else 0.8e-6


class Edca(_Strict):
    """EDCA parameters of the best-effort access category (IEEE 802.11-2020 Table 9-155 defaults)."""

    aifsn: int = Field(3, ge=1, le=15)
    """AIFS = SIFS + AIFSN × slot (3: 43 µs at 5 GHz)."""
    cw_min: int = Field(15, ge=1, le=1023)
    """Minimum contention window (slots)."""
    cw_max: int = Field(1023, ge=1, le=65535)
    """Maximum contention window (slots)."""
    txop: Duration = 0.0
    """TXOP limit: 0 = one PPDU per channel access; larger lets one access carry several A-MPDUs."""


class Mac(_Strict):
    """What a radio advertises and buffers at the MAC (the lower of AP and device is used)."""

    max_ampdu: Bytes = 65535.0
    """Maximum A-MPDU length it advertises (802.11n/ac/ax: 65,535 B common; up to 6.5 MB with ax)."""
    max_mpdus: int | None = Field(None, ge=1, le=1024)
    """MPDUs per A-MPDU (BlockAck window); unset: 64 for n/ac, 256 for ax."""
    max_ppdu: Duration = 5.484e-3
    """Longest PPDU (aPPDUMaxTime, 5.484 ms)."""
    edca: Edca = Edca()
    """Channel access parameters (best effort)."""
    queue: int = Field(500, ge=1, le=1000000)
    """Transmit queue in packets (ns-3 WifiMacQueue default 500): a FIFO shared by the radio's stations."""
    aqm: Literal["droptail", "fq_codel"] = "fq_codel"
    """In front of the transmit queue: ``fq_codel`` (per-flow queues, CoDel drops, RFC 8290; Linux and ns-3
    default) or ``droptail`` (the transmit queue alone drops when full)."""
    codel_target: Duration = 5e-3
    """CoDel target sojourn time (RFC 8289: 5 ms)."""
    codel_interval: Duration = 0.1
    """CoDel interval (RFC 8289: 100 ms): how long the sojourn must stay above target before a drop."""


class Tcp(_Strict):
    """TCP parameters of the connections a device opens (the server side is taken to match)."""

    mss: Bytes = 1448.0
    """Maximum segment size (1500 B MTU with timestamps)."""
    initial_window: int = Field(10, ge=1, le=1000)
    """Initial congestion window in segments (RFC 6928)."""
    delayed_ack: int = Field(2, ge=1, le=64)
    """Segments per ACK (RFC 1122 delayed ACK: every second segment)."""
    min_rto: Duration = 0.2
    """Minimum retransmission timeout (Linux 200 ms; RFC 6298 and ns-3 use 1 s)."""
    dupthresh: int = Field(3, ge=1, le=100)
    """Duplicate ACKs that trigger fast retransmit (RFC 5681); fewer surviving segments mean an RTO."""
    buffer: Bytes | None = None
    """Socket send/receive buffer: caps each connection's window (ns-3 default 128 KiB); unset: no cap."""
    beta: float = Field(0.7, gt=0.0, lt=1.0)
    """Window kept after a loss (CUBIC 0.7, RFC 9438; Reno 0.5)."""


class Retry(_Strict):
    """Retry with exponential backoff and jitter (the device's HTTP stack)."""

    attempts: int = Field(3, ge=1, le=20)
    backoff: Duration = 1.0
    max_backoff: Duration = 30.0
    jitter: Fraction = 0.5


class Http(_Strict):
    connections_per_host: int = Field(6, ge=1, le=64)
    connect_timeout: Duration = 10.0
    timeout: Duration = 30.0
    retry: Retry = Retry()


class Dhcp(_Strict):
    """RFC 2131 §4.1 client timers: random initial wait, retransmit doubling to a cap."""

    initial_wait_min: Duration = 1.0
    initial_wait_max: Duration = 10.0
    retransmit: Duration = 4.0
    max_retransmit: Duration = 64.0


class DeviceProfile(_Strict):
    name: str
    description: str = ""
    wifi: Radio
    http: Http = Http()
    locked_mode: Literal["kiosk", "seb", "none"] = "none"
    user_agent: str = "Mozilla/5.0"
    dhcp: Dhcp = Dhcp()
    association: Duration = 0.3  # 802.11 auth/assoc + WPA2-PSK/802.1X handshake
    mac: Mac = Mac()
    """The station's MAC: A-MPDU limits, EDCA for its uplink frames, transmit queue."""
    tcp: Tcp = Tcp()
    """TCP parameters of its connections."""


class ApProfile(_Strict):
    name: str
    description: str = ""
    radio: Radio
    max_clients: int = Field(ge=1, le=1024)
    airtime_fairness: bool = True
    port: Bitrate = 1e9  # the AP's wired port
    mac: Mac = Mac()
    """The AP's MAC: A-MPDU limits, EDCA for its downlink frames, transmit queue (shared by its stations)."""


class TestPart(_Strict):
    name: str
    size: Bytes


class Autosave(_Strict):
    every: Duration = Field(30.0)
    size: Bytes = 4000.0


class Submit(_Strict):
    size: Bytes = 20000.0


class TestProfile(_Strict):
    name: str
    description: str = ""
    duration: Duration
    parts: tuple[TestPart, ...] = Field(min_length=1)
    autosave: Autosave = Autosave()
    submit: Submit = Submit()

    @property
    def download_bytes(self) -> float:
        return sum(p.size for p in self.parts)


class ServiceProfile(_Strict):
    """A server as a queue for the model: c workers, mean service time per operation."""

    name: str
    description: str = ""
    kind: Literal["idp", "platform", "content", "provisioning", "dhcp"]
    workers: int = Field(ge=1, le=100000)
    discipline: Literal["fifo", "ps"] = "fifo"
    max_connections: int = Field(10000, ge=1)
    service_cv: float = Field(0.5, ge=0.0, le=5.0)  # coefficient of variation of service times
    operations: dict[str, Duration] = Field(default_factory=dict)  # mean CPU time per request kind
    bandwidth: Bitrate | None = None  # content delivery: egress capacity


# ---------------------------------------------------------------- scenario

class Link(_Strict):
    down: Bitrate
    up: Bitrate
    rtt: Duration = 0.002


class Classroom(_Strict):
    name: str = Field(min_length=1)
    ap: str
    devices: dict[str, Annotated[int, Field(strict=True, ge=0, le=10000)]] = Field(min_length=1)
    test: str | None = None  # overrides exam.test for this room
    start: Clock | None = None  # overrides exam.start for this room
    teacher: str | None = "windows-laptop"  # teacher's device profile; null: no teacher login
    link: LinkQuality | None = None
    """Link quality of this room's devices (MCS/streams, fixed or shares); unset: the negotiated maximum."""
    transfer: Transfer | None = None
    """Overrides ``exam.transfer`` for this room."""


class Site(_Strict):
    name: str = Field(min_length=1)
    kind: Literal["compulsory", "upper-secondary", "adult", "other"] = "compulsory"
    school_code: str | None = None
    uplink: Link
    switch: Bitrate = 10e9
    classrooms: tuple[Classroom, ...] = Field(min_length=1)


class Arrival(_Strict):
    """Pupils' start delay after the session opens: log-normal (median, p95), uniform over a window,
    an explicit list, or a CSV file of offsets."""

    median: Duration | None = None
    """Log-normal: median delay."""
    p95: Duration | None = None
    """Log-normal: 95th percentile delay."""
    distribution: Literal["lognormal", "uniform", "list", "csv"] = "lognormal"
    """Which form the delays take."""
    window: Duration | None = None
    """Uniform: delays drawn uniformly from [0, window)."""
    offsets: tuple[Duration, ...] | None = None
    """List: one delay per pupil of each room, in device order (cycled when a room has more pupils)."""
    csv: str | None = None
    """CSV: a file (relative to the scenario) with one delay per line (seconds or with a unit), used like ``offsets``."""

    @model_validator(mode="after")
    def _check_form(self):
        need = {"lognormal": ("median", "p95"), "uniform": ("window",), "list": ("offsets",), "csv": ("csv",)}
        missing = [f for f in need[self.distribution] if getattr(self, f) is None]
        if missing:
            raise ValueError(f"arrival distribution {self.distribution!r} needs {' and '.join(missing)}")
        if self.distribution == "list" and not self.offsets:
            raise ValueError("arrival offsets: give at least one delay")
        return self


class LinkQuality(_Strict):
    """What the devices of a room actually achieve on the air (distance, walls): an MCS and spatial streams,
    fixed or as shares of the room's devices (never above what device and AP negotiate)."""

    mcs: int | dict[int, Fraction] | None = None
    """A fixed MCS, or {mcs: share} (e.g. {9: 80 %, 3: 20 %}); unset: the negotiated maximum."""
    streams: int | dict[int, Fraction] | None = None
    """Spatial streams used, fixed or {streams: share}; unset: the negotiated maximum."""

    @model_validator(mode="after")
    def _check_shares(self):
        for name in ("mcs", "streams"):
            v = getattr(self, name)
            if isinstance(v, dict):
                if not v:
                    raise ValueError(f"{name}: give at least one value")
                total = sum(v.values())
                if abs(total - 1.0) > 0.01:
                    raise ValueError(f"{name} shares add up to {total:.0%}, not 100 %")
            vals = v.keys() if isinstance(v, dict) else ([] if v is None else [v])
            hi = 11 if name == "mcs" else 8
            lo = 0 if name == "mcs" else 1
            bad = [x for x in vals if not lo <= x <= hi]
            if bad:
                raise ValueError(f"{name} {bad[0]} is outside {lo}..{hi}")
        return self


class Transfer(_Strict):
    """A bare transfer test: every step switched off (no join, login, session, autosave); each pupil device
    only moves these bytes over TCP from its planned start, as a lab measurement or packet simulator would."""

    download: Bytes = 0.0
    """Bytes each device downloads (one TCP transfer)."""
    upload: Bytes = 0.0
    """Bytes each device uploads (one TCP transfer)."""
    uploaders: Fraction | None = None
    """Share of each room's devices that upload instead of download (unset: every device does both)."""
    connections: int = Field(1, ge=1, le=64)
    """Parallel TCP connections per transfer."""

    @model_validator(mode="after")
    def _check(self):
        if self.download <= 0 and self.upload <= 0:
            raise ValueError("a transfer needs download or upload bytes")
        return self


class Exam(_Strict):
    test: str
    start: Clock
    end: Clock
    arrival: Arrival
    teacher_lead: Duration = 120.0  # the teacher opens the session this long before start
    transfer: Transfer | None = None
    """Bare transfer mode (steps off): set to compare the model with a lab or packet-level test step by step."""


class ServiceRef(_Strict):
    profile: str
    workers: int | None = Field(None, ge=1)
    max_connections: int | None = Field(None, ge=1)


class Services(_Strict):
    idp: ServiceRef
    platform: ServiceRef
    content: ServiceRef
    provisioning: ServiceRef
    dhcp: ServiceRef


class LoginForm(_Strict):
    """How the pupil user finds the IdP's login form (defaults fit the reference IdP)."""

    form: str = "login"  # id or name of the <form>
    username: str = "username"
    password: str = "password"


def _http_url(v: object) -> object:
    from urllib.parse import urlsplit

    if isinstance(v, str):
        u = urlsplit(v)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"{v!r} is not an http(s) URL such as 'http://127.0.0.1:8400/idp'")
    return v


HttpUrl = Annotated[str, BeforeValidator(_http_url)]


class Targets(_Strict):
    idp: HttpUrl = "http://127.0.0.1:8400/idp"
    platform: HttpUrl = "http://127.0.0.1:8400/platform"
    scim: HttpUrl = "http://127.0.0.1:8400/scim/v2"
    ss12000: HttpUrl = "http://127.0.0.1:8400/ss12000/v2"
    scim_token: str = "examday-egil-token"
    login_form: LoginForm = LoginForm()
    allowed_hosts: tuple[str, ...] = ()  # non-loopback hosts the user owns (with --i-own-these-targets)


class Templates(_Strict):
    """Reusable classroom and site shapes; an entry with ``template:`` and ``count:`` expands them."""

    classrooms: dict[str, dict] = Field(default_factory=dict)
    sites: dict[str, dict] = Field(default_factory=dict)


class Scenario(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9._-]+$")
    description: str = ""
    seed: int = 1
    domain: str = Field("skola.example", pattern=r"^[a-z0-9.-]+$")  # EPPN scope
    exam: Exam
    core: Link  # city core: school distribution -> data centre
    datacentre: Link  # data centre edge to the services
    services: Services
    sites: tuple[Site, ...] = Field(min_length=1)
    targets: Targets = Targets()
    slo: dict[str, Annotated[float, BeforeValidator(lambda v: _slo_value(v))]] = Field(default_factory=dict)
    profiles: str | None = None  # profiles folder, relative to this file (default: nearest profiles/)
    templates: Templates | None = None  # expanded by the loader; here for the JSON Schema


def _slo_value(v: object) -> float:
    """SLO thresholds: a duration ('5 min') or a fraction ('0.5 %')."""
    if isinstance(v, str) and v.strip().endswith("%"):
        return units.parse_fraction(v)
    try:
        return units.parse_duration(v)
    except units.UnitError:
        try:
            return units.parse_fraction(v)
        except units.UnitError:
            raise ValueError(f"cannot read {v!r} as an SLO threshold; write a duration ('5 min') "
                             "or a percentage ('0.5 %')") from None
