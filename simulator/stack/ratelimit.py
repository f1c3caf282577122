"""Per-client-IP request rates on the provisioning API, as Skolverket publishes
them for its own (skolverket/dnp-usermanagement CHANGELOG v1.3.1): 5 write
requests/s and 10 GET requests/s per client IP, ``429 Too Many Requests`` with
``Retry-After`` beyond (RFC 6585 §4, RFC 9110 §10.2.3). Bodies over 200 KB get
413 from ``limits.Bounded``.

A token bucket per (client IP, reads|writes), rate r and depth r × burst,
kept in ``ratelimit.db`` so every uvicorn worker draws from the same bucket.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from .config import ProvisioningLimits
from .limits import refusal
from .store import Db

__all__ = ["ProvisioningRate", "PREFIXES"]

PREFIXES = ("/scim/", "/ss12000")
SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets(ip TEXT, kind TEXT, tokens REAL NOT NULL, at REAL NOT NULL,
  PRIMARY KEY(ip, kind));
"""


class ProvisioningRate:
    """ASGI middleware: 429 + Retry-After when a client IP exceeds its read or write rate."""

    def __init__(self, app, limits: ProvisioningLimits, data_dir: str | Path):
        self.app, self.limits = app, limits
        self.db = Db(Path(data_dir) / "ratelimit.db", SCHEMA, "OFF")
        self.throttled = 0
        self._calls = 0

    def take(self, ip: str, kind: str, now: float) -> float:
        """0 when the request may go, else the seconds until a token is there."""
        rate = self.limits.writes_per_s if kind == "write" else self.limits.reads_per_s
        if rate <= 0:
            return 0.0
        depth = max(1.0, rate * self.limits.burst_s)
        with self.db.tx() as c:
            row = c.execute("SELECT tokens, at FROM buckets WHERE ip=? AND kind=?", (ip, kind)).fetchone()
            tokens = depth if row is None else min(depth, row[0] + (now - row[1]) * rate)
            wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / rate
            c.execute("INSERT OR REPLACE INTO buckets VALUES(?,?,?,?)", (ip, kind, tokens - (wait == 0.0), now))
            self._calls += 1
            if self._calls % 1000 == 0:  # buckets idle for a minute are full again: forget them
                c.execute("DELETE FROM buckets WHERE at < ?", (now - 60,))
        return wait

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith(PREFIXES):
            return await self.app(scope, receive, send)
        kind = "read" if scope["method"] in ("GET", "HEAD") else "write"
        ip = (scope.get("client") or ("?", 0))[0]
        wait = self.take(ip, kind, time.time())
        if wait > 0:
            self.throttled += 1
            retry = max(1, math.ceil(wait))
            per_s = self.limits.writes_per_s if kind == "write" else self.limits.reads_per_s
            resp = refusal(429, "rate-limited", f"more than {per_s:g} {kind} requests/s from {ip}; "
                                                f"retry after {retry} s")
            resp.headers["Retry-After"] = str(retry)
            return await resp(scope, receive, send)
        return await self.app(scope, receive, send)
