"""A browser-like HTTP/1.1 client for one device (gevent, geventhttpclient).

What a device's browser does and this client copies:

- a connection pool per origin of ``http.connections_per_host`` keep-alive
  connections (Chrome and Safari open 6), with the profile's connect timeout
  and read timeout (``http.timeout``, per socket read, like a browser's
  stalled-request timeout);
- a cookie jar (``http.cookiejar``: RFC 6265 domain/path matching, expiry);
- redirects (301/302/303 become GET, 307/308 keep method and body), at most 10;
- every URL — the first, each redirect, form actions, manifest part and
  autosave URLs — goes through the run's ``EgressPolicy`` before a socket is
  opened, and is connected to the address pinned when the run started (the
  ``Host`` header and TLS SNI keep the name), so a DNS answer that changes
  mid-run is never followed; an off-target URL fails with ``off-target <host>``;
- a transport failure of a non-idempotent request (POST) is not re-sent
  (RFC 9110 §9.2.2; geventhttpclient re-sends only idempotent ones): the
  step fails and the device's retry policy decides — with one exception
  browsers make too: a request sent on a *reused* keep-alive connection that
  the server closed without a single response byte (the idle-timeout race,
  RFC 9112 §9.3.1) is re-sent once on a new connection, as Chromium's
  ``HttpNetworkTransaction::ShouldResendRequest`` does for any method; idle
  connections the server already closed are dropped before reuse;
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
import http.cookiejar
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Callable

import gevent
from geventhttpclient import HTTPClient
from geventhttpclient.response import HTTPConnectionClosed, HTTPParseError

from .safety import EgressPolicy, OffTarget

__all__ = ["HttpError", "OffTarget", "Response", "Browser", "RateLimiter", "seb_keys"]

CHUNK = 64 * 1024
MAX_REDIRECTS = 10
REDIRECTS = (301, 302, 303, 307, 308)


class HttpError(Exception):
    """A transport failure (no HTTP status): timeout, refused, reset, bad response."""

    retryable = True

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

    def acquire(self) -> float:
        """Wait for the next slot; returns the seconds waited."""
        if not self.interval:
            return 0.0
        now = time.monotonic()
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot > now:
            gevent.sleep(slot - now)
        return slot - now


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


class _Headers:
    """The response headers as ``http.cookiejar`` reads them (``info().get_all``)."""

    __slots__ = ("h",)

    def __init__(self, h):
        self.h = h

    def info(self):
        return self

    def get_all(self, name: str, default=None):
        return self.h.getlist(name) or default


class Browser:
    """The HTTP side of one device's browser."""

    def __init__(self, *, user_agent: str, egress: EgressPolicy, connections: int = 6,
                 connect_timeout: float = 10.0, timeout: float = 30.0, seb: tuple[bytes, bytes] | None = None,
                 limiter: RateLimiter | None = None, on_request: Callable | None = None,
                 extra_headers: dict | None = None):
        self.user_agent = user_agent
        self.egress = egress
        self.connections, self.connect_timeout, self.timeout = connections, connect_timeout, timeout
        self.seb = seb
        self.limiter = limiter
        self.on_request = on_request  # (method, name, seconds, nbytes, exception|None)
        self.extra = extra_headers or {}
        self._pools: dict[tuple[str, str, int], HTTPClient] = {}
        self.cookies = http.cookiejar.CookieJar()
        self.inflight = 0
        self.prepaid = 0  # limiter slots the step already waited for (its start lag)
        self.limited_s = 0.0  # limiter waits inside the current step (its queue_s)

    # ------------------------------------------------------------ requests
    def _pool(self, scheme: str, address: str, port: int, host: str) -> HTTPClient:
        key = (scheme, host, port)
        pool = self._pools.get(key)
        if pool is None:
            netloc = host if port == (443 if scheme == "https" else 80) else f"{host}:{port}"
            # connect to the pinned address; the name stays in Host and in TLS SNI / certificate checks
            pool = self._pools[key] = HTTPClient(address, port, concurrency=self.connections,
                                                 connection_timeout=self.connect_timeout,
                                                 network_timeout=self.timeout, ssl=scheme == "https",
                                                 ssl_options={"server_hostname": host} if scheme == "https" else None,
                                                 headers={"User-Agent": self.user_agent, "Host": netloc})
        return pool

    def request(self, method: str, url: str, body: bytes | None = None, headers: dict | None = None,
                name: str | None = None, stream: bool = False, follow: bool = True) -> Response:
        """Send one request (following redirects); raise HttpError/OffTarget on transport failure."""
        for _ in range(MAX_REDIRECTS + 1):
            resp = self._once(method, url, body, headers, name, stream)
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

    def _refuse(self, method: str, name: str, err: Exception) -> None:
        if self.on_request:
            self.on_request(method, name, 0.0, 0, err)
        raise err

    def _once(self, method: str, url: str, body: bytes | None, headers: dict | None, name: str | None,
              stream: bool) -> Response:
        parts = urllib.parse.urlsplit(url)
        path = parts.path or "/"
        try:
            scheme, address, port, host = self.egress.endpoint(url)
        except OffTarget as err:
            self._refuse(method, name or path, err)
        target = path + (f"?{parts.query}" if parts.query else "")
        h = {"Accept": "*/*", "Accept-Encoding": "identity", "Accept-Language": "sv-SE,sv;q=0.9"}
        h.update(self.extra)
        if headers:
            h.update(headers)
        req = None
        if len(self.cookies):
            req = urllib.request.Request(url, method=method)
            self.cookies.add_cookie_header(req)
            cookie = req.get_header("Cookie")
            if cookie:
                h["Cookie"] = cookie
        if self.seb is not None:
            bek, ck = self.seb
            u = url.encode()
            h["X-SafeExamBrowser-RequestHash"] = hashlib.sha256(u + bek).hexdigest()
            h["X-SafeExamBrowser-ConfigKeyHash"] = hashlib.sha256(u + ck).hexdigest()
        if self.prepaid:
            self.prepaid -= 1
        elif self.limiter is not None:
            self.limited_s += self.limiter.acquire()
        pool = self._pool(scheme, address, port, host)
        t = time.perf_counter()
        self.inflight += 1
        raw = None
        try:
            # geventhttpclient re-sends only idempotent methods after a connection error (RFC 9110 §9.2.2)
            reused = not pool._connection_pool._socket_queue.empty()  # noqa: SLF001 - an idle connection will be tried
            try:
                raw = pool.request(method, target, body=body, headers=h)
            except (HTTPConnectionClosed, ConnectionResetError, BrokenPipeError):
                if not reused:
                    raise
                raw = pool.request(method, target, body=body, headers=h)  # the idle-close race: once, new connection
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
            self.cookies.extract_cookies(_Headers(rh), req or urllib.request.Request(url, method=method))
        return Response(status, rh, data, url, ttfb, n)

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
