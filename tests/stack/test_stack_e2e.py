"""End to end over real HTTP against ``python -m simulator stack`` in a
subprocess: provision (EGIL client) → login (SAML) → teacher opens →
manifest → download (Range, ETag) → autosave → submit; ``examday
provision`` on a shipped scenario; ``--check``; clean Ctrl-C."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys

import httpx
import pytest

from simulator.stack.egil_client import push_roster
from simulator.stack.exam import content_path
from simulator.stack.process import REPO, free_port, running_stack, start_stack, stop_stack
from simulator.stack.walk import login
from stack_helpers import OTHER, PUPILS, SMOKE, TEACHER


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("stack"), mfa_delay="0.2 s") as urls:
        result = push_roster(SMOKE, urls.scim_url, urls.scim_token)
        assert not result.failed and result.created == len(SMOKE)
        yield urls


def test_push_is_idempotent_over_http(stack):
    again = push_roster(SMOKE, stack.scim_url, stack.scim_token)
    assert not again.failed and again.replaced == len(SMOKE) and again.created == 0


def test_provision_login_download_autosave_submit(stack):
    base = stack.base
    with httpx.Client() as teacher, httpx.Client() as pupil:
        timings = login(pupil, base, PUPILS[0].eppn, PUPILS[0].password)
        assert timings["login_s"] > 0 and timings["assertion_s"] > 0
        r = pupil.get(f"{base}/platform/api/manifest")
        assert r.status_code == 409 and r.json()["error"] == "session-not-open" and r.headers["retry-after"]
        assert pupil.post(f"{base}/platform/api/answers?seq=1", content=b"x").status_code == 409

        login(teacher, base, TEACHER.eppn, TEACHER.password)
        groups = teacher.get(f"{base}/platform/api/teacher/groups").json()["groups"]
        assert {(g["group"], g["state"]) for g in groups} == {("g-9a", "scheduled"), ("g-9b", "scheduled")}
        assert pupil.post(f"{base}/platform/api/teacher/groups/g-9a/open").status_code == 403  # pupils cannot
        r = teacher.post(f"{base}/platform/api/teacher/groups/g-9a/open")
        assert r.status_code == 200 and r.json() == {"group": "g-9a", "activities": ["a-1"], "state": "open"}

        m = pupil.get(f"{base}/platform/api/manifest").json()
        assert m["test"] == "smoke-test" and m["activity"] == "a-1" and m["group"] == "g-9a"
        assert [p["name"] for p in m["parts"]] == ["manifest", "questions", "audio"]
        for part in m["parts"]:
            r = pupil.get(base + part["url"])
            assert r.status_code == 200 and len(r.content) == part["size"] == int(r.headers["content-length"])
            assert r.headers["etag"] == part["etag"]
            on_disk = content_path(stack.data_dir, "smoke-test", part["name"]).read_bytes()
            assert hashlib.sha256(r.content).digest() == hashlib.sha256(on_disk).digest()
            assert pupil.get(base + part["url"], headers={"If-None-Match": part["etag"]}).status_code == 304
        audio = m["parts"][2]
        r = pupil.get(base + audio["url"], headers={"Range": "bytes=100-199"})
        assert r.status_code == 206 and r.content == on_disk[100:200]
        assert r.headers["content-range"] == f"bytes 100-199/{audio['size']}"

        body = b"a" * m["autosave"]["size"]
        for seq in (1, 2, 3, 3):
            r = pupil.post(f"{base}/platform/api/answers", params={"seq": seq}, content=body)
            assert r.status_code == 200 and r.json() == {"ok": True, "seq": seq, "bytes": len(body)}
        assert [a["seq"] for a in pupil.get(f"{base}/platform/api/answers").json()["answers"]] == [1, 2, 3]
        r1 = pupil.post(f"{base}/platform/api/submit", content=b"s" * m["submit"]["size"])
        r2 = pupil.post(f"{base}/platform/api/submit", content=b"s" * m["submit"]["size"])
        assert r1.status_code == r2.status_code == 200 and r1.json()["receipt"] == r2.json()["receipt"]
        assert pupil.post(f"{base}/platform/api/answers?seq=4", content=body).json()["error"] == "already-submitted"


def test_other_group_stays_closed_and_content_needs_open_session(stack):
    with httpx.Client() as other:
        login(other, stack.base, OTHER.eppn, OTHER.password)
        assert other.get(f"{stack.base}/platform/api/manifest").status_code == 409
        assert other.get(f"{stack.base}/platform/content/smoke-test/audio").status_code == 409
    assert httpx.get(f"{stack.base}/platform/content/smoke-test/audio").status_code == 401


def test_check_flag(stack):
    port = stack.base.rsplit(":", 1)[1]
    cmd = [sys.executable, "-m", "simulator", "stack", "--check", "--port"]
    assert subprocess.run([*cmd, port], cwd=REPO, capture_output=True).returncode == 0
    assert subprocess.run([*cmd, str(free_port())], cwd=REPO, capture_output=True).returncode == 1


def test_examday_provision_scenario_then_its_pupil_logs_in(tmp_path):
    from simulator.plan import build_plan
    from simulator.scenario import load_scenario
    roster = build_plan(load_scenario(REPO / "scenarios" / "ci-smoke.yaml")).roster()
    with running_stack(tmp_path / "s") as urls:
        cmd = [sys.executable, "-m", "simulator", "provision", "scenarios/ci-smoke.yaml", "--url", urls.scim_url,
               "--token-file", f"{urls.data_dir}/scim-token", "--json"]
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert f'"objects": {len(roster)}' in done.stdout and '"failed": 0' in done.stdout
        pupil = next(p for p in roster.persons if p.affiliation == "student")
        with httpx.Client() as c:
            login(c, urls.base, pupil.eppn, pupil.password)
            assert c.get(f"{urls.base}/platform/api/me").json()["eppn"] == pupil.eppn


def test_ctrl_c_stops_cleanly(tmp_path):
    proc, urls = start_stack(tmp_path / "s")
    assert stop_stack(proc, signal.SIGINT) == 0


def test_trust_metadata_from_url(stack, tmp_path):
    """``--trust-metadata URL``: another stack's SP (and IdP) metadata fetched over HTTP."""
    from simulator.stack.app import Stack
    from stack_helpers import make_config
    other = Stack(make_config(tmp_path, trust_metadata=(f"{stack.base}/platform/metadata",
                                                        f"{stack.base}/idp/metadata")))
    assert f"{stack.base}/platform" in other.trusted_sps and f"{stack.base}/idp" in other.trusted_idps
    assert other.trusted_sps[f"{stack.base}/platform"].acs_post == (f"{stack.base}/platform/acs",)


def test_two_workers_share_one_store(tmp_path):
    with running_stack(tmp_path / "w2", workers=2) as urls:
        assert not push_roster(SMOKE, urls.scim_url, urls.scim_token).failed
        for p in PUPILS:
            with httpx.Client() as c:
                login(c, urls.base, p.eppn, p.password)
                assert c.get(f"{urls.base}/platform/api/me").json()["eppn"] == p.eppn


def test_provision_without_a_stack_is_a_clear_error(tmp_path):
    token = tmp_path / "token"
    token.write_text("x")
    cmd = [sys.executable, "-m", "simulator", "provision", "scenarios/ci-smoke.yaml", "--url",
           f"http://127.0.0.1:{free_port()}/scim/v2", "--token-file", str(token)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 2 and "no SCIM service there" in done.stderr and "Traceback" not in done.stderr
