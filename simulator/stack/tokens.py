"""Stateless signed tokens (HMAC-SHA256 over base64url JSON) for cookies and
form state, so any uvicorn worker can read what another wrote; and the
``Set-Cookie`` header that carries them (RFC 6265 §4.1).

Hot path: four cookies and five tokens per login, so the HMAC is the one-shot
``hmac.digest`` (OpenSSL, no Python-level hash objects) and the header is
formatted directly instead of through ``http.cookies``.
"""

from __future__ import annotations

import base64
import hmac
import json
import time

__all__ = ["sign", "unsign", "set_cookie"]

_DUMPS = json.JSONEncoder(separators=(",", ":")).encode


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, body: str) -> bytes:
    return hmac.digest(key, body.encode(), "sha256")[:20]


def sign(obj: dict, key: bytes, ttl_s: float, purpose: str) -> str:
    body = _b64(_DUMPS({**obj, "_exp": time.time() + ttl_s, "_p": purpose}).encode())
    return f"{body}.{_b64(_mac(key, body))}"


def unsign(token: str | None, key: bytes, purpose: str) -> dict | None:
    """The payload, or None when forged, expired or meant for something else."""
    if not token or "." not in token:
        return None
    body, _, mac = token.rpartition(".")
    try:
        ok = hmac.compare_digest(_unb64(mac), _mac(key, body))
        obj = json.loads(_unb64(body)) if ok else None
    except (ValueError, TypeError):
        return None
    if not isinstance(obj, dict) or obj.get("_p") != purpose or not isinstance(obj.get("_exp"), (int, float)) \
            or obj["_exp"] < time.time():
        return None
    return obj


def set_cookie(response, name: str, value: str, max_age: int, path: str, *, httponly: bool = True,
               samesite: str | None = None, secure: bool = False) -> None:
    """Append a ``Set-Cookie`` to a Starlette response; ``value`` is a token (base64url and ``.``, no quoting
    needed) or "" with ``max_age=0`` to delete. Same attributes as Starlette's ``set_cookie``."""
    parts = [f"{name}={value}", f"Max-Age={max_age}", f"Path={path}"]
    if max_age <= 0:
        parts.append("expires=Thu, 01 Jan 1970 00:00:00 GMT")
    if httponly:
        parts.append("HttpOnly")
    if secure:
        parts.append("Secure")
    if samesite:
        parts.append(f"SameSite={samesite}")
    response.raw_headers.append((b"set-cookie", "; ".join(parts).encode("latin-1")))
