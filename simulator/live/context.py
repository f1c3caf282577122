"""What every user greenlet of one Locust process shares: the clock (trace
time = seconds from t0), the trace writer, the targets, the rate limiter, the
stop flag, and the acknowledged-autosave ledger.

Only imported inside a Locust process (it imports gevent).
"""

from __future__ import annotations

import collections
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import gevent
import gevent.event

from ..telemetry import tapped  # issue 14: mirrors rows to the --mqtt publisher (no-op without)
from ..trace import STEP_COLUMNS, TraceWriter
from .http import Browser, RateLimiter, seb_keys
from .safety import EgressPolicy

__all__ = ["Clock", "RunContext", "StepFailed"]

FLUSH_EVERY = 20  # rows; a SIGKILLed worker loses at most this many (plus <1 s, see RunContext.flusher)


class StepFailed(Exception):
    """A step attempt failed: ``reason`` for the trace, whether a retry may help, server's Retry-After."""

    def __init__(self, reason: str, retryable: bool = False, retry_after: float | None = None):
        super().__init__(reason)
        self.reason, self.retryable, self.retry_after = reason, retryable, retry_after


class Clock:
    """Trace time from a shared epoch t0 using this process's monotonic clock."""

    def __init__(self, t0_epoch: float):
        self.t0_epoch = t0_epoch
        self._mono_t0 = time.monotonic() - (time.time() - t0_epoch)

    def now(self) -> float:
        return time.monotonic() - self._mono_t0

    def sleep_until(self, t_s: float, stop: gevent.event.Event | None = None) -> bool:
        """Sleep until trace time ``t_s``; False if ``stop`` was set meanwhile."""
        delay = t_s - self.now()
        if stop is not None:
            return not stop.wait(max(0.0, delay)) if delay > 0 else not stop.is_set()
        if delay > 0:
            gevent.sleep(delay)
        return True


@dataclass
class RunContext:
    run: str
    run_dir: Path
    worker: str  # shard name, e.g. "w0"
    clock: Clock
    targets: dict  # role -> URL, plus login_form, scim_token
    scenario: str
    limiter: RateLimiter
    egress: EgressPolicy  # where connections may go (pinned addresses)
    locust_env: object | None = None
    stop: gevent.event.Event = field(default_factory=gevent.event.Event)
    session_wait_s: float = 600.0  # longest a pupil polls for the teacher to open the session
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    writer: TraceWriter | None = None
    acks: list = field(default_factory=list)  # (eppn, seq) acknowledged by the platform
    browsers: set = field(default_factory=set)
    counters: dict = field(default_factory=lambda: {"devices_started": 0, "devices_done": 0, "rows": 0,
                                                      "autosaves_acknowledged": 0, "steps": 0, "errors": 0})
    recent: collections.deque = field(default_factory=lambda: collections.deque(maxlen=500))  # ok step durations

    def open(self) -> None:
        self.writer = tapped(TraceWriter(self.run_dir, shard=self.worker, flush_every=FLUSH_EVERY), self.worker)
        self._acks = open(self.run_dir / f"acks-{self.worker}.csv", "a", buffering=1)
        self._seb = seb_keys(self.scenario)

    def flusher(self) -> None:
        """Greenlet: flush the trace every second so a killed worker keeps nearly everything."""
        while not self.stop.wait(1.0):
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self._acks.close()

    def ack(self, eppn: str, seq: int) -> None:
        self.acks.append((eppn, seq))
        self.counters["autosaves_acknowledged"] += 1
        self._acks.write(f"{eppn},{seq}\n")

    def inflight(self) -> int:
        return sum(b.inflight for b in self.browsers)

    def browser(self, profile=None, user_agent: str | None = None) -> Browser:
        """A device's browser configured from its device profile."""
        http = getattr(profile, "http", None)
        b = Browser(user_agent=user_agent or (profile.user_agent if profile else "examday-live"), egress=self.egress,
                    connections=http.connections_per_host if http else 6,
                    connect_timeout=http.connect_timeout if http else 10.0,
                    timeout=http.timeout if http else 30.0,
                    seb=self._seb if profile is not None and profile.locked_mode == "seb" else None,
                    limiter=self.limiter, on_request=self._fire if self.locust_env is not None else None)
        self.browsers.add(b)
        return b

    def release(self, b: Browser) -> None:
        b.close()
        self.browsers.discard(b)

    def _fire(self, method: str, name: str, seconds: float, nbytes: int, exc) -> None:
        self.locust_env.events.request.fire(request_type=method, name=name, response_time=seconds * 1000.0,
                                            response_length=nbytes, exception=exc, context={})

    def row(self, device, kind: str, step: str, planned_s: float, start_s: float, end_s: float, nbytes: int = 0,
            ok: bool = True, error: str = "", ttfb_s: float = math.nan, attempt: int = 1,
            queue_s: float = math.nan) -> None:
        site, room, ap = (device.site, device.room.name, device.ap) if hasattr(device, "room") else ("", "", "")
        dev = device.id if hasattr(device, "id") else str(device)
        self.writer.step_values((self.run, "live", dev, kind, site, room, ap, step, planned_s, start_s, end_s,
                                 int(nbytes), bool(ok), error, ttfb_s, attempt, queue_s))
        self.counters["rows"] += 1
        if step in ("login", "assertion", "download", "autosave", "submit", "open"):
            self.counters["steps"] += 1
            self.counters["errors"] += 0 if ok else 1
            if ok:
                self.recent.append(end_s - start_s)


assert len(STEP_COLUMNS) == 17
