"""Kill -9 of the stack in the middle of a run of autosaves: every answer
acknowledged before the kill is there after a restart on the same data dir.
Plus overload: a bounded in-flight counter answers 503 + Retry-After."""

from __future__ import annotations

import asyncio
import os
import signal
import threading

import httpx

from simulator.stack.health import Overload
from simulator.stack.egil_client import push_roster
from simulator.stack.process import start_stack, stop_stack
from simulator.stack.walk import login
from stack_helpers import PUPILS, SMOKE, TEACHER

KILL_AFTER_ACKS = 150


def test_sigkill_loses_no_acknowledged_answer(tmp_path):
    data = tmp_path / "stack"
    proc, urls = start_stack(data)
    try:
        assert not push_roster(SMOKE, urls.scim_url, urls.scim_token).failed
        with httpx.Client() as t:
            login(t, urls.base, TEACHER.eppn, TEACHER.password)
            assert t.post(f"{urls.base}/platform/api/teacher/groups/g-9a/open").status_code == 200
        clients = []
        for p in PUPILS:
            c = httpx.Client(timeout=30)
            login(c, urls.base, p.eppn, p.password)
            clients.append(c)
        acked: dict[int, list[int]] = {i: [] for i in range(len(clients))}
        total, lock, killed = [0], threading.Lock(), threading.Event()

        def autosave(i: int, c: httpx.Client) -> None:
            for seq in range(1, 100_000):
                if killed.is_set():
                    return
                try:
                    r = c.post(f"{urls.base}/platform/api/answers", params={"seq": seq},
                               content=f"pupil {i} answer {seq}".encode() * 100)
                except httpx.HTTPError:
                    return  # the server died mid-request: not acknowledged
                if r.status_code != 200:
                    return
                acked[i].append(seq)
                with lock:
                    total[0] += 1
                    if total[0] >= KILL_AFTER_ACKS and not killed.is_set():
                        killed.set()
                        os.killpg(proc.pid, signal.SIGKILL)  # mid-load, other requests in flight

        threads = [threading.Thread(target=autosave, args=(i, c)) for i, c in enumerate(clients)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        assert sum(len(v) for v in acked.values()) >= KILL_AFTER_ACKS
    finally:
        stop_stack(proc)
    port = int(urls.base.rsplit(":", 1)[1])
    proc2, urls2 = start_stack(data, port)  # same data dir, same port: the session cookies stay valid
    try:
        for i, c in enumerate(clients):
            stored = {a["seq"] for a in c.get(f"{urls2.base}/platform/api/answers").json()["answers"]}
            missing = set(acked[i]) - stored
            assert not missing, f"pupil {i} lost acknowledged answers {sorted(missing)[:10]}"
            c.close()
    finally:
        stop_stack(proc2)


def test_overload_gives_503_with_retry_after(tmp_path):
    gate = asyncio.Event()

    async def slow_app(scope, receive, send):
        await gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    mw = Overload(slow_app, limit=2, data_dir=tmp_path)

    async def call(path: str) -> tuple[int, dict]:
        sent = []

        async def send(msg):
            sent.append(msg)

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}
        await mw({"type": "http", "path": path, "method": "GET", "headers": [], "query_string": b""}, receive, send)
        start = sent[0]
        return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}

    async def scenario():
        held = [asyncio.create_task(call("/idp/sso")) for _ in range(2)]
        await asyncio.sleep(0)
        status, headers = await call("/idp/sso")  # third concurrent IdP request: over the bound
        assert mw.inflight["idp"] == 2
        gate.set()
        other = await call("/platform/api/me")  # other services are unaffected
        results = await asyncio.gather(*held)
        return status, headers, other, results

    status, headers, other, results = asyncio.run(scenario())
    assert status == 503 and headers["retry-after"] == "1"
    assert other[0] == 200 and [r[0] for r in results] == [200, 200]
    assert mw.inflight["idp"] == 0 and mw.rejected["idp"] == 1
