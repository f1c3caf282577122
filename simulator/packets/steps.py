"""What a capture's records add up to: trace rows per device and step (``join``, ``dns``, ``login``, …).

- ``join``: from the device's wake (when a comment gives it) or its first
  DISCOVER, to the ACK; failed with the reason when no OFFER/ACK came.
- ``dns``: the lookups a client made after its lease, first query -> last answer.
- HTTP steps (plain HTTP captures of live runs): each flow belongs to one
  device — the sign-in form's username on it, or a cookie value shared with
  a flow already attributed (a browser's connections to one origin share its
  cookie jar). Requests are mapped to steps by path (``URL_STEPS``: the
  reference stack's and the live engine's URLs); consecutive requests of one
  step form one attempt (autosave, submit and provision: one per request),
  judged by its last answer (earlier ones may be polls, e.g. 409
  session-not-open while the teacher has not opened the test).
  An attempt starts at its first request (or the SYN of a connection opened
  for it) and ends with the last response packet.
"""

from __future__ import annotations

import math
import re

from ..trace import StepRecord
from .analyse import Analysis

__all__ = ["URL_STEPS", "attribute", "capture_rows", "step_of"]

#: (path pattern, step) — first match wins.
URL_STEPS = (
    (re.compile(r"/(scim|ss12000)/"), "provision"),
    (re.compile(r"/acs\b|/api/me\b"), "assertion"),
    (re.compile(r"/api/teacher/"), "open"),
    (re.compile(r"/api/manifest|/content/"), "download"),
    (re.compile(r"/api/answers"), "autosave"),
    (re.compile(r"/api/submit"), "submit"),
    (re.compile(r"/login\b|/idp/|/sso\b|/mfa/"), "login"),
)
SINGLE = ("autosave", "submit", "provision")


def step_of(uri: str) -> str:
    for pat, step in URL_STEPS:
        if pat.search(uri):
            return step
    return "other"


def attribute(an: Analysis) -> dict[str, str]:
    """flow client ("ip:port") -> user, through usernames and shared cookies (fixpoint)."""
    owner: dict[str, str] = {}
    for h in an.http:
        if h.user and h.client not in owner:
            owner[h.client] = h.user
    changed = True
    while changed:
        changed = False
        cookie_owner = {c: owner[k] for k, cs in an.cookies.items() if k in owner for c in cs}
        for k, cs in an.cookies.items():
            if k in owner:
                continue
            users = {cookie_owner[c] for c in cs if c in cookie_owner}
            if len(users) == 1:
                owner[k] = users.pop()
                changed = True
    return owner


def capture_rows(an: Analysis, run: str, devices: dict[str, tuple] | None = None) -> list[StepRecord]:
    """Trace rows (engine ``capture``). ``devices``: user or device id -> (device id, kind, site, room, ap)."""
    devices = devices or {}
    rows: list[StepRecord] = []

    def rec(key: str, step: str, start: float, end: float, nbytes: int, ok: bool, err: str, planned=None,
            ttfb=math.nan, attempt=1):
        dev, kind, site, room, ap = devices.get(key, (key, "", "", "", ""))
        rows.append(StepRecord(run=run, engine="capture", device=dev, kind=kind, site=site, room=room, ap=ap,
                               step=step, planned_s=start if planned is None else planned, start_s=start,
                               end_s=end, bytes=int(nbytes), ok=ok, error=err, ttfb_s=ttfb, attempt=attempt))

    for ex in an.exchanges:
        if not ex.discovers and not ex.requests:
            continue  # replies only: the client's side was not captured
        first = (ex.discovers or ex.requests)[0]
        start = ex.wake_s if not math.isnan(ex.wake_s) else first
        key = ex.device or ex.mac
        if ex.ok:
            rec(key, "join", start, ex.ack_s, 0, True, "")
        else:
            last = max(ex.discovers + ex.requests)
            err = ex.error or (f"no-offer (pool exhausted?) after {len(ex.discovers)} DISCOVERs"
                               if math.isnan(ex.offer_s) else f"no-ack after {len(ex.requests)} REQUESTs")
            rec(key, "join", start, last, 0, False, err)
    by_ip = {ex.ip: (ex.device or ex.mac) for ex in an.exchanges if ex.ip}
    by_client: dict[str, list] = {}
    for look in an.dns:
        by_client.setdefault(look.client, []).append(look)
    for client, looks in by_client.items():
        key = by_ip.get(client, client)
        bad = [x for x in looks if x.rcode != 0]
        end = max((x.answer_s if not math.isnan(x.answer_s) else x.sent_s) for x in looks)
        err = "" if not bad else f"dns: {bad[0].name}: " + ("timeout" if bad[0].rcode < 0 else f"rcode {bad[0].rcode}")
        rec(key, "dns", looks[0].sent_s, end, 0, not bad, err)
    rows.extend(_http_rows(an, rec))
    return rows


def _http_rows(an: Analysis, rec) -> list:
    owner = attribute(an)
    firsts = {}
    for h in an.http:
        firsts.setdefault(h.client, h)
    syn = {f.client: (f.syn_s, firsts.get(f.client)) for f in an.flows}
    per_user: dict[str, list] = {}
    for h in an.http:
        per_user.setdefault(owner.get(h.client, h.client), []).append(h)
    for user, reqs in per_user.items():
        reqs.sort(key=lambda h: h.request_s)
        cur: list = []
        for h in reqs + [None]:
            step = step_of(h.uri) if h is not None else None
            if cur and (h is None or step != cur[0][0] or step in SINGLE):
                _emit(user, cur, syn, rec)
                cur = []
            if h is not None and step != "other":
                cur.append((step, h))
    return []  # rows went out through rec()


def _emit(user: str, cur: list, syn: dict, rec) -> None:
    step = cur[0][0]
    hs = [h for _, h in cur]
    first = hs[0]
    start = first.request_s
    s, opener = syn.get(first.client, (math.nan, None))
    if opener is first and not math.isnan(s):
        start = s  # a connection opened for this step: its handshake is part of the step
    ends = [h.end_s if not math.isnan(h.end_s) else h.request_s for h in hs]
    last = hs[-1]  # earlier answers may be polls or redirects the client went past (409 session-not-open)
    ok = 0 < last.status < 400
    err = "" if ok else (f"http {last.status}" if last.status else "no response")
    ttfb = first.response_s - first.request_s if step == "download" else math.nan
    rec(user, step, start, max(ends), sum(h.bytes for h in hs), ok, err, ttfb=ttfb)
