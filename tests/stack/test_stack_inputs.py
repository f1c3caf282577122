"""Every bad input is refused with a 4xx and a reason, before it is read whole,
against a real ``examday stack`` subprocess (uvicorn + the guarded httptools
protocol): oversized bodies (by Content-Length and chunked), huge or too many
headers, idle and half-sent connections, too many form fields, SCIM filter
escapes, huge paging values, deep JSON, forged page tokens, 64-bit seq; and
the stack's memory stays within 100 MB of idle through all of it."""

from __future__ import annotations

import base64
import json
import socket
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from simulator.stack.egil_client import push_roster
from simulator.stack.process import running_stack
from simulator.stack.walk import login
from stack_helpers import NO_RATE_LIMIT, PUPILS, SMOKE, TEACHER

MB = 1024 * 1024


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("inputs"), mfa_delay="0.1 s",
                       extra=("--header-timeout", "1 s", *NO_RATE_LIMIT)) as urls:
        assert not push_roster(SMOKE, urls.scim_url, urls.scim_token).failed
        yield urls


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def port_of(stack) -> int:
    return int(stack.base.rsplit(":", 1)[1])


def raw(stack, head: bytes, body_chunks=(), timeout: float = 30.0) -> tuple[int, bytes]:
    """Send ``head`` and then body chunks until the server answers or closes; (status, response bytes)."""
    s = socket.create_connection(("127.0.0.1", port_of(stack)), timeout=timeout)
    try:
        s.sendall(head)
        for chunk in body_chunks:
            try:
                s.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            s.setblocking(False)
            try:
                if s.recv(1, socket.MSG_PEEK):
                    break  # the answer is there: stop sending
            except BlockingIOError:
                pass
            except ConnectionResetError:
                break
            finally:
                s.setblocking(True)
                s.settimeout(timeout)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                got = s.recv(65536)
                if not got:
                    break
                data += got
        except ConnectionResetError:
            pass
    finally:
        s.close()
    assert data.startswith(b"HTTP/1.1 "), data[:200]
    return int(data[9:12]), data


def session_cookie(stack, person=PUPILS[0]) -> str:
    with httpx.Client() as c:
        login(c, stack.base, person.eppn, person.password)
        return "; ".join(f"{k}={v}" for k, v in c.cookies.items())


def chunked(total: int, size: int = MB):
    sent = 0
    while sent < total:
        yield b"%x\r\n" % size + b"a" * size + b"\r\n"
        sent += size
    yield b"0\r\n\r\n"


def assert_refused(status: int, data: bytes, expected: int) -> None:
    assert status == expected, data[:300]
    assert b"Traceback" not in data


def test_big_bodies_are_refused_while_streaming_and_memory_stays_bounded(stack):
    cookie = session_cookie(stack)
    idle = rss_mb(stack.pid)
    for _ in range(4):  # 4 x 100 MB SAMLResponse, announced by Content-Length: refused before reading
        status, data = raw(stack, b"POST /platform/acs HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                  b"application/x-www-form-urlencoded\r\nContent-Length: 100000000\r\n\r\n",
                           (b"SAMLResponse=" + b"A" * MB for _ in range(100)))
        assert_refused(status, data, 413)
        assert b"body-too-large" in data
    # 500 MB chunked autosave (no Content-Length): counted as it streams, cut after the 4 MiB limit
    status, data = raw(stack, b"POST /platform/api/answers?seq=1 HTTP/1.1\r\nHost: x\r\nCookie: " + cookie.encode()
                       + b"\r\nTransfer-Encoding: chunked\r\n\r\n", chunked(500 * MB))
    assert_refused(status, data, 413)
    auth = f"Authorization: Bearer {stack.scim_token}\r\n".encode()
    for _ in range(8):  # 8 x 50 MB authenticated SCIM POSTs
        status, data = raw(stack, b"POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Type: "
                                  b"application/scim+json\r\nContent-Length: 50000000\r\n\r\n",
                           (b" " * MB for _ in range(50)))
        assert_refused(status, data, 413)
    status, data = raw(stack, b"POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Type: "
                              b"application/scim+json\r\nTransfer-Encoding: chunked\r\n\r\n", chunked(50 * MB))
    assert_refused(status, data, 413)
    assert rss_mb(stack.pid) - idle < 100
    with httpx.Client() as c:  # nothing of it was stored, and the stack still serves
        users = c.get(f"{stack.scim_url}/Users", headers={"Authorization": f"Bearer {stack.scim_token}"}).json()
        assert users["totalResults"] == sum(1 for p in SMOKE.persons)


def test_huge_and_too_many_headers_get_431(stack):
    idle = rss_mb(stack.pid)
    status, data = raw(stack, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ", (b"a" * MB for _ in range(100)))
    assert_refused(status, data, 431)
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(150))
    status, data = raw(stack, b"GET /health HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert_refused(status, data, 431)
    assert rss_mb(stack.pid) - idle < 100


def test_idle_and_half_sent_connections_are_closed(stack):
    """The head must arrive within --header-timeout (1 s here), counted from the connection, whatever the
    client trickles: idle sockets and slowloris heads are closed (408)."""
    socks = [socket.create_connection(("127.0.0.1", port_of(stack)), timeout=30) for _ in range(40)]
    for i, s in enumerate(socks[20:]):
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow-%d: " % i)
    for _ in range(3):  # keep trickling: that must not extend the deadline
        time.sleep(0.5)
        for s in socks[20:]:
            try:
                s.sendall(b"a")
            except OSError:
                pass
    closed = 0
    for s in socks:
        data, timed_out = b"", False
        try:
            while chunk := s.recv(4096):
                data += chunk
        except ConnectionResetError:
            pass
        except socket.timeout:
            timed_out = True  # still open after 30 s: not closed
        closed += not timed_out and (data == b"" or data.startswith(b"HTTP/1.1 408"))
        s.close()
    assert closed == 40
    assert httpx.get(f"{stack.base}/health").status_code == 200


def _fields(n: int) -> str:
    return "&".join(f"f{i}=v" for i in range(n))


def test_bad_inputs_are_4xx_with_a_reason(stack):
    cookie = session_cookie(stack)
    scim = {"Authorization": f"Bearer {stack.scim_token}"}
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    token = base64.urlsafe_b64encode(b'{"c": "persons", "r": 1e400, "m": null}').decode().rstrip("=")
    big_token = base64.urlsafe_b64encode(json.dumps({"c": "persons", "r": 2 ** 70}).encode()).decode()
    cases = [
        ("POST", "/idp/login", form, _fields(150), 400, "too-many-fields"),
        ("POST", "/platform/acs", form, _fields(150), 400, "too-many-fields"),
        ("POST", "/idp/login", form, b"username=%ff%fe", 400, "bad-form"),
        ("GET", '/scim/v2/Users?filter=userName eq "\\q"', scim, None, 400, "invalidFilter"),
        ("GET", '/scim/v2/Users?filter=userName eq "\\ud800"', scim, None, 400, "invalidFilter"),
        ("GET", f"/scim/v2/Users?startIndex={10 ** 30}", scim, None, 400, "invalidValue"),
        ("POST", "/scim/v2/Users", {**scim, "Content-Type": "application/scim+json"}, "[" * 100_000 + "]" * 100_000,
         400, "invalidSyntax"),
        ("GET", f"/ss12000/persons?pageToken={token}", scim, None, 400, "invalid pageToken"),
        ("GET", f"/ss12000/persons?pageToken={big_token}", scim, None, 400, "invalid pageToken"),
        ("GET", "/ss12000/persons?pageToken=%%%%", scim, None, 400, "invalid pageToken"),
        ("POST", f"/platform/api/answers?seq={2 ** 63}", {"Cookie": cookie}, b"x", 400, "bad-seq"),
        ("POST", "/platform/api/answers?seq=-1", {"Cookie": cookie}, b"x", 400, "bad-seq"),
        ("GET", "/idp/sso?SAMLRequest=%%%%&Signature=***", {}, None, 400, "malformed"),
        ("POST", "/platform/acs", form, "SAMLResponse=" + base64.b64encode(
            '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>'.encode("utf-16")
        ).decode().replace("+", "%2B"), 400, "malformed"),
    ]
    with httpx.Client(base_url=stack.base) as c:
        for method, path, headers, body, status, reason in cases:
            r = c.request(method, path, headers=headers, content=body)
            assert r.status_code == status, (path, r.status_code, r.text[:200])
            assert reason in r.text or reason == r.headers.get("x-examday-reject"), (path, r.text[:200])
            assert "Traceback" not in r.text


def test_unauthenticated_logins_leave_no_server_state(stack):
    """GET /platform/login binds the request to the browser (signed cookie) and stores nothing."""
    db = Path(stack.data_dir) / "saml.db"

    def rows() -> int:
        with sqlite3.connect(db) as c:
            return sum(c.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("used_requests", "mfa"))
    before = rows()
    with httpx.Client(base_url=stack.base) as c:
        for _ in range(500):
            r = c.get("/platform/login", follow_redirects=False)
            assert r.status_code == 302 and "examday_sp_req" in r.headers["set-cookie"]
    assert rows() == before


def test_staff_login_still_works_over_http(stack):
    with httpx.Client() as c:
        login(c, stack.base, TEACHER.eppn, TEACHER.password)
        assert c.get(f"{stack.base}/platform/api/me").json()["affiliation"] == "staff"
