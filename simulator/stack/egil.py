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

__all__ = ["CORE_USER", "SIS", "TEST_EXT", "RESOURCE_TYPES", "SCHEMA_EXTENSIONS", "Attr", "Ref", "ResourceType",
           "SchemaExtension", "refs", "ref"]

from dataclasses import dataclass

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
SIS = "urn:scim:schemas:extension:sis:school:1.0"
TEST_EXT = "urn:examday:params:scim:schemas:extension:test:1.0:Activity"


@dataclass(frozen=True, slots=True)
class Attr:
    """One attribute as published under ``/Schemas`` (RFC 7643 §7)."""
    name: str
    type: str = "string"  # string | boolean | complex | reference | ...
    required: bool = False
    multi: bool = False
    sub: tuple["Attr", ...] = ()  # sub-attributes of a complex attribute
    mutability: str = "readWrite"
    returned: str = "default"
    uniqueness: str = "none"
    reference_types: tuple[str, ...] = ()


def Ref(name: str, *targets: str, required: bool = False, multi: bool = False) -> Attr:
    """An EGIL reference to another object: complex ``{"value": id}`` (like RFC 7643 ``members``), with an
    optional ``$ref`` (the target's URI)."""
    return Attr(name, "complex", required, multi, (Attr("value", required=True),
                                                   Attr("$ref", "reference", reference_types=targets)))


@dataclass(frozen=True, slots=True)
class ResourceType:
    name: str  # SCIM resource type name, e.g. "User"
    endpoint: str  # "Users"
    schema: str  # core schema URN
    extensions: tuple[str, ...] = ()
    description: str = ""
    attributes: tuple[Attr, ...] = ()  # published under /Schemas; required ones are checked on write


@dataclass(frozen=True, slots=True)
class SchemaExtension:
    id: str  # URN
    name: str
    description: str
    attributes: tuple[Attr, ...]


_NAME = Attr("name", "complex", sub=tuple(Attr(n) for n in (
    "formatted", "familyName", "givenName", "middleName", "honorificPrefix", "honorificSuffix")))
_EMAILS = Attr("emails", "complex", multi=True, sub=(Attr("value"), Attr("type"), Attr("primary", "boolean")))

RESOURCE_TYPES = {
    rt.endpoint: rt for rt in (
        ResourceType("User", "Users", CORE_USER, (f"{SIS}:User",), "Pupils and staff; userName is an EPPN",
                     (Attr("userName", required=True, uniqueness="server"), Attr("externalId"), _NAME,
                      Attr("displayName"), Attr("userType"), Attr("active", "boolean"),
                      Attr("password", mutability="writeOnly", returned="never"), _EMAILS)),
        ResourceType("SchoolUnit", "SchoolUnits", f"{SIS}:SchoolUnit", (), "Skolenhet",
                     (Attr("displayName", required=True), Attr("schoolUnitCode", required=True),
                      Attr("externalId"), Attr("schoolTypes", multi=True), Attr("municipalityCode"))),
        ResourceType("StudentGroup", "StudentGroups", f"{SIS}:StudentGroup", (), "Klass or undervisningsgrupp",
                     (Attr("displayName", required=True), Ref("owner", "SchoolUnit", required=True),
                      Ref("studentMemberships", "User", multi=True), Attr("studentGroupType"),
                      Attr("externalId"))),
        ResourceType("Employment", "Employments", f"{SIS}:Employment", (), "A staff member's duty at a school",
                     (Ref("user", "User", required=True), Ref("employedAt", "SchoolUnit", required=True),
                      Attr("employmentRole", required=True), Attr("externalId"))),
        ResourceType("Activity", "Activities", f"{SIS}:Activity", (TEST_EXT,),
                     "Teaching activity; here: a test occasion (examday extension names the test profile)",
                     (Attr("displayName", required=True), Ref("owner", "SchoolUnit", required=True),
                      Ref("groups", "StudentGroup", multi=True), Ref("teachers", "User", multi=True),
                      Attr("externalId"))),
    )
}

#: The schema extensions the resource types name (published under /Schemas too, RFC 7643 §6/§7).
SCHEMA_EXTENSIONS = {
    ext.id: ext for ext in (
        SchemaExtension(f"{SIS}:User", "SISUser", "EGIL user extension: the school units a pupil is enrolled at",
                        (Ref("enrolments", "SchoolUnit", multi=True),)),
        SchemaExtension(TEST_EXT, "TestActivity", "examday: the test profile an Activity sits",
                        (Attr("testProfile"),)),
    )
}
assert all(e in SCHEMA_EXTENSIONS for rt in RESOURCE_TYPES.values() for e in rt.extensions)


def ref(obj: dict, name: str) -> str:
    """``{"name": {"value": id}}`` -> id."""
    v = obj.get(name)
    return str(v.get("value", "")) if isinstance(v, dict) else ""


def refs(obj: dict, name: str) -> list[str]:
    """``{"name": [{"value": id}, ...]}`` -> [id, ...]."""
    v = obj.get(name) or []
    return [str(x.get("value")) for x in v if isinstance(x, dict) and x.get("value")]
