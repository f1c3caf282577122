"""Plan -> spawn times, worker partitions and the pre-flight estimate.

Pure functions (no Locust, no gevent): the CLI uses them before any traffic,
the runner inside each Locust process.

Timeline. Trace times are seconds from ``t0`` (the exam start). The live run
shifts the whole timeline so that the earliest planned start (usually a
teacher, ``-teacher_lead``) falls ``LEAD_S`` after launch::

    t0_epoch = launch_epoch + LEAD_S - min(device.start_s)

A device starts at ``t0_epoch + device.start_s`` whatever the servers are
doing (open arrivals); its first row's ``planned_s`` is ``device.start_s``.

Partitioning. With N workers, worker ``i`` (0-based) runs ``devices[i::N]``
of the plan's device order (deterministic, interleaved so every worker gets a
share of every room and of the arrival curve).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["LEAD_S", "t0_epoch", "backoff_delay", "partition", "Estimate", "estimate", "requests_per_pupil"]

LEAD_S = 1.0


def t0_epoch(launch_epoch: float, starts: Sequence[float], lead_s: float = LEAD_S) -> float:
    """Epoch time of t0 such that the earliest planned start is ``lead_s`` after launch."""
    first = min(starts) if len(starts) else 0.0
    return launch_epoch + lead_s - float(first)


def partition(items: Sequence, index: int, count: int) -> list:
    """Worker ``index`` of ``count``'s share: ``items[index::count]``."""
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"worker index {index} outside 0..{count - 1}")
    return list(items[index::count])


def requests_per_pupil(parts: int, autosaves: int) -> dict[str, int]:
    """HTTP requests one pupil makes per step on the reference layout (no retries)."""
    return {"login": 3,  # platform login (302), IdP SSO page, credentials POST
            "assertion": 2,  # ACS POST (303), the page it redirects to
            "download": 1 + parts,  # manifest, every part
            "autosave": autosaves,
            "submit": 1}


@dataclass(frozen=True)
class Estimate:
    """What the run will send, before it sends anything (the pre-flight summary)."""

    devices: int
    pupils: int
    teachers: int
    rooms: int
    requests: int
    bytes_down: float
    bytes_up: float
    peak_rps: float  # busiest second of the planned start curve
    span_s: float  # first planned start -> last pupil's planned submit
    lead_s: float  # launch -> t0

    def lines(self) -> list[str]:
        from ..units import format_bytes

        return [f"devices   {self.devices} ({self.pupils} pupils, {self.teachers} teachers, {self.rooms} rooms)",
                f"requests  ~{self.requests} HTTP requests, peak ~{self.peak_rps:.0f}/s",
                f"bytes     ~{format_bytes(self.bytes_down)} down, ~{format_bytes(self.bytes_up)} up",
                f"timeline  ~{self.span_s:.0f} s of traffic after a {self.lead_s:.0f} s lead"]

    def to_json(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def estimate(plan, provision_objects: int = 0) -> Estimate:
    """Requests, bytes and the peak request rate the plan implies (no retries, no polling)."""
    devices = plan.devices
    pupils = [d for d in devices if d.role == "pupil"]
    teachers = [d for d in devices if d.role != "pupil"]
    req = 0
    down = up = 0.0
    burst = []  # (time, requests) of each device's start burst
    end = 0.0
    for d in pupils:
        w = d.room.workload
        r = requests_per_pupil(len(w.parts), w.autosaves)
        n = sum(r.values())
        req += n
        down += w.download_bytes + 40_000  # + login pages and SAML forms
        up += w.autosaves * w.autosave_bytes + w.submit_bytes + 12_000
        burst.append((d.start_s, r["login"] + r["assertion"] + r["download"]))
        end = max(end, d.start_s + w.duration_s)
    for d in teachers:
        req += 8  # login, MFA polls, ACS, groups, open
        burst.append((d.start_s, 8))
        end = max(end, d.start_s)
    req += provision_objects
    starts = [t for t, _ in burst] or [0.0]
    t_min = min(starts)
    if burst:
        times = np.array([t for t, _ in burst]) - t_min
        weights = np.array([n for _, n in burst], dtype=float)
        per_s = np.bincount(times.astype(int), weights=weights)
        peak = float(per_s.max())
    else:
        peak = 0.0
    return Estimate(devices=len(devices), pupils=len(pupils), teachers=len(teachers), rooms=len(plan.rooms),
                    requests=int(req), bytes_down=down, bytes_up=up, peak_rps=peak, span_s=end - t_min,
                    lead_s=LEAD_S - t_min)


def backoff_delay(attempt: int, retry, rng, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter (``DeviceProfile.http.retry``), at least the server's Retry-After:
    ``min(max_backoff, backoff * 2^(attempt-1)) * (1 ± jitter)``."""
    base = min(retry.max_backoff, retry.backoff * 2 ** (attempt - 1))
    d = base * (1.0 + retry.jitter * (2.0 * rng.random() - 1.0))
    return max(d, retry_after or 0.0)
