"""Skolverket's published provisioning limits, enforced by a stack started with
its defaults: 5 write requests/s and 10 GET/s per client IP (429 +
Retry-After beyond), bodies ≤ 200 KB (413). The EGIL client, driven at 3× the
write rate, is throttled and still delivers the whole roster; with SCIM /Bulk
it sizes its batches to the 200 KB limit."""

from __future__ import annotations

import httpx
import pytest

from simulator.roster import Person, Roster, SchoolUnit, StudentGroup, password_for
from simulator.stack.egil_client import ScimPusher, batches, push_roster, scim_objects
from simulator.stack.process import running_stack

SU = SchoolUnit(id="su-lim", code="87654321", name="Limitskolan")


def roster(n: int) -> Roster:
    pupils = tuple(Person(id=f"lim-{i}", eppn=f"l{i:05d}@malmo.example", given_name="Elev", family_name=str(i),
                          affiliation="student", school_unit=SU.id, password=password_for(3, str(i)))
                   for i in range(n))
    return Roster(school_units=(SU,), persons=pupils,
                  groups=(StudentGroup(id="lim-g", name="9L", school_unit=SU.id, members=tuple(p.id for p in pupils)),))


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("limits")) as urls:  # the published defaults
        yield urls


def users(stack) -> int:
    r = httpx.get(f"{stack.scim_url}/Users?count=1", headers={"Authorization": f"Bearer {stack.scim_token}"})
    assert r.status_code == 200, r.text
    return r.json()["totalResults"]


def push_recorded(stack, r: Roster):
    """``push_roster`` with every /Bulk request recorded: (result, [(body bytes, status), ...])."""
    sent = []
    original = ScimPusher.send_raw

    def recording(self, method, path, data):  # the bytes that go out, and what the service said
        answer = original(self, method, path, data)
        sent.append((len(data), answer[0]))
        return answer
    ScimPusher.send_raw = recording
    try:
        return push_roster(r, stack.scim_url, stack.scim_token), sent
    finally:
        ScimPusher.send_raw = original


def test_writes_at_three_times_the_rate_are_throttled_and_all_delivered(stack):
    r = roster(24)
    result = push_roster(r, stack.scim_url, stack.scim_token, bulk=False, max_rate=15.0)  # 3 x 5 writes/s
    assert not result.failed, result.failed[:3]
    assert result.created == len(r)
    assert result.throttled > 0  # the service did say 429
    # it waited the advertised Retry-After: retrying at once would have drawn about two 429s per object
    assert result.throttled <= len(r) // 2
    assert users(stack) == 24


def test_429_carries_retry_after_for_reads_and_writes(stack):
    headers = {"Authorization": f"Bearer {stack.scim_token}"}
    with httpx.Client(base_url=stack.scim_url, headers=headers) as c:
        reads = [c.get("/Users?count=1") for _ in range(25)]
        limited = [x for x in reads if x.status_code == 429]
        assert limited and all(int(x.headers["retry-after"]) >= 1 for x in limited)
        assert "rate-limited" in limited[0].text
        assert 1 <= sum(x.status_code == 200 for x in reads) <= 13  # a bucket of 10 (+ refill), minus earlier reads


def test_bodies_over_200_kb_get_413_and_bulk_batches_fit(stack):
    big = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "big@malmo.example",
           "displayName": "x" * 250_000}
    r = httpx.post(f"{stack.scim_url}/Users", json=big, headers={"Authorization": f"Bearer {stack.scim_token}"})
    assert r.status_code == 413 and "body-too-large" in r.text
    pusher = ScimPusher(stack.scim_url, stack.scim_token)
    limits = pusher.bulk_limits()
    pusher.close()
    assert limits.supported and limits.max_payload == 200_000
    r = roster(500)
    assert len(list(batches(list(scim_objects(r)), limits))) >= 2
    result, sent = push_recorded(stack, r)
    assert not result.failed, result.failed[:3]
    assert len(sent) >= 2 and all(size <= 200_000 and status == 200 for size, status in sent), sent
    assert max(size for size, _ in sent) > 150_000  # batches are filled up to the limit, not one object each
    assert users(stack) == 500  # the first 24 were there already: replaced (PUT), not duplicated
    assert result.replaced == 24 + 2 and result.created == len(r) - 26  # + the school unit and the group


def test_a_re_push_of_a_provisioned_roster_goes_in_full_batches(stack):
    """The rerun case: every object exists, so each POST batch answers 409s and goes again as PUTs, whose paths
    carry the ids. Those PUT batches must fit the 200 KB limit too: a 413 used to drop the client to one request
    per object (~2.5 objects/s under the write limit; malmo-city's 6,983 objects in ~45 min instead of 8 s)."""
    r = roster(600)
    first = push_roster(r, stack.scim_url, stack.scim_token)
    assert not first.failed, first.failed[:3]
    again, sent = push_recorded(stack, r)
    assert not again.failed, again.failed[:3]
    assert again.replaced == len(r) and again.created == 0  # every object (pupils, school unit, group) existed
    assert all(size <= 200_000 and status == 200 for size, status in sent), sent
    # ~600 x 330 B of users: two batches of POSTs answered 409, the same two again as PUTs (one by one would be
    # ~1,200 requests); every batch still more than half full
    assert len(sent) <= 6 and min(size for size, _ in sent) > 100_000, sent
    assert users(stack) >= 600
