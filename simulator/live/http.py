"""A browser-like HTTP/1.1 client for one device (gevent, geventhttpclient).

What a device's browser does and this client copies:

- a connection pool per origin of ``http.connections_per_host`` keep-alive
  connections (Chrome and Safari open 6), with the profile's connect timeout
  and read timeout (``http.timeout``, per socket read, like a browser's
  stalled-request timeout);
- a cookie jar (RFC 6265: host-only cookies, ``Path`` matching, ``Max-Age``
  / deletion) sent on every request;
- redirects (301/302/303 become GET, 307/308 keep method and body), at most 10;
- its ``User-Agent``; in Safe Exam Browser mode (``locked_mode: seb``) the
  two SEB integrity headers on every request:
  ``X-SafeExamBrowser-RequestHash`` = hex SHA-256 of (absolute URL + Browser
  Exam Key) and ``X-SafeExamBrowser-ConfigKeyHash`` = hex SHA-256 of
  (absolute URL + Config Key), keys derived from the scenario name (SEB
  documentation, "Browser Exam Key"). Kiosk mode (managed Chromebooks) sends
  no extra header: only its user agent differs.
- no compression (``Accept-Encoding: identity``): bytes on the wire are the
  bytes the plan counts.

Response bodies are read into memory only when small and needed (HTML/JSON);
downloads are streamed in 64 KiB chunks and discarded. Every HTTP request is
also reported to Locust (``events.request``) so its stats and web UI work.
"""

from __future__ import annotations

import hashlib
import time
import urllib.parse
from dataclasses import dataclass
from typing import Callable

import gevent
from geventhttpclient import HTTPClient
from geventhttpclient.response import HTTPParseError

__all__ = ["HttpError", "Response", "Browser", "RateLimiter", "seb_keys"]

CHUNK = 64 * 1024
MAX_REDIRECTS = 10
REDIRECTS = (301, 302, 303, 307, 308)


class HttpError(Exception):
    """A transport failure (no HTTP status): timeout, refused, reset, bad response."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class Response:
    status: int
    headers: object  # geventhttpclient Headers
    body: bytes
    url: str
    ttfb_s: float  # request sent -> status line and headers received
    nbytes: int  # body bytes received (streamed or not)

    def header(self, name: str, default: str = "") -> str:
        v = self.headers.get(name)
        if isinstance(v, list):
            v = v[0] if v else default
        return default if v is None else v


class RateLimiter:
    """Global request pacing for one process (``--max-rps`` / workers): spaced slots."""

    def __init__(self, rps: float | None):
        self.interval = 1.0 / rps if rps else 0.0
        self._next = 0.0

    def acquire(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot > now:
            gevent.sleep(slot - now)


def seb_keys(scenario: str) -> tuple[bytes, bytes]:
    """(Browser Exam Key, Config Key) the scenario's SEB devices send hashes of."""
    return (hashlib.sha256(f"examday-seb-bek:{scenario}".encode()).hexdigest().encode(),
            hashlib.sha256(f"examday-seb-ck:{scenario}".encode()).hexdigest().encode())


def _reason(err: BaseException) -> str:
    if isinstance(err, (TimeoutError, gevent.Timeout)) or "timed out" in str(err):
        return "timeout"
    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    if isinstance(err, ConnectionResetError):
        return "connection reset"
    if isinstance(err, HTTPParseError):
        return "bad response"
    if isinstance(err, OSError):
        return f"network: {err.strerror or type(err).__name__}".lower()
    return type(err).__name__


class Browser:
    """The HTTP side of one device's browser."""

    def __init__(self, *, user_agent: str, connections: int = 6, connect_timeout: float = 10.0,
                 timeout: float = 30.0, seb: tuple[bytes, bytes] | None = None,
                 limiter: RateLimiter | None = None, on_request: Callable | None = None,
                 extra_headers: dict | None = None):
        self.user_agent = user_agent
        self.connections, self.connect_timeout, self.timeout = connections, connect_timeout, timeout
        self.seb = seb
        self.limiter = limiter
        self.on_request = on_request  # (method, name, seconds, nbytes, exception|None)
        self.extra = extra_headers or {}
        self._pools: dict[tuple[str, str, int], HTTPClient] = {}
        self.cookies: dict[tuple[str, str, str], str] = {}  # (host, path, name) -> value
        self.inflight = 0

    # ------------------------------------------------------------ cookies
    def _cookie_header(self, host: str, path: str) -> str:
        return "; ".join(f"{n}={v}" for (h, p, n), v in self.cookies.items()
                         if h == host and (path == p or path.startswith(p.rstrip("/") + "/") or p == "/"))

    def _store_cookies(self, headers, host: str, path: str) -> None:
        values = headers.getlist("set-cookie") if hasattr(headers, "getlist") else []
        for raw in values:
            parts = [p.strip() for p in raw.split(";")]
            name, _, value = parts[0].partition("=")
            cpath, delete = path.rsplit("/", 1)[0] or "/", False
            for attr in parts[1:]:
                k, _, v = attr.partition("=")
                k = k.lower()
                if k == "path" and v.startswith("/"):
                    cpath = v
                elif k == "max-age":
                    try:
                        delete = int(v) <= 0
                    except ValueError:
                        pass
            key = (host, cpath, name.strip())
            if delete or value == "":
                self.cookies.pop(key, None)
            else:
                self.cookies[key] = value.strip()

    # ------------------------------------------------------------ requests
    def _pool(self, scheme: str, host: str, port: int) -> HTTPClient:
        key = (scheme, host, port)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = HTTPClient(host, port, concurrency=self.connections,
                                                 connection_timeout=self.connect_timeout,
                                                 network_timeout=self.timeout, ssl=scheme == "https",
                                                 headers={"User-Agent": self.user_agent})
        return pool

    def request(self, method: str, url: str, body: bytes | None = None, headers: dict | None = None,
                name: str | None = None, stream: bool = False, follow: bool = True) -> Response:
        """Send one request (following redirects); raise HttpError on transport failure."""
        for _ in range(MAX_REDIRECTS + 1):
            resp = self._once(method, url, body, headers, name, stream and True)
            if not follow or resp.status not in REDIRECTS:
                return resp
            loc = resp.header("location")
            if not loc:
                return resp
            url = urllib.parse.urljoin(url, loc)
            if resp.status in (301, 302, 303) and method != "HEAD":
                method, body = "GET", None
                headers = {k: v for k, v in (headers or {}).items() if k.lower() != "content-type"}
            name = None
        raise HttpError("too many redirects")

    def _once(self, method: str, url: str, body: bytes | None, headers: dict | None, name: str | None,
              stream: bool) -> Response:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        path = parts.path or "/"
        target = path + (f"?{parts.query}" if parts.query else "")
        h = {"Accept": "*/*", "Accept-Encoding": "identity", "Accept-Language": "sv-SE,sv;q=0.9"}
        h.update(self.extra)
        if headers:
            h.update(headers)
        cookie = self._cookie_header(host, path) if self.cookies else ""
        if cookie:
            h["Cookie"] = cookie
        if self.seb is not None:
            bek, ck = self.seb
            u = url.encode()
            h["X-SafeExamBrowser-RequestHash"] = hashlib.sha256(u + bek).hexdigest()
            h["X-SafeExamBrowser-ConfigKeyHash"] = hashlib.sha256(u + ck).hexdigest()
        if self.limiter is not None:
            self.limiter.acquire()
        pool = self._pool(parts.scheme, host, port)
        t = time.perf_counter()
        self.inflight += 1
        raw = None
        try:
            try:
                raw = pool.request(method, target, body=body, headers=h)
            except (HTTPParseError, ConnectionResetError, BrokenPipeError):
                # The server closed an idle keep-alive connection as we reused it: like browsers, send once
                # more on a fresh connection (nothing of the response arrived, so nothing was acknowledged).
                raw = pool.request(method, target, body=body, headers=h)
            ttfb = time.perf_counter() - t
            status, rh = raw.status_code, raw.info()
            n = 0
            if stream:
                data = b""
                while chunk := raw.read(CHUNK):
                    n += len(chunk)
            else:
                data = raw.read()
                n = len(data)
            raw.release()
            raw = None
        except (OSError, HTTPParseError, gevent.Timeout) as err:
            reason = _reason(err)
            if raw is not None:
                sock, rpool = raw._sock, raw._pool  # noqa: SLF001 - a half-read connection must not be reused
                raw._sock = raw._pool = None
                if sock is not None and rpool is not None:
                    rpool.release_socket(sock)
            if self.on_request:
                self.on_request(method, name or path, time.perf_counter() - t, 0, HttpError(reason))
            raise HttpError(reason) from None
        finally:
            self.inflight -= 1
        if self.on_request:
            self.on_request(method, name or path, time.perf_counter() - t, n,
                            None if status < 400 else HttpError(f"http {status}"))
        if "set-cookie" in rh:
            self._store_cookies(rh, host, path)
        return Response(status, rh, data, url, ttfb, n)

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
