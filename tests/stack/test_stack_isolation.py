"""Isolation: password hashing on its own bounded pool, so a pupil's manifest
stays fast while a login flood at the production argon2 cost queues;
``/health`` sums every worker's counters; bad stack options are one-line
errors."""

from __future__ import annotations

import signal
import statistics
import subprocess
import sys
import threading
import time

import httpx
import pytest

from simulator.roster import Activity, Roster
from simulator.stack.egil_client import push_roster
from simulator.stack.process import REPO, running_stack, start_stack, stop_stack
from simulator.stack.walk import login, parse_form
from stack_helpers import NO_RATE_LIMIT, PUPILS, ROSTER, TEACHER


def _manifest_latencies(client: httpx.Client, base: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(f"{base}/platform/api/manifest")
        out.append(time.perf_counter() - t0)
        assert r.status_code == 200, r.text
    return out


def test_manifest_stays_fast_during_a_login_flood_at_the_production_hash(tmp_path):
    """48 concurrent logins at RFC 9106's argon2id (t=3, 64 MiB, p=4): more than the 40 threads of the pool
    Starlette runs sync endpoints on, which is where the manifest waited 8 s before hashing had its own pool."""
    small = Roster(ROSTER.school_units, ROSTER.groups[:1], (PUPILS[0], TEACHER), ROSTER.employments,
                   (Activity("a-1", "Engelska 9A", ROSTER.school_units[0].id, ("g-9a",), (TEACHER.id,),
                             "smoke-test"),))
    proc, s = start_stack(tmp_path / "s", hash_cost="production", mfa_delay="0.1 s", extra=NO_RATE_LIMIT)
    done, answers = threading.Event(), []
    try:
        assert not push_roster(small, s.scim_url, s.scim_token).failed
        with httpx.Client(timeout=120) as pupil, httpx.Client(timeout=120) as teacher:
            login(teacher, s.base, TEACHER.eppn, TEACHER.password)
            assert teacher.post(f"{s.base}/platform/api/teacher/groups/g-9a/open").status_code == 200
            login(pupil, s.base, PUPILS[0].eppn, PUPILS[0].password)
            _manifest_latencies(pupil, s.base, 3)  # warm
            unloaded = _manifest_latencies(pupil, s.base, 10)
            with httpx.Client() as starter:  # one browser's login context (and its IdP flow cookie) for all
                ctx = parse_form(starter.get(f"{s.base}/platform/login", follow_redirects=True).text).fields["ctx"]
                flow = dict(starter.cookies)

            def flood():
                with httpx.Client(timeout=300, cookies=flow) as c:
                    while not done.is_set():
                        try:
                            r = c.post(f"{s.base}/idp/login", data={"ctx": ctx, "username": PUPILS[0].eppn,
                                                                      "password": "wrong"})
                        except httpx.HTTPError:
                            return  # the stack was stopped under it
                        answers.append(r.status_code)
            threads = [threading.Thread(target=flood, daemon=True) for _ in range(48)]
            for t in threads:
                t.start()
            time.sleep(1.0)  # let the hashing queue fill up
            loaded = _manifest_latencies(pupil, s.base, 10)
            backlog = httpx.get(f"{s.base}/health").json()["services"]["idp"]["inflight"]
    finally:
        done.set()
        stop_stack(proc, signal.SIGKILL)  # do not wait for the queued hashes
    for t in threads:
        t.join()
    assert backlog > 40  # more logins queueing than the shared thread pool has threads (anyio: 40)
    assert set(answers) <= {401, 503}
    base, flooded = statistics.median(unloaded), statistics.median(loaded)
    print(f"manifest median {base * 1000:.1f} ms unloaded, {flooded * 1000:.1f} ms under the login flood")
    assert flooded < max(10 * base, base + 0.25)


def test_health_sums_all_workers(tmp_path):
    with running_stack(tmp_path / "w", workers=2, extra=NO_RATE_LIMIT) as s:
        n = 30
        for _ in range(n):  # a new connection each: uvicorn's workers share the listening socket
            assert httpx.get(f"{s.base}/platform/metadata").status_code == 200
        seen, total = set(), 0
        for _ in range(20):
            h = httpx.get(f"{s.base}/health").json()
            seen |= set(h["workers"])
            total = h["services"]["platform"]["requests"]
            if len(h["workers"]) == 2 and total >= n:
                break
            time.sleep(0.2)
        assert len(seen) == 2 and len(h["workers"]) == 2
        assert total >= n  # every worker's count, not one worker's


@pytest.mark.parametrize("args, message", [
    (["--workers", "0"], "--workers 0: must be at least 1"),
    (["--max-inflight", "0"], "--max-inflight 0: must be at least 1"),
    (["--profiles", "/nonexistent/profiles"], "no such folder"),
    (["--profiles", "EMPTY"], "no test profiles"),
])
def test_bad_stack_options_are_one_line_errors(tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    args = [str(tmp_path / "empty") if a == "EMPTY" else a for a in args]
    done = subprocess.run([sys.executable, "-m", "simulator", "stack", "--data", str(tmp_path / "d"), "--port",
                           "1", *args], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
