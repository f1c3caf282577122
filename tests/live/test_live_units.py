"""Pure pieces of the live engine: timeline, partitions, pre-flight, forms, backoff, target safety."""

from __future__ import annotations

import random

import pytest

from simulator.plan import load_plan
from simulator.errors import UserError
from simulator.live import forms
from simulator.live.safety import check_targets
from simulator.live.schedule import estimate, partition, t0_epoch
from conftest import REPO


def test_timeline_puts_earliest_start_one_second_after_launch():
    assert t0_epoch(1000.0, [-5.0, 0.7, 15.0]) == pytest.approx(1006.0)
    assert t0_epoch(1000.0, [2.0, 3.0]) == pytest.approx(999.0)


def test_partition_is_deterministic_and_complete():
    items = list(range(62))
    shares = [partition(items, i, 3) for i in range(3)]
    assert sorted(sum(shares, [])) == items
    assert shares[1] == items[1::3]
    with pytest.raises(ValueError):
        partition(items, 3, 3)


def test_preflight_estimate_of_ci_smoke():
    plan = load_plan(str(REPO / "scenarios" / "ci-smoke.yaml"))
    est = estimate(plan)
    assert (est.devices, est.pupils, est.teachers) == (62, 60, 2)
    assert est.requests > 60 * 10 and est.peak_rps > 0 and est.bytes_down > 60 * 2.5e6
    assert any("peak" in line for line in est.lines())


REF_PAGE = b"""<html><head><title>Logga in</title></head><body><form method="post" action="/idp/login">
<input name="username"><input name="password" type="password"><input type="hidden" name="ctx" value="abc">
<button type="submit">Logga in</button></form></body></html>"""
OTHER_PAGE = b"""<html><head><title>Sign in to Skolfederation</title></head><body>
<form id="kc-form-login" action="/auth?s=1" method="post"><input name="j_username"><input name="j_password">
<input type="hidden" name="AuthState" value="st"><input type="checkbox" name="remember"><input type="submit"
name="login" value="Sign in"></form></body></html>"""


def test_login_form_found_by_action_on_reference_page():
    f = forms.login_form(REF_PAGE, "http://127.0.0.1:8400/idp/sso?x=1")
    assert f.action == "http://127.0.0.1:8400/idp/login" and f.method == "POST"
    assert dict(f.fields) == {"username": "", "password": "", "ctx": "abc"}


def test_login_form_found_by_id_with_configured_fields():
    f = forms.login_form(OTHER_PAGE, "http://127.0.0.1:9/sso", "kc-form-login", "j_username", "j_password")
    f.set("j_username", "p@x")
    assert f.action == "http://127.0.0.1:9/auth?s=1"
    assert dict(f.fields) == {"j_username": "p@x", "j_password": "", "AuthState": "st"}  # unchecked box not sent


def test_wrong_page_fails_with_a_clear_reason():
    with pytest.raises(forms.PageMismatch, match="login form 'login' not found on IdP page 'Sign in to Skolfed"):
        forms.login_form(OTHER_PAGE, "http://127.0.0.1:9/sso")
    with pytest.raises(forms.PageMismatch, match="has no field 'username'"):
        forms.login_form(OTHER_PAGE, "http://127.0.0.1:9/sso", "kc-form-login")
    with pytest.raises(forms.PageMismatch, match="no SAMLResponse form"):
        forms.saml_post_form(REF_PAGE, "http://x/")


def test_saml_post_form_and_meta_refresh():
    page = (b'<html><head><meta http-equiv="refresh" content="1;url=/idp/mfa/abc"></head><body>'
            b'<form method="post" action="https://sp/acs"><input type="hidden" name="SAMLResponse" value="PHg+">'
            b'<input type="hidden" name="RelayState" value="/next"></form></body></html>')
    f = forms.saml_post_form(page, "http://idp/")
    assert f.action == "https://sp/acs" and f.value("SAMLResponse") == "PHg+" and f.value("RelayState") == "/next"
    assert forms.meta_refresh(forms.parse(page), "http://idp/x") == "http://idp/idp/mfa/abc"


def test_backoff_grows_with_jitter_and_honours_retry_after():
    from simulator.live.schedule import backoff_delay
    from simulator.scenario.models import Retry

    r, rng = Retry(attempts=5, backoff="1 s", max_backoff="4 s", jitter="50 %"), random.Random(1)
    d1 = [backoff_delay(1, r, rng) for _ in range(200)]
    d3 = [backoff_delay(3, r, rng) for _ in range(200)]
    assert 0.5 <= min(d1) and max(d1) <= 1.5 and 2.0 <= min(d3) and max(d3) <= 6.0
    assert backoff_delay(1, r, rng, retry_after=10.0) == 10.0


def test_targets_loopback_ok_others_refused_without_flag():
    loop = {"idp": "http://127.0.0.1:1/idp", "platform": "http://localhost:1/platform",
            "scim": "http://[::1]:1/scim", "ss12000": "http://127.0.0.1:1/ss", "allowed_hosts": []}
    assert check_targets(loop, i_own_these_targets=False) == []
    ext = {**loop, "platform": "http://192.0.2.10/platform"}
    with pytest.raises(UserError, match="not in targets.allowed_hosts"):
        check_targets(ext, i_own_these_targets=True)
    ext["allowed_hosts"] = ["192.0.2.10"]
    with pytest.raises(UserError, match="--i-own-these-targets"):
        check_targets(ext, i_own_these_targets=False)
    assert check_targets(ext, i_own_these_targets=True) == ["192.0.2.10"]


def test_a_reset_post_is_not_resent_a_reset_get_may_be():
    """RFC 9110 §9.2.2: only idempotent requests may be re-sent automatically. A server that reads each
    request and resets the connection (SO_LINGER 0) counts what arrives."""
    import socket
    import struct
    import threading

    from simulator.live.http import Browser, HttpError
    from simulator.live.safety import EgressPolicy

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    seen: list[bytes] = []

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            data = c.recv(65536)
            seen.append(data.split(b" ", 1)[0])
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()  # RST: the request was sent, nothing came back

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    base = f"http://127.0.0.1:{port}"
    policy = EgressPolicy.pin({"idp": base + "/idp", "platform": base + "/platform", "scim": base + "/s",
                               "ss12000": base + "/ss"})
    b = Browser(user_agent="t", egress=policy, timeout=5)
    try:
        with pytest.raises(HttpError):
            b.request("POST", base + "/platform/acs", b"SAMLResponse=x")
        posts = seen.count(b"POST")
        with pytest.raises(HttpError):
            b.request("GET", base + "/platform/api/manifest")
    finally:
        b.close()
        srv.close()
    assert posts == 1  # the credentials / ACS / autosave POST reached the server once and is not repeated
    assert seen.count(b"GET") >= 2  # an idempotent request may be re-sent on a fresh connection


def test_a_post_on_a_keep_alive_connection_closed_under_it_is_resent_once_on_a_new_one():
    """The idle-timeout race (RFC 9112 §9.3.1): the server closes a kept-alive connection just as the
    browser sends on it, no response byte comes back. Chromium re-sends such a request once on a new
    connection, whatever its method (``ShouldResendRequest``); a fresh connection's failure is not re-sent."""
    import socket
    import threading

    from simulator.live.http import Browser, HttpError
    from simulator.live.safety import EgressPolicy

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    seen: list[tuple[int, bytes]] = []  # (connection number, method)
    answer_new = [True]
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"

    def serve():
        n = 0
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            n += 1
            first = True
            while data := c.recv(65536):
                seen.append((n, data.split(b" ", 1)[0]))
                if first and (n == 1 or answer_new[0]):
                    c.sendall(ok)
                    first = False
                    continue
                break  # the second request on a kept-alive connection (or the first, if told): close, no answer
            c.close()

    threading.Thread(target=serve, daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    policy = EgressPolicy.pin({"idp": base + "/idp", "platform": base + "/platform", "scim": base + "/s",
                               "ss12000": base + "/ss"})
    b = Browser(user_agent="t", egress=policy, timeout=5, connections=1)
    try:
        assert b.request("GET", base + "/platform/").status == 200
        r = b.request("POST", base + "/platform/api/autosave", b"{}")  # on the kept-alive connection 1
        assert r.status == 200
        assert seen[1:] == [(1, b"POST"), (2, b"POST")]  # lost on the old connection, re-sent once on a new one
        answer_new[0] = False  # now every new connection also closes: the re-send is not repeated
        del seen[:]
        with pytest.raises(HttpError):
            b.request("POST", base + "/platform/api/autosave", b"{}")
        assert [m for _, m in seen] == [b"POST", b"POST"]
    finally:
        b.close()
        srv.close()


def test_progress_line_sums_the_workers_and_is_quiet_off_a_terminal(tmp_path):
    import io
    import json

    from simulator.live.progress import Progress

    (tmp_path / "progress-w0.json").write_text(json.dumps(
        {"planned": 3, "walked": 2, "steps": 10, "errors": 1, "recent_s": [0.1] * 18}))
    (tmp_path / "progress-w1.json").write_text(json.dumps(
        {"planned": 2, "walked": 1, "steps": 5, "errors": 0, "recent_s": [0.5, 0.9]}))
    tty = io.StringIO()
    p = Progress(tmp_path, 5, enabled=True, stream=tty)
    p.show()
    p.end()
    # 20 durations: nearest ranks 19 and 20 of the sorted list are 0.5 and 0.9 -> numpy's linear p95 is 0.52
    assert tty.getvalue().splitlines()[-1].endswith(
        "devices 3/5 walked · steps 15 · errors 1 · p95 0.520 s")
    quiet = io.StringIO()
    q = Progress(tmp_path, 5, enabled=False, stream=quiet)
    q.show()
    q.end()
    assert quiet.getvalue() == ""
