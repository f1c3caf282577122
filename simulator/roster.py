"""The roster a scenario implies: what the student register pushes through EGIL.

Plain value objects shared by the plan (which derives them from the scenario),
the EGIL/SS 12000 provisioning client, and the reference stack (whose store
holds them). Identifiers are deterministic for a scenario + seed, so the live
engine can log in as exactly the pupils the plan names.

EGIL (Sambruk implementationsprofil) object types: SchoolUnit, StudentGroup,
User, Employment, Activity. ``userName`` is an EPPN (eduPersonPrincipalName).

A real roster can replace the generated one (``read_roster``): a CSV in the
shape of a student-register export (IST Extens → EGIL: one row per person and
class, ``CSV_COLUMNS``; no public column specification exists, so the header
names are matched loosely) or an SS 12000 JSON dump (persons, groups,
activities, organisations, duties). Passwords come from a file or a command
(``read_passwords``) and are only held in memory.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

__all__ = ["SchoolUnit", "StudentGroup", "Person", "Employment", "Activity", "Roster", "password_for", "RosterError",
           "CSV_COLUMNS", "read_roster", "read_passwords", "assign"]


@dataclass(frozen=True, slots=True)
class SchoolUnit:
    id: str  # stable UUID-like id (externalId in SCIM)
    code: str  # sisSchoolUnitCode (skolenhetskod), 8 digits
    name: str


@dataclass(frozen=True, slots=True)
class StudentGroup:
    id: str
    name: str  # classroom name, e.g. "9A"
    school_unit: str  # SchoolUnit.id
    members: tuple[str, ...]  # Person.id of pupils


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    eppn: str  # userName; e.g. "p00012-ak9@malmo.example" — no name, no personal number
    given_name: str
    family_name: str
    affiliation: str  # "student" | "staff" (eduPersonAffiliation)
    school_unit: str  # SchoolUnit.id
    password: str  # reference stack only: pushed as SCIM's write-only "password" (RFC 7643 §4.1.1)


@dataclass(frozen=True, slots=True)
class Employment:
    id: str
    person: str  # Person.id of a teacher
    school_unit: str
    role: str = "Lärare"


@dataclass(frozen=True, slots=True)
class Activity:
    """A test occasion: which group sits which test, run by which teacher."""

    id: str
    name: str
    school_unit: str
    groups: tuple[str, ...]  # StudentGroup.id
    teachers: tuple[str, ...]  # Person.id
    test: str  # test profile name (profiles/tests/<test>.yaml)


@dataclass(frozen=True)
class Roster:
    school_units: tuple[SchoolUnit, ...] = ()
    groups: tuple[StudentGroup, ...] = ()
    persons: tuple[Person, ...] = ()
    employments: tuple[Employment, ...] = ()
    activities: tuple[Activity, ...] = ()
    by_id: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for obj in (*self.school_units, *self.groups, *self.persons, *self.employments, *self.activities):
            self.by_id[obj.id] = obj

    def __len__(self) -> int:
        return (len(self.school_units) + len(self.groups) + len(self.persons)
                + len(self.employments) + len(self.activities))


def password_for(seed: int, eppn: str) -> str:
    """A deterministic per-user password (the load generator must know it)."""
    return hashlib.sha256(f"examday:{seed}:{eppn}".encode()).hexdigest()[:16]


# ---------------------------------------------------------------- exported rosters

class RosterError(ValueError):
    """Bad roster input, already worded as ``file:line:col: where: what is wrong``."""


#: Columns of a roster CSV as a student register (IST Extens) exports it for EGIL: one row per person and
#: class. Header names are matched case-insensitively, Swedish or English; ``;``, ``,`` or tab separated.
CSV_COLUMNS = {
    "school_code": ("skolenhetskod", "schoolunitcode"),
    "school": ("skolenhet", "schoolunit", "skola"),
    "group": ("klass", "grupp", "group", "studentgroup"),
    "eppn": ("eppn", "edupersonprincipalname", "användarnamn", "username"),
    "given_name": ("förnamn", "givenname"),
    "family_name": ("efternamn", "familyname"),
    "role": ("roll", "role", "usertype"),
    "test": ("prov", "test", "testprofile"),
}
_STAFF = {"lärare", "personal", "staff", "teacher", "mentor"}
_STUDENT = {"elev", "student", "pupil"}


def _stable_id(kind: str, key: str) -> str:
    h = hashlib.sha256(f"roster:{kind}:{key}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def read_roster(path: str, passwords: dict[str, str] | None = None, default_test: str = "") -> Roster:
    """A CSV export (``CSV_COLUMNS``) or an SS 12000 JSON dump (persons, groups, activities, organisations,
    duties — lists or ``{"data": [...]}`` pages) → ``Roster``; passwords by EPPN (absent: "")."""
    from pathlib import Path
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as err:
        raise RosterError(f"{path}:1:1: roster: {err.strerror or err}") from err
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise RosterError(f"{path}:{line}:1: roster: not UTF-8 text") from err
    if text.lstrip().startswith(("{", "[")):
        roster = _from_ss12000(path, text, default_test)
    else:
        roster = _from_csv(path, text, default_test)
    pw = passwords or {}
    persons = tuple(Person(x.id, x.eppn, x.given_name, x.family_name, x.affiliation, x.school_unit,
                           pw.get(x.eppn, "")) for x in roster.persons)
    return Roster(roster.school_units, roster.groups, persons, roster.employments, roster.activities)


def _from_csv(path: str, text: str, default_test: str) -> Roster:
    import csv
    import io
    import re
    lines = text.splitlines()
    if not lines:
        raise RosterError(f"{path}:1:1: roster: empty file")
    delim = max(";,\t", key=lines[0].count)
    rows = list(csv.reader(io.StringIO(text), delimiter=delim))
    header = [h.strip().lower() for h in rows[0]]
    col = {}
    for key, names in CSV_COLUMNS.items():
        found = next((i for i, h in enumerate(header) if h in names), None)
        if found is not None:
            col[key] = found
    for key in ("school_code", "group", "eppn", "role"):
        if key not in col:
            raise RosterError(f"{path}:1:1: roster: no column for {key} (one of {', '.join(CSV_COLUMNS[key])})")
    units: dict[str, SchoolUnit] = {}
    members: dict[str, list[str]] = {}
    teachers: dict[str, list[str]] = {}
    group_unit, group_test, persons, employments = {}, {}, {}, {}
    for n, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue

        def get(key: str, default: str = "") -> str:
            i = col.get(key)
            return row[i].strip() if i is not None and i < len(row) else default
        code, group, eppn, role = get("school_code"), get("group"), get("eppn"), get("role").lower()
        if not re.fullmatch(r"\d{8}", code):
            raise RosterError(f"{path}:{n}:{col['school_code'] + 1}: skolenhetskod: {code!r} is not 8 digits")
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", eppn):
            raise RosterError(f"{path}:{n}:{col['eppn'] + 1}: eppn: {eppn!r} is not user@scope")
        if role not in _STAFF | _STUDENT:
            raise RosterError(f"{path}:{n}:{col['role'] + 1}: roll: {role!r} is neither elev nor lärare")
        if not group:
            raise RosterError(f"{path}:{n}:{col['group'] + 1}: klass: empty")
        su = units.setdefault(code, SchoolUnit(_stable_id("su", code), code, get("school", code)))
        gid = _stable_id("g", f"{code}/{group}")
        group_unit[gid] = (su.id, group)
        if get("test"):
            group_test[gid] = get("test")
        staff = role in _STAFF
        pid = _stable_id("p", eppn)
        if pid not in persons:
            persons[pid] = Person(pid, eppn, get("given_name"), get("family_name"), "staff" if staff else "student",
                                  su.id, "")
        (teachers if staff else members).setdefault(gid, []).append(pid)
        if staff and (pid, su.id) not in employments:
            employments[(pid, su.id)] = Employment(_stable_id("e", f"{eppn}/{code}"), pid, su.id)
    groups = tuple(StudentGroup(gid, name, su, tuple(dict.fromkeys(members.get(gid, ()))))
                   for gid, (su, name) in group_unit.items())
    activities = tuple(Activity(_stable_id("a", gid), f"{group_test.get(gid, default_test)} {name}", su, (gid,),
                                tuple(dict.fromkeys(teachers.get(gid, ()))), group_test.get(gid, default_test))
                       for gid, (su, name) in group_unit.items() if members.get(gid))
    return Roster(tuple(units.values()), groups, tuple(persons.values()), tuple(employments.values()), activities)


def _from_ss12000(path: str, text: str, default_test: str) -> Roster:
    """An SS 12000 dump, in the shapes of skolverket/dnp-ss12000-reference-api (what ``/ss12000`` serves)."""
    import json
    try:
        doc = json.loads(text)
    except ValueError as err:
        raise RosterError(f"{path}:{getattr(err, 'lineno', 1)}:{getattr(err, 'colno', 1)}: roster: not JSON "
                          f"({getattr(err, 'msg', err)})") from err
    if not isinstance(doc, dict):
        raise RosterError(f"{path}:1:1: roster: an SS 12000 dump is an object with persons, groups, activities")

    def items(name: str) -> list[dict]:
        v = doc.get(name, [])
        v = v.get("data", []) if isinstance(v, dict) else v
        if not isinstance(v, list) or not all(isinstance(x, dict) and x.get("id") for x in v):
            raise RosterError(f"{path}:1:1: {name}: must be a list of objects with an id")
        return v

    def ref(obj, key: str) -> str:
        v = obj.get(key) if isinstance(obj, dict) else None
        return str(v.get("id", "")) if isinstance(v, dict) else ""
    for name in ("persons", "groups", "activities"):
        if name not in doc:
            raise RosterError(f"{path}:1:1: roster: no {name!r} in the SS 12000 dump")
    units = tuple(SchoolUnit(str(o["id"]), str(o.get("schoolUnitCode", "")), str(o.get("displayName", "")))
                  for o in items("organisations"))
    duties = items("duties")
    duty_unit = {ref(d, "person"): ref(d, "dutyAt") for d in duties}
    persons = []
    for o in items("persons"):
        names = o.get("eduPersonPrincipalNames") or []
        if not names or not isinstance(names[0], str) or "@" not in names[0]:
            raise RosterError(f"{path}:1:1: persons[{o['id']}]: no eduPersonPrincipalNames")
        enrolled = [ref(e, "enroledAt") for e in o.get("enrolments") or []]
        staff = str(o["id"]) in duty_unit
        persons.append(Person(str(o["id"]), names[0], str(o.get("givenName", "")), str(o.get("familyName", "")),
                              "staff" if staff else "student",
                              duty_unit.get(str(o["id"])) or next(iter(enrolled), ""), ""))
    groups = tuple(StudentGroup(str(g["id"]), str(g.get("displayName", "")), ref(g, "organisation"),
                                tuple(ref(m, "person") for m in g.get("groupMemberships") or []))
                   for g in items("groups"))
    employments = tuple(Employment(str(d["id"]), ref(d, "person"), ref(d, "dutyAt"),
                                   str(d.get("dutyRole", "Lärare"))) for d in duties)
    activities = tuple(Activity(str(a["id"]), str(a.get("displayName", "")), ref(a, "organisation"),
                                tuple(str(g.get("id")) for g in a.get("groups") or [] if isinstance(g, dict)),
                                tuple(ref(t, "person") for t in a.get("teachers") or []),
                                str(a.get("testProfile") or default_test)) for a in items("activities"))
    return Roster(units, groups, tuple(persons), employments, activities)


def read_passwords(file: str | None = None, command: str | None = None) -> dict[str, str]:
    """EPPN → password from a file or a command's stdout (one ``eppn<tab|;|,>password`` a line), read into
    memory only: nothing of it is written anywhere."""
    import shlex
    import subprocess
    if file and command:
        raise RosterError("--passwords and --password-command: give one of them")
    if file:
        try:
            text, where = open(file, encoding="utf-8").read(), file
        except (OSError, UnicodeDecodeError) as err:
            raise RosterError(f"{file}:1:1: passwords: {getattr(err, 'strerror', None) or err}") from err
    elif command:
        try:
            done = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=60)
        except (OSError, ValueError, subprocess.TimeoutExpired) as err:
            raise RosterError(f"--password-command: {err}") from err
        if done.returncode != 0:
            raise RosterError(f"--password-command: exit {done.returncode}: {done.stderr.strip()[:200]}")
        text, where = done.stdout, "--password-command"
    else:
        return {}
    out = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        for sep in ("\t", ";", ","):
            eppn, found, pw = line.partition(sep)
            if found:
                break
        if not found or not eppn.strip() or not pw:
            raise RosterError(f"{where}:{n}:1: passwords: expected 'eppn<TAB>password'")
        out[eppn.strip()] = pw.rstrip("\r\n")
    return out


def assign(plan, roster: Roster):
    """The plan with its devices' EPPNs and passwords taken from ``roster``: per site (matched by
    skolenhetskod), pupil devices get the unit's students and teacher devices its staff, in roster order."""
    import dataclasses
    by_code = {su.code: su.id for su in roster.school_units}
    pupils: dict[str, list[Person]] = {}
    staff: dict[str, list[Person]] = {}
    for p in roster.persons:
        (staff if p.affiliation == "staff" else pupils).setdefault(p.school_unit, []).append(p)
    taken: dict[tuple[str, str], int] = {}
    devices = []
    for d in plan.devices:
        unit = by_code.get(d.room.school_code)
        if unit is None:
            raise RosterError(f"roster: no school unit {d.room.school_code} (site {d.site}) in the roster")
        pool = (staff if d.role == "teacher" else pupils).get(unit, [])
        i = taken.get((unit, d.role), 0)
        if i >= len(pool):
            raise RosterError(f"roster: school unit {d.room.school_code} has {len(pool)} "
                              f"{'staff' if d.role == 'teacher' else 'pupils'}; the scenario plans more "
                              f"{d.role} devices at site {d.site}")
        taken[(unit, d.role)] = i + 1
        devices.append(dataclasses.replace(d, eppn=pool[i].eppn, password=pool[i].password))
    return dataclasses.replace(plan, devices=tuple(devices))
