"""Overload protection and ``/health``, aggregated across uvicorn workers.

Each service (``idp``, ``platform``, ``content``, ``provisioning``) has a
bounded in-flight counter; a request beyond ``max_inflight`` gets ``503`` +
``Retry-After`` at once (RFC 9110 §15.6.4, §10.2.3) instead of queueing
without bound.

Every worker publishes its counters (in flight, requests, 503s, 429s) to
``DATA/workers/<pid>.json`` — at most twice a second, and half a second after
the last change — and ``/health`` sums the files of the workers that are
alive, so any worker answers for all of them. The snapshot is taken on the
event loop; the file is written by one helper thread (in order), since an
ext4 rename over an existing file waits for its data (~4 ms here), which
would stall every connection of the worker.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from starlette.responses import PlainTextResponse

log = logging.getLogger("examday.stack.health")

__all__ = ["Overload", "SERVICES", "aggregate", "workers_dir"]

SERVICES = {"/idp": "idp", "/platform/content": "content", "/platform": "platform", "/gateway": "platform",
            "/scim": "provisioning", "/ss12000": "provisioning"}
PUBLISH_EVERY_S = 0.5


def workers_dir(data_dir: str | Path) -> Path:
    return Path(data_dir) / "workers"


class Overload:
    """ASGI middleware: per-service in-flight bound (503 + Retry-After beyond it) and per-worker counters."""

    def __init__(self, app, limit: int, data_dir: str | Path, throttled=lambda: 0):
        self.app, self.limit, self.throttled = app, limit, throttled
        names = sorted(set(SERVICES.values()))
        self.inflight = dict.fromkeys(names, 0)
        self.rejected = dict.fromkeys(names, 0)
        self.requests = dict.fromkeys(names, 0)
        self.folder = workers_dir(data_dir)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._published = 0.0
        self._pending: asyncio.TimerHandle | None = None
        self._writer: ThreadPoolExecutor | None = None  # made on first use: after any fork
        self._write(json.dumps(self.snapshot()))

    def snapshot(self) -> dict:
        return {"pid": os.getpid(), "throttled_429": self.throttled(),
                "services": {s: {"inflight": self.inflight[s], "requests": self.requests[s],
                                 "rejected_503": self.rejected[s]} for s in self.inflight}}

    def _write(self, text: str) -> None:
        path = self.folder / f"{os.getpid()}.json"
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(text)
            os.replace(tmp, path)
        except OSError as err:  # the other workers' /health sees this one's last counters
            log.warning("could not publish worker counters to %s: %s", path, err)

    def publish(self) -> None:
        """Snapshot the counters now; write them off the event loop (one thread: writes stay in order)."""
        self._published, self._pending = time.monotonic(), None
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="health-publish")
        self._writer.submit(self._write, json.dumps(self.snapshot()))

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        service = next((s for p, s in SERVICES.items() if path.startswith(p)), None)
        if service is None:
            return await self.app(scope, receive, send)
        self.requests[service] += 1
        if self.inflight[service] >= self.limit:
            self.rejected[service] += 1
            resp = PlainTextResponse(f"{service} overloaded, retry later\n", 503, headers={"Retry-After": "1"})
            return await resp(scope, receive, send)
        self.inflight[service] += 1
        try:
            # Yield once so every request already read off the sockets enters (and is counted)
            # before any of them runs its CPU work inline: the counter is then the queue length.
            await asyncio.sleep(0)
            await self.app(scope, receive, send)
        finally:
            self.inflight[service] -= 1
            if time.monotonic() - self._published > PUBLISH_EVERY_S:
                self.publish()
            elif self._pending is None:  # the last change gets out too, without a write per request
                self._pending = asyncio.get_running_loop().call_later(PUBLISH_EVERY_S, self.publish)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def aggregate(own: Overload) -> dict:
    """Counters summed over the live workers (this one live, the others as last published)."""
    snaps = {os.getpid(): own.snapshot()}
    for path in own.folder.glob("*.json"):
        try:
            pid = int(path.stem)
            if pid in snaps or not _alive(pid):
                continue
            snaps[pid] = json.loads(path.read_text())
        except (ValueError, OSError):
            continue
    services: dict[str, dict[str, int]] = {}
    for snap in snaps.values():
        for name, counters in snap["services"].items():
            into = services.setdefault(name, dict.fromkeys(counters, 0))
            for k, v in counters.items():
                into[k] = into.get(k, 0) + v
    return {"workers": sorted(snaps), "services": dict(sorted(services.items())),
            "throttled_429": sum(s.get("throttled_429", 0) for s in snaps.values())}
