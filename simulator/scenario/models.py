"""Typed scenario and profile objects (pydantic v2, ``extra="forbid"``).

Units are parsed at this edge (``simulator.units``): every field below holds
SI floats — seconds, bytes, bit/s, fractions — whatever the YAML said.
Templates (``templates.classrooms`` / ``templates.sites`` with ``count``) are
expanded by the loader before these models see the document, so a Scenario
always lists concrete sites and classrooms.

Every field is documented by the attribute docstring on the line below it
(``use_attribute_docstrings``): that text is the field's description in
``examday schema``, which editors show on hover.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

from .. import units

__all__ = [
    "Bitrate", "Bytes", "Duration", "SignedDuration", "Clock", "Fraction",
    "DeviceProfile", "ApProfile", "Mac", "Edca", "Tcp", "LinkQuality", "Transfer", "TestProfile", "ServiceProfile",
    "Link", "Classroom", "Site", "Exam", "Arrival", "Services", "ServiceRef",
    "Targets", "LoginForm", "Scenario", "Telemetry", "ApTelemetryFields",
]

_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"


def unit_pattern(unit_names, sign: str = "") -> str:
    """A JSON-Schema pattern for '<number> <unit>' accepting exactly the units ``simulator.units`` reads."""
    alts = "|".join(re.escape(u) for u in sorted((u for u in unit_names if u), key=len, reverse=True))
    return rf"^\s*{sign}{_NUMBER}\s*(?:{alts})\s*$"


def _unit(parse, example: str, pattern: str, number: dict, what: str):
    def check(v):
        try:
            return parse(v)
        except units.UnitError as e:
            raise ValueError(str(e)) from None
    schema = {"anyOf": [{"type": "string", "pattern": pattern, "examples": [example]}, number],
              "description": what}
    return Annotated[float, BeforeValidator(check), WithJsonSchema(schema)]


def _signed(parse):
    """``parse`` that also reads a leading minus ('-2 min' -> -120.0)."""
    def check(v):
        if isinstance(v, str) and v.strip().startswith("-"):
            return -parse(v.strip()[1:])
        return parse(v)
    return check


_ZERO = {"type": "number", "const": 0}
Bitrate = _unit(units.parse_bitrate, "100 Mbit/s", unit_pattern(units._BITRATE_UNITS), _ZERO,
                "a bit rate with its unit, e.g. '100 Mbit/s' or '1 Gbit/s' (decimal prefixes)")
Bytes = _unit(units.parse_bytes, "35 MB", unit_pattern(units._BYTE_UNITS), {"type": "integer", "minimum": 0},
              "a size with its unit, e.g. '35 MB' or '4 KiB'; a bare integer is a byte count")
Duration = _unit(units.parse_duration, "45 s", unit_pattern(units._DURATION_UNITS), _ZERO,
                 "a duration with its unit, e.g. '45 s', '4 min', '250 ms'")
SignedDuration = _unit(_signed(units.parse_duration), "-1 min", unit_pattern(units._DURATION_UNITS, "-?"), _ZERO,
                       "a duration with its unit that may be negative, e.g. '2 min' or '-1 min'")
Clock = _unit(units.parse_clock, "09:00", r"^\s*[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?\s*$",
              {"type": "integer", "minimum": 0, "maximum": 1439},
              "a clock time 'HH:MM' or 'HH:MM:SS' (quote it in YAML)")
Fraction = _unit(units.parse_fraction, "0.5 %", rf"^\s*{_NUMBER}\s*%?\s*$",
                 {"type": "number", "minimum": 0, "maximum": 1},
                 "a share: a percentage such as '0.5 %', or a fraction between 0 and 1")

Standard = Literal["a", "g", "n", "ac", "ax"]
Band = Literal["2.4 GHz", "5 GHz", "6 GHz"]
Width = Literal["20 MHz", "40 MHz", "80 MHz", "160 MHz"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


# ---------------------------------------------------------------- profiles

class Radio(_Strict):
    """A Wi-Fi capability: what the PHY rate is computed from (IEEE 802.11-2020/ax-2021)."""

    standard: Standard
    """IEEE 802.11 amendment: a (5 GHz OFDM), g (2.4 GHz ERP-OFDM, 6-54 Mbit/s, no aggregation), n (Wi-Fi 4),
    ac (Wi-Fi 5) or ax (Wi-Fi 6/6E); for a and g ``max_mcs`` 0-7 indexes 6, 9, 12, 18, 24, 36, 48, 54 Mbit/s."""
    streams: int = Field(ge=1, le=8)
    """Spatial streams (MIMO), 1 to 8."""
    max_mcs: int = Field(ge=0, le=11)
    """Highest modulation and coding scheme index the radio reaches (0-11)."""
    width: Width = "80 MHz"
    """Channel width."""
    band: Band = "5 GHz"
    """Frequency band."""
    short_gi: bool = True
    """Short guard interval (400 ns in 802.11n/ac)."""
    gi: Duration | None = None
    """Guard interval, explicit: 0.8/1.6/3.2 µs for HE (ax), 0.4/0.8 µs for HT/VHT; unset: from ``short_gi``."""

    @property
    def width_mhz(self) -> int:
        return int(self.width.split()[0])

    @model_validator(mode="after")
    def _check_gi(self):
        if self.gi is not None:
            allowed = {"ax": (0.8e-6, 1.6e-6, 3.2e-6), "a": (0.8e-6,), "g": (0.8e-6,)}.get(self.standard, (0.4e-6, 0.8e-6))
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
        return 0.4e-6 if self.short_gi and self.standard not in ("a", "g") else 0.8e-6


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
    syn_timeout: Duration = 1.0
    """Wait before a lost SYN is sent again (RFC 6298 initial RTO 1 s; ns-3 ConnTimeout 3 s)."""


class Retry(_Strict):
    """Retry with exponential backoff and jitter (the device's HTTP stack)."""

    attempts: int = Field(3, ge=1, le=20)
    """Tries per request, the first one included."""
    backoff: Duration = 1.0
    """Wait before the first retry; doubles with each further retry."""
    max_backoff: Duration = 30.0
    """Cap on the doubled wait."""
    jitter: Fraction = 0.5
    """Random share added to or taken from each wait (0.5 = ±50 %)."""


class Http(_Strict):
    """The device's HTTP client."""

    connections_per_host: int = Field(6, ge=1, le=64)
    """Parallel TCP connections the browser opens to one host."""
    connect_timeout: Duration = 10.0
    """Time allowed to open a connection."""
    timeout: Duration = 30.0
    """Time allowed for a whole request before it counts as failed."""
    retry: Retry = Retry()
    """How failed requests are retried."""


class Dhcp(_Strict):
    """RFC 2131 §4.1 client timers: random initial wait, retransmit doubling to a cap."""

    initial_wait_min: Duration = 1.0
    """Shortest random wait before the first DHCPDISCOVER."""
    initial_wait_max: Duration = 10.0
    """Longest random wait before the first DHCPDISCOVER."""
    retransmit: Duration = 4.0
    """First retransmission timeout; doubles after each unanswered try."""
    max_retransmit: Duration = 64.0
    """Cap on the retransmission timeout."""


class DeviceProfile(_Strict):
    """A pupil or teacher device model (profiles/devices/<name>.yaml)."""

    name: str
    """Profile name; equals the file name without .yaml."""
    description: str = ""
    """Free text: what this profile stands for and where its figures come from."""
    wifi: Radio
    """The device's Wi-Fi radio."""
    http: Http = Http()
    """The device's HTTP client behaviour."""
    locked_mode: Literal["kiosk", "seb", "none"] = "none"
    """Locked exam mode: Chromebook kiosk app, Safe Exam Browser, or none."""
    user_agent: str = "Mozilla/5.0"
    """User-Agent header the live engine sends for this device."""
    dhcp: Dhcp = Dhcp()
    """DHCP client timers."""
    association: Duration = 0.3
    """802.11 authentication/association plus the WPA2-PSK/802.1X handshake."""
    mac: Mac = Mac()
    """The station's MAC: A-MPDU limits, EDCA for its uplink frames, transmit queue."""
    tcp: Tcp = Tcp()
    """TCP parameters of its connections."""


class ApProfile(_Strict):
    """A Wi-Fi access point model (profiles/aps/<name>.yaml)."""

    name: str
    """Profile name; equals the file name without .yaml."""
    description: str = ""
    """Free text: what this profile stands for and where its figures come from."""
    radio: Radio
    """The AP's radio serving the classroom."""
    max_clients: int = Field(ge=1, le=1024)
    """Clients one radio accepts; more devices in a room are a warning."""
    airtime_fairness: bool = True
    """Whether the AP shares airtime equally between clients (rather than frames)."""
    port: Bitrate = 1e9
    """The AP's wired port."""
    mac: Mac = Mac()
    """The AP's MAC: A-MPDU limits, EDCA for its downlink frames, transmit queue (shared by its stations)."""


class TestPart(_Strict):
    """One part of a test's content (e.g. the audio of a listening test)."""

    name: str
    """Name of the part."""
    size: Bytes
    """Bytes the device downloads for it."""


class Autosave(_Strict):
    """Answer autosaves while the pupil writes."""

    every: Duration = Field(30.0)
    """Interval between autosaves."""
    size: Bytes = 4000.0
    """Bytes per autosave request."""


class Submit(_Strict):
    """The final hand-in."""

    size: Bytes = 20000.0
    """Bytes of the submit request."""


class TestProfile(_Strict):
    """A national test as the network sees it (profiles/tests/<name>.yaml)."""

    name: str
    """Profile name; equals the file name without .yaml."""
    description: str = ""
    """Free text: which test and where its sizes come from."""
    duration: Duration
    """Writing time of the test."""
    parts: tuple[TestPart, ...] = Field(min_length=1)
    """The content downloaded before the pupil can start."""
    autosave: Autosave = Autosave()
    """Autosave cadence and size."""
    submit: Submit = Submit()
    """Hand-in size."""

    @property
    def download_bytes(self) -> float:
        return sum(p.size for p in self.parts)


class ServiceProfile(_Strict):
    """A server as a queue for the model: c workers, mean service time per operation."""

    name: str
    """Profile name; equals the file name without .yaml."""
    description: str = ""
    """Free text: which server and where its figures come from."""
    kind: Literal["idp", "platform", "content", "provisioning", "dhcp"]
    """Which role the service plays."""
    workers: int = Field(ge=1, le=100000)
    """Requests served at once (the c of an M/G/c queue)."""
    discipline: Literal["fifo", "ps"] = "fifo"
    """Queueing discipline: first come first served, or processor sharing."""
    max_connections: int = Field(10000, ge=1)
    """Connections accepted at once; beyond this requests are refused (HTTP 503)."""
    service_cv: float = Field(0.5, ge=0.0, le=5.0)
    """Coefficient of variation of service times."""
    operations: dict[str, Duration] = Field(default_factory=dict)
    """Mean CPU time per request kind (login, assertion, autosave, ...)."""
    bandwidth: Bitrate | None = None
    """Content delivery: egress capacity (null: not limited here)."""


# ---------------------------------------------------------------- scenario

class Link(_Strict):
    """A wired link, each direction with its own capacity."""

    down: Bitrate
    """Capacity towards the school (downloads)."""
    up: Bitrate
    """Capacity away from the school (logins, autosaves)."""
    rtt: Duration = 0.002
    """Round-trip time added by this link."""


class Classroom(_Strict):
    """A room with one AP and the devices that start the test there."""

    name: str = Field(min_length=1)
    """Room name, unique within its site (e.g. 9A)."""
    ap: str
    """AP profile serving the room (profiles/aps)."""
    devices: dict[str, Annotated[int, Field(strict=True, ge=0, le=10000)]] = Field(min_length=1)
    """Pupil devices by device profile, e.g. {chromebook: 26, ipad: 2}."""
    test: str | None = None
    """Test profile for this room (default: exam.test)."""
    start: Clock | None = None
    """Start time for this room (default: exam.start)."""
    teacher: str | None = "windows-laptop"
    """The teacher's device profile; null: no teacher login."""
    link: LinkQuality | None = None
    """Link quality of this room's devices (MCS/streams, fixed or shares); unset: the negotiated maximum."""
    transfer: Transfer | None = None
    """Overrides ``exam.transfer`` for this room."""


class Site(_Strict):
    """A school: its uplink to the city core and its classrooms."""

    name: str = Field(min_length=1)
    """Site name, unique in the scenario (used in reports and --set 'sites[name=...]')."""
    kind: Literal["compulsory", "upper-secondary", "adult", "other"] = "compulsory"
    """School form: compulsory (grundskola), upper-secondary (gymnasium), adult (komvux) or other."""
    school_code: str | None = None
    """School unit code (skolenhetskod, 8 digits)."""
    uplink: Link
    """The school's link to the city core."""
    switch: Bitrate = 10e9
    """The school's distribution switch capacity."""
    classrooms: tuple[Classroom, ...] = Field(min_length=1)
    """Rooms taking the test."""
    dhcp_pool: int | None = Field(None, ge=1, le=60000)
    """Addresses in the school's DHCP scope (``storm`` serves this many; null: enough for every device)."""
    dhcp_lease: Duration = 3600.0
    """DHCP lease time the school's scope hands out (``storm``; dnsmasq's minimum is 2 min)."""


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
    """The test sitting: what, when, and how the pupils arrive."""

    test: str
    """Test profile (profiles/tests)."""
    start: Clock
    """Clock time the exam starts."""
    end: Clock
    """Clock time the exam ends."""
    arrival: Arrival
    """Spread of the pupils' start after the session opens."""
    teacher_lead: SignedDuration = 120.0
    """The teacher opens the session this long before the start; negative: that long after it (late)."""
    transfer: Transfer | None = None
    """Bare transfer mode (steps off): set to compare the model with a lab or packet-level test step by step."""


class ServiceRef(_Strict):
    """A service by profile, with optional capacity overrides."""

    profile: str
    """Service profile (profiles/services)."""
    workers: int | None = Field(None, ge=1)
    """Override the profile's workers."""
    max_connections: int | None = Field(None, ge=1)
    """Override the profile's max_connections."""


class Services(_Strict):
    """The central services every pupil passes through."""

    idp: ServiceRef
    """Identity provider (SAML IdP broker) for the logins."""
    platform: ServiceRef
    """Test platform (SAML SP, sessions, autosaves)."""
    content: ServiceRef
    """Test content delivery."""
    provisioning: ServiceRef
    """EGIL/SS 12000 provisioning."""
    dhcp: ServiceRef
    """DHCP serving the schools."""


class LoginForm(_Strict):
    """How the pupil user finds the IdP's login form (defaults fit the reference IdP)."""

    form: str = "login"
    """id or name of the <form>."""
    username: str = "username"
    """Name of the username input."""
    password: str = "password"
    """Name of the password input."""


def _http_url(v: object) -> object:
    from urllib.parse import urlsplit

    if isinstance(v, str):
        u = urlsplit(v)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"{v!r} is not an http(s) URL such as 'http://127.0.0.1:8400/idp'")
    return v


HttpUrl = Annotated[str, BeforeValidator(_http_url)]


class Targets(_Strict):
    """Where the live engine sends its traffic."""

    idp: HttpUrl = "http://127.0.0.1:8400/idp"
    """IdP base URL."""
    platform: HttpUrl = "http://127.0.0.1:8400/platform"
    """Test platform base URL."""
    scim: HttpUrl = "http://127.0.0.1:8400/scim/v2"
    """EGIL SCIM endpoint."""
    ss12000: HttpUrl = "http://127.0.0.1:8400/ss12000"
    """SS 12000 API endpoint (the collections /organisations, /persons, ... live under it)."""
    scim_token: str = "examday-egil-token"
    """Bearer token for the SCIM and SS 12000 endpoints (a loopback `examday stack` uses this one by default)."""
    login_form: LoginForm = LoginForm()
    """How to fill in the IdP's login form."""
    allowed_hosts: tuple[str, ...] = ()
    """Non-loopback hosts the user owns (used only with --i-own-these-targets)."""
    interfaces: tuple[str, ...] = ()
    """Network interfaces ``storm --interface`` may send DHCP/DNS on (with --i-own-these-targets)."""


class Templates(_Strict):
    """Reusable classroom and site shapes; an entry with ``template:`` and ``count:`` expands them."""

    classrooms: dict[str, dict] = Field(default_factory=dict)
    """Classroom shapes by name: any classroom keys."""
    sites: dict[str, dict] = Field(default_factory=dict)
    """Site shapes by name: any site keys; their classrooms may use classroom templates."""


class ApTelemetryFields(_Strict):
    """Where the numbers sit in one AP telemetry message (JSON; dotted paths, e.g. ``stats.clients``)."""

    ap: str | None = "ap"
    """Field holding the AP id; null: take the id from the ``{ap}`` level of the topic."""
    clients: str = "clients"
    """Associated clients of the AP (all radios)."""
    radios: str = "radios"
    """List of per-radio objects; the fields below are read inside each."""
    band: str = "band"
    """Radio name or band (e.g. ``5GHz``), part of the resource name."""
    channel_utilisation: str = "channel_utilisation"
    """Share of time the radio's channel was busy."""
    retry_rate: str = "retry_rate"
    """Share of frames retransmitted."""
    throughput: str = "throughput_bps"
    """Radio throughput (tx + rx), bit/s."""
    percent: bool = True
    """Channel utilisation and retry rate are percentages (0..100); false: fractions (0..1)."""


class Telemetry(_Strict):
    """How AP/controller telemetry on MQTT maps to this scenario's APs (``load --ap-telemetry``, docs/telemetry.md)."""

    topic: str = "wifi/+/ap/{ap}/stats"
    """Topic pattern of AP messages; ``{ap}`` is the level carrying the AP id, ``+``/``#`` match anything."""
    fields: ApTelemetryFields = ApTelemetryFields()
    """Field names inside a message."""
    aps: dict[str, str] = Field(default_factory=dict)
    """AP id -> classroom (``site/room``, or ``room`` when the name is unique); unlisted ids ``<site>-<room>``."""


class Scenario(_Strict):
    """An exam-day scenario: one exam start across the sites, the network and the services."""

    name: str = Field(pattern=r"^[A-Za-z0-9._-]+$")
    """Scenario name (letters, digits, . _ -): names run folders."""
    description: str = ""
    """One line saying what this scenario models."""
    seed: int = 1
    """Random seed for the plan (arrivals, device order); --seed overrides it."""
    domain: str = Field("skola.example", pattern=r"^[a-z0-9.-]+$")
    """EPPN scope of the pupils' accounts."""
    exam: Exam
    """The exam: test, start, end, arrival spread."""
    core: Link
    """City core: school distribution -> data centre."""
    datacentre: Link
    """Data-centre edge to the services."""
    services: Services
    """Central services by profile."""
    sites: tuple[Site, ...] = Field(min_length=1)
    """The schools (an entry with template/count stands for several)."""
    targets: Targets = Targets()
    """Live-run target URLs."""
    slo: dict[str, Annotated[float, BeforeValidator(lambda v: _slo_value(v))]] = Field(default_factory=dict)
    """Service-level objectives: ready_p95, <step>_p<q> (durations), error_rate, ready_by_HHMM (percentages)."""
    profiles: str | None = None
    """Profiles folder relative to this file, added over the built-in profiles (default: a profiles/ beside it)."""
    templates: Templates | None = None
    """Reusable classroom and site shapes (expanded by the loader)."""
    telemetry: Telemetry = Telemetry()
    """AP/controller telemetry on MQTT: topic pattern, field names, AP id -> classroom (issue 14)."""


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
