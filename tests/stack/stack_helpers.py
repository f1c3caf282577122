"""Helpers for the reference stack tests: a hand-built roster, an in-process app
(Starlette TestClient) provisioned through SCIM, and real subprocess stacks."""

from __future__ import annotations

import urllib.parse
import zlib
import base64

from lxml import etree
from starlette.testclient import TestClient

from simulator.roster import Activity, Employment, Person, Roster, SchoolUnit, StudentGroup, password_for
from simulator.stack.app import prepare
from simulator.stack.config import Catalogue, ContentPart, ProvisioningLimits, StackConfig, TestSpec
from simulator.stack.egil_client import scim_objects

BASE = "http://testserver"
SU = SchoolUnit(id="su-1", code="12345678", name="Rosengårdsskolan")
PUPILS = tuple(Person(id=f"p-{i}", eppn=f"p{i:05d}-ak9@malmo.example", given_name="Elev", family_name=str(i),
                      affiliation="student", school_unit=SU.id, password=password_for(1, f"p{i}")) for i in range(3))
TEACHER = Person(id="t-1", eppn="t00001@malmo.example", given_name="Lärare", family_name="Ett", affiliation="staff",
                 school_unit=SU.id, password=password_for(1, "t1"))
OTHER = Person(id="p-x", eppn="p99999-gy@malmo.example", given_name="Elev", family_name="X", affiliation="student",
               school_unit=SU.id, password=password_for(1, "px"))
ROSTER = Roster(
    school_units=(SU,),
    groups=(StudentGroup(id="g-9a", name="9A", school_unit=SU.id, members=tuple(p.id for p in PUPILS)),
            StudentGroup(id="g-9b", name="9B", school_unit=SU.id, members=(OTHER.id,))),
    persons=(*PUPILS, TEACHER, OTHER),
    employments=(Employment(id="e-1", person=TEACHER.id, school_unit=SU.id),),
    activities=(Activity(id="a-1", name="Engelska 9A", school_unit=SU.id, groups=("g-9a",), teachers=(TEACHER.id,),
                         test="tiny-test"),
                Activity(id="a-2", name="Engelska 9B", school_unit=SU.id, groups=("g-9b",), teachers=(TEACHER.id,),
                         test="tiny-test")))
#: The same roster sitting the shipped profiles/tests/smoke-test.yaml (for subprocess stacks).
SMOKE = Roster(ROSTER.school_units, ROSTER.groups, ROSTER.persons, ROSTER.employments,
               tuple(Activity(a.id, a.name, a.school_unit, a.groups, a.teachers, "smoke-test")
                     for a in ROSTER.activities))
CATALOGUE = Catalogue.of(TestSpec(name="tiny-test", parts=(ContentPart("questions", 50_000),
                                                           ContentPart("audio", 3_000_000)),
                                  duration_s=60, autosave_every_s=5, autosave_size=2000, submit_size=8000))
TOKEN = "test-token-123"
#: ``examday stack`` options that switch Skolverket's per-IP provisioning rates off (tests that are not about them)
NO_RATE_LIMIT = ("--provisioning-writes", "0", "--provisioning-reads", "0")


def make_config(tmp_path, **kw) -> StackConfig:
    opts = dict(data_dir=str(tmp_path / "data"), base_url=BASE, scim_token=TOKEN, catalogue=CATALOGUE,
                mfa_delay_s=0.2, access_log=False, provisioning=ProvisioningLimits(0, 0))
    opts.update(kw)
    return prepare(StackConfig(**opts))


def provision(client: TestClient, roster: Roster = ROSTER) -> None:
    for endpoint, _id, body in scim_objects(roster):
        r = client.post(f"/scim/v2/{endpoint}", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 201, r.text



def request_id_from_redirect(location: str) -> str:
    """The AuthnRequest ID inside a HTTP-Redirect binding URL."""
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    xml = zlib.decompress(base64.b64decode(q["SAMLRequest"][0]), -15)
    return etree.fromstring(xml).get("ID")


def start_login(client: TestClient, **params) -> str:
    """GET /platform/login; returns the IdP redirect URL."""
    r = client.get("/platform/login", params=params, follow_redirects=False)
    assert r.status_code == 302, r.text
    return r.headers["location"]
