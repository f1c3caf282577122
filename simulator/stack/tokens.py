"""Stateless signed tokens (HMAC-SHA256 over base64url JSON) for cookies and
form state, so any uvicorn worker can read what another wrote."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

__all__ = ["sign", "unsign"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(obj: dict, key: bytes, ttl_s: float, purpose: str) -> str:
    body = _b64(json.dumps({**obj, "_exp": time.time() + ttl_s, "_p": purpose}, separators=(",", ":")).encode())
    mac = hmac.new(key, body.encode(), hashlib.sha256).digest()[:20]
    return f"{body}.{_b64(mac)}"


def unsign(token: str | None, key: bytes, purpose: str) -> dict | None:
    """The payload, or None when forged, expired or meant for something else."""
    if not token or "." not in token:
        return None
    body, _, mac = token.rpartition(".")
    try:
        ok = hmac.compare_digest(_unb64(mac), hmac.new(key, body.encode(), hashlib.sha256).digest()[:20])
        obj = json.loads(_unb64(body)) if ok else None
    except (ValueError, TypeError):
        return None
    if not obj or obj.get("_p") != purpose or obj.get("_exp", 0) < time.time():
        return None
    return obj
