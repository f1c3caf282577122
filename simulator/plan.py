"""Scenario -> Plan: every device, when it starts, what it fetches, which path its packets take.

The plan is what both engines consume. It is deterministic: the same
scenario, overrides and seed give a byte-identical plan (``Plan.digest``).
All randomness comes from one ``numpy.random.Generator`` seeded from the
scenario (DESIGN.md conventions).

Times are seconds from ``t0`` = the exam's start (``exam.start``); a teacher
opens the session ``teacher_lead`` before the room's start; each pupil starts
after a log-normal delay with the scenario's median and p95
(σ = ln(p95/median) / z₀.₉₅, z₀.₉₅ = 1.6449).
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .roster import Activity, Employment, Person, Roster, SchoolUnit, StudentGroup, password_for
from .scenario import LoadedScenario, load_scenario
from .scenario.models import ApProfile, DeviceProfile, ServiceProfile, TestProfile

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


@dataclass(frozen=True, slots=True)
class Device:
    id: str  # "<site>/<room>/<kind>-<n>"
    kind: str  # device profile name
    role: str  # "pupil" | "teacher"
    room: Room
    start_s: float  # planned start (wakes, joins Wi-Fi, opens the platform)
    eppn: str
    password: str

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
        h = hashlib.sha256()
        for d in self.devices:
            h.update(f"{d.id}|{d.kind}|{d.role}|{d.start_s!r}|{d.eppn}|{d.room.workload.test}\n".encode())
        return h.hexdigest()

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
    sigma = math.log(ex.arrival.p95 / ex.arrival.median) / Z95
    mu = math.log(ex.arrival.median)
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
            room = Room(rid, s, c.name, ap, route, workloads[c.test or ex.test], room_start,
                        _uid("g", rid), code)
            rooms.append(room)
            slug = f"{_slug(s)}-{_slug(c.name)}"
            if c.teacher:
                eppn = f"t-{slug}@{sc.domain}"
                devices.append(Device(f"{rid}/teacher", c.teacher, "teacher", room, room_start - ex.teacher_lead,
                                      eppn, password_for(seed, eppn)))
            n = sum(c.devices.values())
            delays = np.exp(mu + sigma * rng.standard_normal(n))
            i = 0
            for kind, count in c.devices.items():
                for k in range(count):
                    eppn = f"p-{slug}-{i + 1:03d}@{sc.domain}"
                    devices.append(Device(f"{rid}/{kind}-{k + 1}", kind, "pupil", room,
                                          room_start + float(delays[i]), eppn, password_for(seed, eppn)))
                    i += 1
    return Plan(scenario=sc.name, seed=seed, t0_clock=t0, end_s=ex.end - t0, devices=tuple(devices),
                rooms=tuple(rooms), device_profiles=dict(prof.devices), services=services, links=links,
                slo=dict(sc.slo), loaded=loaded)


def load_plan(path, overrides=(), seed: int | None = None) -> Plan:
    """Scenario file (+ ``--set`` overrides) -> Plan; raises ``UserError`` for bad input."""
    return build_plan(load_scenario(path, overrides), seed)
