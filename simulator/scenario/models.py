"""Typed scenario and profile objects (pydantic v2, ``extra="forbid"``).

Units are parsed at this edge (``simulator.units``): every field below holds
SI floats — seconds, bytes, bit/s, fractions — whatever the YAML said.
Templates (``templates.classrooms`` / ``templates.sites`` with ``count``) are
expanded by the loader before these models see the document, so a Scenario
always lists concrete sites and classrooms.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from .. import units

__all__ = [
    "Bitrate", "Bytes", "Duration", "Clock", "Fraction",
    "DeviceProfile", "ApProfile", "TestProfile", "ServiceProfile",
    "Link", "Classroom", "Site", "Exam", "Arrival", "Services", "ServiceRef",
    "Targets", "LoginForm", "Scenario", "Telemetry", "ApTelemetryFields",
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

    @property
    def width_mhz(self) -> int:
        return int(self.width.split()[0])


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


class ApProfile(_Strict):
    name: str
    description: str = ""
    radio: Radio
    max_clients: int = Field(ge=1, le=1024)
    airtime_fairness: bool = True
    port: Bitrate = 1e9  # the AP's wired port


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


class Site(_Strict):
    name: str = Field(min_length=1)
    kind: Literal["compulsory", "upper-secondary", "adult", "other"] = "compulsory"
    school_code: str | None = None
    uplink: Link
    switch: Bitrate = 10e9
    classrooms: tuple[Classroom, ...] = Field(min_length=1)


class Arrival(_Strict):
    """Pupils' start delay after the session opens: a log-normal with this median and p95."""

    median: Duration
    p95: Duration


class Exam(_Strict):
    test: str
    start: Clock
    end: Clock
    arrival: Arrival
    teacher_lead: Duration = 120.0  # the teacher opens the session this long before start


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
