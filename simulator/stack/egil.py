"""The EGIL profile of SCIM (Sambruk, EgilDoc ``implementationsprofil.md``): the
resource types, their schema URNs, and what the stack reads from each.

Objects carry SS 12000:2018 UUIDs as SCIM ``id`` (EGIL clients PUT/DELETE by
the id they POSTed; RFC 7644 §3.3 lets a service provider honour it). Two
examday extensions, both documented in docs/stack.md:

- ``urn:examday:params:scim:schemas:extension:test:1.0:Activity`` with
  ``testProfile``: the test profile name the Activity sits
  (``profiles/tests/<testProfile>.yaml``);
- SCIM core ``userType`` (RFC 7643 §4.1.1) carries eduPersonAffiliation
  (``student`` | ``staff``).
"""

from __future__ import annotations

__all__ = ["CORE_USER", "SIS", "TEST_EXT", "RESOURCE_TYPES", "ResourceType", "refs", "ref"]

from dataclasses import dataclass

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
SIS = "urn:scim:schemas:extension:sis:school:1.0"
TEST_EXT = "urn:examday:params:scim:schemas:extension:test:1.0:Activity"


@dataclass(frozen=True, slots=True)
class ResourceType:
    name: str  # SCIM resource type name, e.g. "User"
    endpoint: str  # "Users"
    schema: str  # core schema URN
    extensions: tuple[str, ...] = ()
    description: str = ""
    attributes: tuple[tuple[str, str, bool], ...] = ()  # (name, type, required) for /Schemas


RESOURCE_TYPES = {
    rt.endpoint: rt for rt in (
        ResourceType("User", "Users", CORE_USER, (f"{SIS}:User",), "Pupils and staff; userName is an EPPN",
                     (("userName", "string", True), ("externalId", "string", False), ("name", "complex", False),
                      ("displayName", "string", False), ("userType", "string", False),
                      ("password", "string", False), ("emails", "complex", False))),
        ResourceType("SchoolUnit", "SchoolUnits", f"{SIS}:SchoolUnit", (), "Skolenhet",
                     (("displayName", "string", True), ("schoolUnitCode", "string", True),
                      ("externalId", "string", False), ("schoolTypes", "string", False),
                      ("municipalityCode", "string", False))),
        ResourceType("StudentGroup", "StudentGroups", f"{SIS}:StudentGroup", (), "Klass or undervisningsgrupp",
                     (("displayName", "string", True), ("owner", "reference", True),
                      ("studentMemberships", "reference", False), ("studentGroupType", "string", False),
                      ("externalId", "string", False))),
        ResourceType("Employment", "Employments", f"{SIS}:Employment", (), "A staff member's duty at a school",
                     (("user", "reference", True), ("employedAt", "reference", True),
                      ("employmentRole", "string", True), ("externalId", "string", False))),
        ResourceType("Activity", "Activities", f"{SIS}:Activity", (TEST_EXT,),
                     "Teaching activity; here: a test occasion (examday extension names the test profile)",
                     (("displayName", "string", True), ("owner", "reference", True), ("groups", "reference", False),
                      ("teachers", "reference", False), ("externalId", "string", False))),
    )
}


def ref(obj: dict, name: str) -> str:
    """``{"name": {"value": id}}`` -> id."""
    v = obj.get(name)
    return str(v.get("value", "")) if isinstance(v, dict) else ""


def refs(obj: dict, name: str) -> list[str]:
    """``{"name": [{"value": id}, ...]}`` -> [id, ...]."""
    v = obj.get(name) or []
    return [str(x.get("value")) for x in v if isinstance(x, dict) and x.get("value")]
