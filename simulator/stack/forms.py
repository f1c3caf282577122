"""``application/x-www-form-urlencoded`` bodies (HTML 5 §4.10.21.7; what the
login page and the SAML HTTP-POST binding send), parsed with the stdlib so
the stack needs no multipart library."""

from __future__ import annotations

import urllib.parse

from starlette.requests import Request

__all__ = ["read_form", "MAX_FORM"]

MAX_FORM = 512 * 1024


async def read_form(request: Request) -> dict[str, str]:
    """First value of each field; an oversized or non-form body reads as empty."""
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        return {}
    body = await request.body()
    if len(body) > MAX_FORM:
        return {}
    pairs = urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=100)
    out: dict[str, str] = {}
    for k, v in pairs:
        out.setdefault(k, v)
    return out
