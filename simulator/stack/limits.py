"""Every input bounded before it is read: request heads, bodies, forms, JSON.

Two layers, so a limit holds whether the stack runs under uvicorn or in a
Starlette ``TestClient``:

- ``GuardedHttpTools`` — uvicorn's httptools protocol with a bound on the
  request head (request line + headers, in bytes and in count; 431, RFC 6585
  §5), a deadline for the whole head counted from the connection (or the end
  of the previous response), so idle and half-sent ("slowloris") connections
  are closed with 408 (RFC 9110 §15.5.9), and an idle timeout while a body
  is being received. Limits as in Apache's ``LimitRequestFieldSize`` /
  ``LimitRequestFields`` / ``RequestReadTimeout``. A response's head and the
  start of its body go out in one write (``_HeadWithBody``).
- ``Bounded`` — ASGI middleware: per-route body limits checked against
  ``Content-Length`` first and then counted as the body streams in (chunked
  bodies included), 413 (RFC 9110 §15.5.14) with ``Connection: close``;
  ``BadRequest`` raised anywhere becomes its 4xx with a reason; and, as a
  last resort, any other exception becomes a bare 500 without traceback text
  (one log line).

``read_form`` and ``read_json`` parse with a field-count and nesting-depth
limit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import re
import urllib.parse

from starlette.requests import Request
from starlette.responses import JSONResponse

from .config import Limits

__all__ = ["BadRequest", "Bounded", "GuardedHttpTools", "read_form", "read_json", "body_limit", "refusal"]

log = logging.getLogger("examday.stack.limits")
REJECT_HEADER = "X-Examday-Reject"


class BadRequest(Exception):
    """A request the stack refuses: ``status`` (4xx) and a short ``reason`` code, ``detail`` for people."""

    def __init__(self, status: int, reason: str, detail: str = ""):
        self.status, self.reason, self.detail = status, reason, detail or reason
        super().__init__(f"{status} {reason}: {self.detail}")


def refusal(status: int, reason: str, detail: str = "", close: bool = False) -> JSONResponse:
    headers = {REJECT_HEADER: reason, **({"Connection": "close"} if close else {})}
    return JSONResponse({"error": reason, "detail": detail or reason}, status, headers=headers)


def body_limit(limits: Limits, path: str) -> int:
    """The largest body a route takes: SAML POSTs, autosave/submit, provisioning, else the small default."""
    if path.endswith("/acs"):
        return limits.saml_body
    if path.startswith(("/platform/api/answers", "/platform/api/submit")):
        return limits.answer_body
    if path.startswith(("/scim/", "/ss12000")):
        return limits.provisioning_body
    return limits.default_body


class _Overflow(Exception):
    pass


class Bounded:
    """ASGI middleware: body limits while streaming, ``BadRequest`` → 4xx, last-resort 500 without traceback."""

    def __init__(self, app, limits: Limits):
        self.app, self.limits = app, limits

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = scope["headers"]
        if len(headers) > self.limits.max_headers:
            return await refusal(431, "too-many-headers", f"more than {self.limits.max_headers} header fields",
                                 True)(scope, receive, send)
        limit = body_limit(self.limits, scope["path"])
        for name, value in headers:
            if name == b"content-length":
                if not value.isdigit() or len(value) > 18:
                    return await refusal(400, "bad-content-length", "Content-Length is not a number",
                                         True)(scope, receive, send)
                if int(value) > limit:
                    return await refusal(413, "body-too-large", f"body over {limit} bytes on {scope['path']}",
                                         True)(scope, receive, send)
        state = {"seen": 0, "over": False, "started": False}

        async def bounded_receive():
            msg = await receive()
            if msg["type"] == "http.request":
                state["seen"] += len(msg.get("body", b""))
                if state["seen"] > limit:
                    state["over"] = True
                    raise _Overflow()
            return msg

        async def guarded_send(msg):
            if state["over"]:
                return  # the app's reaction to a cut body is replaced by the 413 below
            if msg["type"] == "http.response.start":
                state["started"] = True
            await send(msg)

        try:
            await self.app(scope, bounded_receive, guarded_send)
        except BadRequest as err:
            if not state["started"]:
                await refusal(err.status, err.reason, err.detail)(scope, receive, send)
        except Exception as err:  # noqa: BLE001 - last resort: no traceback to the client, one log line
            if not state["over"]:
                log.error("%s %s failed: %s: %s", scope.get("method"), scope["path"], type(err).__name__,
                          str(err)[:200])
                if not state["started"]:
                    await refusal(500, "internal-error", "the request could not be handled", True)(
                        scope, receive, send)
                return
        if state["over"] and not state["started"]:
            await refusal(413, "body-too-large", f"body over {limit} bytes on {scope['path']}", True)(
                scope, receive, send)


async def read_form(request: Request, max_fields: int | None = None) -> dict[str, str]:
    """First value of each field of an ``application/x-www-form-urlencoded`` body (HTML §4.10.21.7).

    Not a form → {}; undecodable or more than ``max_fields`` fields → ``BadRequest`` 400."""
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        return {}
    limits: Limits = request.app.state.stack.config.limits
    max_fields = max_fields or limits.max_form_fields
    body = await request.body()
    if body.count(b"&") + 1 > max_fields:
        raise BadRequest(400, "too-many-fields", f"more than {max_fields} form fields")
    try:
        text = body.decode("utf-8")
        pairs = urllib.parse.parse_qsl(text, keep_blank_values=True, max_num_fields=max_fields, errors="strict")
    except (UnicodeDecodeError, ValueError) as err:
        raise BadRequest(400, "bad-form", f"form body: {err}") from err
    out: dict[str, str] = {}
    for k, v in pairs:
        out.setdefault(k, v)
    return out


_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth(data: bytes) -> int:
    """Deepest nesting of arrays/objects (strings skipped); counts brackets only, so it is cheap."""
    depth = deepest = 0
    for b in _STRINGS.sub(b"", data).translate(None, _NOT_BRACKETS):
        depth += 1 if b in (0x5B, 0x7B) else -1
        deepest = max(deepest, depth)
    return deepest


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 -> inf: not representable in JSON, so never stored
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON (RFC 8259 §6)")


def _unique(pairs: list) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"duplicate member name {dup[:40]!r}")
    return obj


def read_json(data: bytes, max_depth: int):
    """``json.loads`` as RFC 8259 has it, with a nesting limit: UTF-8 only (§8.1; a leading BOM is
    ignored), no ``NaN``/``Infinity`` or numbers out of float range (§6), unique member names (§4; a
    repeated ``userName`` would let two readers see two users), no lone surrogates (not storable
    text). ``BadRequest`` 400 ``too-deep`` / ``bad-json``."""
    if json_depth(data) > max_depth:
        raise BadRequest(400, "too-deep", f"JSON nested deeper than {max_depth}")
    try:
        text = (data[3:] if data.startswith(b"\xef\xbb\xbf") else data).decode("utf-8") if data else "null"
        value = json.loads(text, parse_float=_finite, parse_constant=_no_constant, object_pairs_hook=_unique)
        if "\\u" in text:  # an escaped lone surrogate survives decoding; it cannot be encoded back
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        return value
    except UnicodeDecodeError as err:
        raise BadRequest(400, "bad-json", f"body is not UTF-8 JSON: {str(err)[:100]}") from err
    except (ValueError, RecursionError) as err:
        raise BadRequest(400, "bad-json", f"body is not JSON: {str(err)[:100]}") from err


# ------------------------------------------------------------------ the HTTP protocol

def _limits_from_env() -> Limits:
    from .app import CONFIG_ENV
    from .config import StackConfig
    text = os.environ.get(CONFIG_ENV)
    return StackConfig.from_json(text).limits if text else Limits()


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools is a dependency
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

class _HeadWithBody:
    """The transport a request/response cycle writes to, holding the response head (status line and
    headers) back until the body's first bytes, so a small response leaves in one ``send(2)`` (one TCP
    segment) rather than two. Any other write, ``close()`` and the end of the response
    (``flush()``) let a held head out first, so nothing is reordered or lost; ``100 Continue`` is never
    held (the client waits for it)."""

    __slots__ = ("_transport", "_head")
    _JOIN_UP_TO = 64 * 1024  # a larger first chunk (content parts) goes in its own write, uncopied

    def __init__(self, transport):
        self._transport, self._head = transport, None

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            self._head = None
            if len(data) <= self._JOIN_UP_TO:
                self._transport.write(head + data)
                return
            self._transport.write(head)
        elif data.startswith(b"HTTP/1.1 ") and not data.startswith(b"HTTP/1.1 1"):
            self._head = data
            return
        self._transport.write(data)

    def flush(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name):  # is_closing, get_extra_info, ...: the socket's transport
        return getattr(self._transport, name)


if HttpToolsProtocol is not None:
    _LIMITS: Limits | None = None

    class GuardedHttpTools(HttpToolsProtocol):  # type: ignore[misc,valid-type]
        """uvicorn's httptools protocol with head size/count limits and head/body read deadlines."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            global _LIMITS
            if _LIMITS is None:
                _LIMITS = _limits_from_env()
            self.limits = _LIMITS
            self._in_head, self._head_bytes, self._header_count, self._refused = True, 0, 0, False
            self._head_timer: asyncio.TimerHandle | None = None
            self._body_timer: asyncio.TimerHandle | None = None
            self._body_since, self._body_bytes = 0.0, 0

        def _arm_head(self) -> None:
            self._cancel_head()
            self._head_timer = self.loop.call_later(self.limits.header_timeout_s, self._head_timeout)

        def _cancel_head(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timeout(self) -> None:
            self._head_timer = None
            if self._in_head and not self.transport.is_closing():
                self._refuse(408, "request head not received in time")

        def _body_timeout(self) -> None:
            self._body_timer = None
            if not self.transport.is_closing():
                self.logger.warning("closing %s: request body stalled", self.client)
                self._refuse_body("request body stalled")

        def _refuse_body(self, msg: str) -> None:
            """408 while the app still waits for the body (it then sees http.disconnect); just close once
            its response has begun."""
            cycle = self.cycle
            if cycle is not None and not cycle.response_started:
                self._refuse(408, msg)
            else:
                self._refused = True
                self.transport.close()

        def _refuse(self, status: int, msg: str) -> None:
            self._refused = True
            self._cancel_head()
            phrase = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large"}[status]
            body = msg.encode()
            self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
                                 b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (status, phrase, len(body),
                                                                                      body))
            self.transport.close()

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm_head()

        def connection_lost(self, exc) -> None:
            self._cancel_head()
            if self._body_timer is not None:
                self._body_timer.cancel()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            in_head = self._in_head
            if self._body_timer is not None:
                self._body_timer.cancel()
                self._body_timer = None
            super().data_received(data)
            if in_head and self._in_head and not self._refused:
                self._head_bytes += len(data)
                if self._head_bytes > self.limits.max_header_bytes:
                    self._refuse(431, f"request head over {self.limits.max_header_bytes} bytes")
                    return
            if not self._in_head and self.cycle is not None and self.cycle.more_body \
                    and not self.transport.is_closing():
                # slowloris on bodies (Apache RequestReadTimeout body=...,MinRate=...): after the first
                # body_idle_timeout_s, the body must keep up an average of body_min_rate bytes/s
                allowed = self.limits.body_idle_timeout_s + self._body_bytes / max(self.limits.body_min_rate, 1e-9)
                if self.loop.time() - self._body_since > allowed:
                    self.logger.warning("closing %s: request body slower than %g B/s", self.client,
                                        self.limits.body_min_rate)
                    self._refuse_body(f"request body slower than {self.limits.body_min_rate:g} bytes/s")
                    return
                self._body_timer = self.loop.call_later(self.limits.body_idle_timeout_s, self._body_timeout)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_head, self._head_bytes, self._header_count = True, 0, 0

        def on_url(self, url: bytes) -> None:
            if not self._refused:
                super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._header_count += 1
            if self._header_count <= self.limits.max_headers:
                super().on_header(name, value)

        def on_headers_complete(self) -> None:
            if self._refused:
                return
            self._in_head = False
            self._cancel_head()
            self._body_since, self._body_bytes = self.loop.time(), 0
            if self._header_count > self.limits.max_headers:
                self._refuse(431, f"more than {self.limits.max_headers} header fields")
                return
            super().on_headers_complete()
            cycle = self.cycle
            if cycle is not None and cycle.transport is self.transport:
                held = cycle.transport = _HeadWithBody(self.transport)
                done = cycle.on_response

                def on_response() -> None:  # a HEAD response has no body write to carry its head
                    held.flush()
                    done()
                cycle.on_response = on_response

        def on_body(self, body: bytes) -> None:
            if not self._refused:
                self._body_bytes += len(body)
                super().on_body(body)

        def on_message_complete(self) -> None:
            if self._body_timer is not None:
                self._body_timer.cancel()
                self._body_timer = None
            if not self._refused:
                super().on_message_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and not self.pipeline:
                self._in_head = True
                self._arm_head()
else:  # pragma: no cover
    GuardedHttpTools = None  # type: ignore[assignment,misc]
