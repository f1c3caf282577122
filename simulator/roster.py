"""The roster a scenario implies: what the student register pushes through EGIL.

Plain value objects shared by the plan (which derives them from the scenario),
the EGIL/SS 12000 provisioning client, and the reference stack (whose store
holds them). Identifiers are deterministic for a scenario + seed, so the live
engine can log in as exactly the pupils the plan names.

EGIL (Sambruk implementationsprofil) object types: SchoolUnit, StudentGroup,
User, Employment, Activity. ``userName`` is an EPPN (eduPersonPrincipalName).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

__all__ = ["SchoolUnit", "StudentGroup", "Person", "Employment", "Activity", "Roster", "password_for"]


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
