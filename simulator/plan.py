"""Scenario -> Plan: every device, when it starts, what it fetches, which path its packets take.

The plan is what both engines consume. It is deterministic: the same
scenario, overrides and seed give a byte-identical plan (``Plan.digest``).
All randomness comes from one ``numpy.random.Generator`` seeded from the
scenario (DESIGN.md conventions).

Times are seconds from ``t0`` = the exam's start (``exam.start``); a teacher
opens the session ``teacher_lead`` before the room's start; each pupil starts
after a delay drawn per room from ``exam.arrival``: log-normal with the
scenario's median and p95 (σ = ln(p95/median) / z₀.₉₅, z₀.₉₅ = 1.6449),
uniform over a window, or an explicit list / CSV of offsets. A room's
``link`` shares (MCS, streams) are dealt out exactly (largest remainder) and
placed by a seeded shuffle, from a stream of their own so they never move
the arrival draws.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .errors import UserError
from .roster import Activity, Employment, Person, Roster, SchoolUnit, StudentGroup, password_for
from .scenario import LoadedScenario, load_scenario
from .scenario.models import ApProfile, Arrival, DeviceProfile, LinkQuality, ServiceProfile, TestProfile, Transfer
from .units import UnitError, parse_duration

__all__ = ["Device", "Room", "Route", "Link", "Workload", "ServicePlan", "Plan", "build_plan", "load_plan"]

Z95 = 1.6448536269514722


@dataclass(frozen=True, slots=True)
class Link:
    """One direction of a wired link: capacity and one-way propagation delay."""

    id: str  # "uplink-down:ak9", "core-up", "dc-down", "switch:ak9", "ap-port:ak9/9A"
    capacity_bps: float
    delay_s: float


@dataclass(frozen=True, slots=True)
class Route:
    """The path between a classroom and the data centre (AP radio excluded), down and up."""

    down: tuple[Link, ...]  # data centre -> core -> uplink -> switch -> AP port
    up: tuple[Link, ...]
    rtt_s: float  # wired round trip (sum of the links' RTT figures)


@dataclass(frozen=True, slots=True)
class Workload:
    """What one device fetches and sends for one test."""

    test: str
    parts: tuple[tuple[str, float], ...]  # (part name, bytes)
    autosave_every_s: float
    autosave_bytes: float
    autosaves: int  # over the test's duration
    submit_bytes: float
    duration_s: float

    @property
    def download_bytes(self) -> float:
        return sum(b for _, b in self.parts)


@dataclass(frozen=True, slots=True)
class Room:
    """A classroom: one AP radio, its devices' route, its test session."""

    id: str  # "<site>/<room>"
    site: str
    name: str
    ap: ApProfile
    route: Route
    workload: Workload
    start_s: float  # the room's exam start relative to t0
    group: str  # StudentGroup id (roster)
    school_code: str
    transfer: Transfer | None = None  # bare transfer mode: steps off, only these bytes move


@dataclass(frozen=True, slots=True)
class Device:
    id: str  # "<site>/<room>/<kind>-<n>"
    kind: str  # device profile name
    role: str  # "pupil" | "teacher"
    room: Room
    start_s: float  # planned start (wakes, joins Wi-Fi, opens the platform)
    eppn: str
    password: str
    mcs: int = -1  # link quality: MCS used on the air (-1: the negotiated maximum)
    streams: int = -1  # spatial streams used (-1: the negotiated maximum)
    transfer: str = ""  # bare transfer mode: "down", "up" or "both" ("" outside it)

    @property
    def site(self) -> str:
        return self.room.site

    @property
    def ap(self) -> str:
        return self.room.id


@dataclass(frozen=True, slots=True)
class ServicePlan:
    role: str  # idp | platform | content | provisioning | dhcp
    profile: ServiceProfile
    workers: int
    max_connections: int


@dataclass(frozen=True)
class Plan:
    scenario: str
    seed: int
    t0_clock: float  # seconds since midnight of t0
    end_s: float  # exam end relative to t0
    devices: tuple[Device, ...]  # ordered by site, room, role (teacher first), kind, index
    rooms: tuple[Room, ...]
    device_profiles: dict[str, DeviceProfile]
    services: dict[str, ServicePlan]
    links: dict[str, Link]
    slo: dict[str, float]
    loaded: LoadedScenario

    def pupils(self) -> Iterator[Device]:
        return (d for d in self.devices if d.role == "pupil")

    def starts(self) -> np.ndarray:
        return np.fromiter((d.start_s for d in self.devices), float, len(self.devices))

    @property
    def digest(self) -> str:
        """sha256 over every device row: equal digests mean identical plans."""
        rows = "".join([f"{d.id}|{d.kind}|{d.role}|{d.start_s!r}|{d.eppn}|{d.room.workload.test}\n" for d in self.devices])
        return hashlib.sha256(rows.encode()).hexdigest()  # one update: the same digest as one per row

    def roster(self) -> Roster:
        """The EGIL roster this plan implies: school units, groups, pupils, teachers, activities."""
        sc = self.loaded.scenario
        units: dict[str, SchoolUnit] = {}
        persons, groups, employments, activities = [], [], [], []
        members: dict[str, list[str]] = {r.id: [] for r in self.rooms}
        teachers: dict[str, list[str]] = {r.id: [] for r in self.rooms}
        for site in sc.sites:
            code = next(r.school_code for r in self.rooms if r.site == site.name)
            units[site.name] = SchoolUnit(id=_uid("su", site.name), code=code, name=site.name)
        for d in self.devices:
            su = units[d.room.site].id
            pid = _uid("p", d.eppn)
            persons.append(Person(id=pid, eppn=d.eppn, given_name=d.role.title(), family_name=d.id.split("/")[-1],
                                  affiliation="student" if d.role == "pupil" else "staff", school_unit=su,
                                  password=d.password))
            (members if d.role == "pupil" else teachers)[d.room.id].append(pid)
            if d.role == "teacher":
                employments.append(Employment(id=_uid("e", d.eppn), person=pid, school_unit=su))
        for r in self.rooms:
            groups.append(StudentGroup(id=r.group, name=r.name, school_unit=units[r.site].id,
                                       members=tuple(members[r.id])))
            activities.append(Activity(id=_uid("a", r.id), name=f"{r.workload.test} {r.name}",
                                       school_unit=units[r.site].id, groups=(r.group,),
                                       teachers=tuple(teachers[r.id]), test=r.workload.test))
        return Roster(tuple(units.values()), tuple(groups), tuple(persons), tuple(employments), tuple(activities))


def _uid(prefix: str, key: str) -> str:
    """A stable UUID-shaped id from a name (SS 12000 ids are UUIDs)."""
    h = hashlib.sha256(f"{prefix}:{key}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def _workload(test: TestProfile) -> Workload:
    every = test.autosave.every
    n = int(test.duration // every) if every > 0 else 0
    return Workload(test.name, tuple((p.name, p.size) for p in test.parts), every, test.autosave.size, n,
                    test.submit.size, test.duration)


def build_plan(loaded: LoadedScenario, seed: int | None = None) -> Plan:
    """Expand a loaded scenario into a Plan (seed defaults to the scenario's)."""
    sc, prof = loaded.scenario, loaded.profiles
    seed = sc.seed if seed is None else seed
    rng = np.random.default_rng(seed)
    ex = sc.exam
    t0 = ex.start
    link_rng = np.random.default_rng([seed, 9])
    offsets = _offsets(ex.arrival, loaded.path)
    links: dict[str, Link] = {}

    def link(id_: str, cap: float, rtt: float) -> Link:
        links[id_] = Link(id_, cap, rtt / 2)
        return links[id_]

    core_d, core_u = link("core-down", sc.core.down, sc.core.rtt), link("core-up", sc.core.up, sc.core.rtt)
    dc_d, dc_u = link("dc-down", sc.datacentre.down, sc.datacentre.rtt), link("dc-up", sc.datacentre.up, sc.datacentre.rtt)
    workloads = {name: _workload(t) for name, t in prof.tests.items()}
    services = {}
    for role in ("idp", "platform", "content", "provisioning", "dhcp"):
        ref = getattr(sc.services, role)
        p = prof.services[ref.profile]
        services[role] = ServicePlan(role, p, ref.workers or p.workers, ref.max_connections or p.max_connections)

    devices: list[Device] = []
    rooms: list[Room] = []
    for si, site in enumerate(sc.sites):
        s = site.name
        up_d = link(f"uplink-down:{s}", site.uplink.down, site.uplink.rtt)
        up_u = link(f"uplink-up:{s}", site.uplink.up, site.uplink.rtt)
        sw = link(f"switch:{s}", site.switch, 0.0)
        code = site.school_code or f"{90000000 + si:08d}"
        for c in site.classrooms:
            rid = f"{s}/{c.name}"
            ap = prof.aps[c.ap]
            port_d = link(f"ap-port:{rid}", ap.port, 0.0)
            route = Route(down=(dc_d, core_d, up_d, sw, port_d), up=(port_d, sw, up_u, core_u, dc_u),
                          rtt_s=sc.datacentre.rtt + sc.core.rtt + site.uplink.rtt)
            room_start = (c.start if c.start is not None else ex.start) - t0
            transfer = c.transfer or ex.transfer
            room = Room(rid, s, c.name, ap, route, workloads[c.test or ex.test], room_start,
                        _uid("g", rid), code, transfer)
            rooms.append(room)
            slug = f"{_slug(s)}-{_slug(c.name)}"
            n = sum(c.devices.values())
            mcs, streams = _link_values(c.link, n, link_rng)
            directions = _directions(transfer, n)
            if c.teacher and transfer is None:
                eppn = f"t-{slug}@{sc.domain}"
                devices.append(Device(f"{rid}/teacher", c.teacher, "teacher", room, room_start - ex.teacher_lead,
                                      eppn, password_for(seed, eppn)))
            delays = _delays(ex.arrival, n, rng, offsets)
            i = 0
            for kind, count in c.devices.items():
                for k in range(count):
                    eppn = f"p-{slug}-{i + 1:03d}@{sc.domain}"
                    devices.append(Device(f"{rid}/{kind}-{k + 1}", kind, "pupil", room,
                                          room_start + float(delays[i]), eppn, password_for(seed, eppn),
                                          int(mcs[i]), int(streams[i]), directions[i]))
                    i += 1
    return Plan(scenario=sc.name, seed=seed, t0_clock=t0, end_s=ex.end - t0, devices=tuple(devices),
                rooms=tuple(rooms), device_profiles=dict(prof.devices), services=services, links=links,
                slo=dict(sc.slo), loaded=loaded)


def _offsets(arrival: Arrival, scenario_path) -> tuple[float, ...] | None:
    """The explicit start offsets of a ``list`` or ``csv`` arrival (CSV read relative to the scenario)."""
    if arrival.distribution == "list":
        return tuple(arrival.offsets)
    if arrival.distribution != "csv":
        return None
    from pathlib import Path

    path = Path(scenario_path).parent / arrival.csv
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{scenario_path}: exam.arrival.csv: cannot read {path}: {e}") from None
    out = []
    for no, line in enumerate(text.splitlines(), 1):
        cell = line.split(",")[0].strip()
        if not cell or cell.startswith("#") or (no == 1 and not cell[0].isdigit()):
            continue  # blank, comment, header
        try:
            out.append(float(cell) if cell.replace(".", "", 1).isdigit() else parse_duration(cell))
        except UnitError as e:
            raise UserError(f"{path}:{no}:1: exam.arrival.csv: {e}") from None
    if not out:
        raise UserError(f"{path}:1:1: exam.arrival.csv: no start offsets in the file")
    return tuple(out)


def _delays(arrival: Arrival, n: int, rng: np.random.Generator, offsets: tuple[float, ...] | None) -> np.ndarray:
    """Each pupil's start delay in one room (seconds after the room's start)."""
    if arrival.distribution == "lognormal":
        sigma = math.log(arrival.p95 / arrival.median) / Z95
        return np.exp(math.log(arrival.median) + sigma * rng.standard_normal(n))
    if arrival.distribution == "uniform":
        return rng.uniform(0.0, arrival.window, n)
    return np.resize(np.asarray(offsets, float), n)


def _shares(value: int | dict[int, float] | None, n: int, rng: np.random.Generator) -> np.ndarray:
    """n values: fixed, or {value: share} dealt out exactly (largest remainder) in a seeded order."""
    if value is None:
        return np.full(n, -1)
    if not isinstance(value, dict):
        return np.full(n, int(value))
    keys = sorted(value)
    raw = np.array([value[k] * n for k in keys])
    counts = np.floor(raw).astype(int)
    for j in np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]:
        counts[j] += 1
    return rng.permutation(np.repeat(keys, counts))


def _link_values(link: LinkQuality | None, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if link is None:
        return np.full(n, -1), np.full(n, -1)
    return _shares(link.mcs, n, rng), _shares(link.streams, n, rng)


def _directions(transfer: Transfer | None, n: int) -> list[str]:
    """Bare transfer mode: which devices download, upload or both (uploaders are the room's first devices)."""
    if transfer is None:
        return [""] * n
    if transfer.uploaders is None:
        both = "both" if transfer.download > 0 and transfer.upload > 0 else ("down" if transfer.download > 0 else "up")
        return [both] * n
    up = int(round(transfer.uploaders * n))
    return ["up"] * up + ["down"] * (n - up)


def load_plan(path, overrides=(), seed: int | None = None) -> Plan:
    """Scenario file (+ ``--set`` overrides) -> Plan; raises ``UserError`` for bad input."""
    return build_plan(load_scenario(path, overrides), seed)
