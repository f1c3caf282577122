"""Locust users, one per planned device, and the scripts they walk.

Steps and their boundaries (trace step names, DESIGN.md):

- ``login``: GET ``{platform}/login?idp={targets.idp}`` -> 302 to the IdP with
  a ``SAMLRequest`` (HTTP-Redirect binding) -> the IdP's login page -> find
  the form (``targets.login_form``) -> POST credentials -> the auto-submitting
  form with ``SAMLResponse``. Teachers (staff) get the Freja eID+ stand-in
  first: a pending page polled (meta refresh / ``Retry-After``) until the
  approval arrives; that wait is part of their login.
- ``assertion``: POST ``SAMLResponse`` + ``RelayState`` to the form's action
  (the ACS), take the session cookie, follow the redirect.
- ``download``: GET the test manifest, then every part in parallel over the
  device's connections, streamed and discarded. ``ttfb_s`` = step start ->
  first byte of the first content part. Before the teacher opens the session
  the platform answers 409 ``session-not-open``: the pupil polls (honouring
  ``Retry-After``) before the step, which starts with the manifest request
  that is answered (as in the model). ``queue_s``: ``--max-rps`` waits inside
  the step.
- ``autosave``: every ``workload.autosave_every_s`` after the download
  (``workload.autosaves`` of them), ``POST answers?seq=k``; ok only on the
  platform's durable acknowledgement.
- ``submit``: at ``download end + test duration``.
- teacher ``open``: after login + assertion, ``POST
  {platform}/api/teacher/groups/{group}/open`` for the room's group.
- ``provision``: one SCIM push (EGIL client, kind ``egil-client``) or one
  SS 12000 page (pull client, kind ``ss12000-client``).

There is no ``join`` step in the live engine: devices here sit on the
generator's network, not on classroom Wi-Fi (that is the model's, and later
the ``emulate`` engine's, job).

Each attempt is one trace row; a failed attempt that may succeed on retry
(transport error, 5xx, 429, 408) is retried with the profile's exponential
backoff and jitter (``http.retry``), honouring ``Retry-After``; other failures
(an off-target URL among them) end the device's walk (a pupil who cannot log
in is not ready). The sign-in is retried as a whole, from the platform's login
URL: neither the credentials POST nor the ACS POST is ever re-sent.
"""

from __future__ import annotations

import json
import math
import urllib.parse

import gevent
from gevent.pool import Pool
from locust import User

from .context import RunContext, StepFailed
from .http import HttpError, OffTarget
from .walk import Walk, check, origin, retry_after

__all__ = ["DeviceUser", "PupilUser", "TeacherUser", "EgilUser", "Ss12000User", "Walk",
           "pupil_script", "teacher_script"]

ANSWER_PAD = b"x" * (1 << 20)


# ---------------------------------------------------------------- pupils

def _sign_in(w: Walk, device) -> bool:
    """The ``login`` then ``assertion`` steps; True when the platform session is held.

    Neither POST is ever re-sent (a resent ACS POST is a replay): after a
    retryable failure of either step the device's retry policy restarts the
    sign-in from the platform's login URL; ``attempt`` counts sign-ins.
    """
    planned = device.start_s
    for attempt in range(1, w.retry.attempts + 1):
        if attempt > 1 and not w.ctx.clock.sleep_until(planned, w.ctx.stop):
            return False
        ok, form, err, end = w.attempt("login", planned, w.login, attempt)
        if ok:
            ok, _, err, end = w.attempt("assertion", end, lambda: w.assertion(form), attempt)
            if ok:
                return True
        planned = w.again(attempt, err, end)
        if planned is None:
            return False
    return False


def pupil_script(ctx: RunContext, device, profile) -> None:
    """A pupil's exam start and sitting, from its planned start to submit."""
    if not ctx.clock.sleep_until(device.start_s, ctx.stop):
        return
    ctx.counters["devices_started"] += 1
    w = Walk(ctx, device, device.kind, profile)
    try:
        if not _sign_in(w, device):
            return
        answered = _await_session(w)
        if answered is False:
            return
        started = answered[1] if answered else None
        once = [answered]  # a retry of the step fetches the manifest again
        man = w.step("download", started if started is not None else ctx.clock.now(),
                     lambda: _download(w, once.pop() if once else None), started_s=started)
        if man is None:
            return
        t_ready = ctx.clock.now()
        wl = device.room.workload
        base = t_ready
        home = ctx.targets["platform"].rstrip("/")
        autosave = urllib.parse.urljoin(home + "/", (man.get("autosave") or {}).get("url", "api/answers"))
        submit = urllib.parse.urljoin(home + "/", (man.get("submit") or {}).get("url", "api/submit"))
        body = ANSWER_PAD[:int(wl.autosave_bytes)]
        for k in range(1, wl.autosaves + 1):
            planned = base + k * wl.autosave_every_s
            if not ctx.clock.sleep_until(planned, ctx.stop):
                return
            w.step("autosave", planned, lambda k=k: _post_answer(w, f"{autosave}?seq={k}", body, k))
        planned = base + wl.duration_s
        if not ctx.clock.sleep_until(planned, ctx.stop):
            return
        w.step("submit", planned, lambda: _post_submit(w, submit, ANSWER_PAD[:int(wl.submit_bytes)]))
    finally:
        if not ctx.stop.is_set():  # a walk cut by a stop or the duration cap is not walked
            ctx.counters["devices_done"] += 1
        w.close()


def _manifest_url(ctx: RunContext) -> str:
    return ctx.targets["platform"].rstrip("/") + "/api/manifest"


def _await_session(w: Walk):
    """Poll the manifest while the platform answers 409 ``session-not-open`` (the teacher has not opened
    the session; ``Retry-After`` honoured). Not part of ``download``: like the model's, the step starts
    with the manifest request that is answered. Returns (response, sent_s), None (let the step fetch it)
    or False (stopped or given up, with a failed ``download`` row)."""
    ctx = w.ctx
    since = ctx.clock.now()
    while True:
        sent = ctx.clock.now()
        try:
            resp = w.browser.request("GET", _manifest_url(ctx), headers={"Accept": "application/json"},
                                     name="download: manifest")
        except (HttpError, OffTarget):
            return None  # the download step's own attempt reports it
        if not (resp.status == 409 and b"session-not-open" in resp.body):
            return resp, sent
        if ctx.clock.now() - since >= ctx.session_wait_s:
            ctx.row(w.device, w.kind, "download", since, ctx.clock.now(), ctx.clock.now(), 0, False,
                    f"session not opened by the teacher within {ctx.session_wait_s:.0f} s")
            return False
        if ctx.stop.wait(retry_after(resp) or 2.0):
            return False


def _download(w: Walk, answered=None) -> tuple:
    ctx = w.ctx
    start = answered[1] if answered else ctx.clock.now()
    resp = answered[0] if answered else w.browser.request("GET", _manifest_url(ctx),
                                                          headers={"Accept": "application/json"},
                                                          name="download: manifest")
    check(resp, "manifest")
    try:
        man = json.loads(resp.body)
    except ValueError:
        raise StepFailed("manifest: not JSON") from None
    nbytes = resp.nbytes
    parts = man.get("parts") or []
    base = origin(resp.url)
    first = [math.nan]
    results: list = []

    def fetch(part):
        sent = ctx.clock.now()
        r = w.browser.request("GET", urllib.parse.urljoin(base + "/", part["url"]), stream=True,
                              name=f"download: {part.get('name', 'part')}")
        first_byte = sent + r.ttfb_s - start
        if math.isnan(first[0]) or first_byte < first[0]:
            first[0] = first_byte
        check(r, f"part {part.get('name', '?')}")
        size = part.get("size")
        if size is not None and r.nbytes != int(size):
            raise StepFailed(f"part {part.get('name', '?')}: got {r.nbytes} of {int(size)} bytes", True)
        return r.nbytes

    pool = Pool(max(1, w.browser.connections))
    jobs = [pool.spawn(fetch, p) for p in parts]
    gevent.joinall(jobs)
    for j in jobs:
        if j.exception is not None:
            raise j.exception
        results.append(j.value)
    return man, nbytes + sum(results), first[0], math.nan


def _post_answer(w: Walk, url: str, body: bytes, seq: int) -> tuple:
    resp = w.browser.request("POST", url, body, {"Content-Type": "application/octet-stream"},
                             name="autosave")
    check(resp, "autosave")
    try:
        ok = json.loads(resp.body).get("ok") is True
    except ValueError:
        ok = False
    if not ok:
        raise StepFailed("autosave: not acknowledged")
    w.ctx.ack(w.device.eppn, seq)
    return True, len(body), math.nan, math.nan


def _post_submit(w: Walk, url: str, body: bytes) -> tuple:
    resp = w.browser.request("POST", url, body, {"Content-Type": "application/octet-stream"}, name="submit")
    check(resp, "submit")
    return True, len(body), math.nan, math.nan


# ---------------------------------------------------------------- teachers

def teacher_script(ctx: RunContext, device, profile) -> None:
    """A teacher logs in (with the second factor) and opens the session for the room's group."""
    if not ctx.clock.sleep_until(device.start_s, ctx.stop):
        return
    ctx.counters["devices_started"] += 1
    w = Walk(ctx, device, "teacher", profile)
    try:
        if not _sign_in(w, device):
            return
        w.step("open", ctx.clock.now(), lambda: _open_session(w, device.room.group))
    finally:
        if not ctx.stop.is_set():  # a walk cut by a stop or the duration cap is not walked
            ctx.counters["devices_done"] += 1
        w.close()


def _open_session(w: Walk, group: str) -> tuple:
    base = w.ctx.targets["platform"].rstrip("/") + "/api/teacher/groups"
    resp = check(w.browser.request("GET", base, headers={"Accept": "application/json"}, name="teacher: groups"),
                  "teacher groups")
    try:
        mine = [g for g in json.loads(resp.body).get("groups", []) if g.get("group") == group]
    except ValueError:
        raise StepFailed("teacher groups: not JSON") from None
    if not mine:
        raise StepFailed(f"group {group} is not among the teacher's groups")
    n = resp.nbytes
    for g in mine:
        r = w.browser.request("POST", f"{base}/{urllib.parse.quote(group)}/open?activity="
                              f"{urllib.parse.quote(g.get('activity', ''))}", b"", name="teacher: open")
        check(r, "open session")
        n += r.nbytes
    return True, n, math.nan, math.nan


# ---------------------------------------------------------------- provisioning

class _Named:
    """A trace 'device' for clients that are not classroom devices."""

    def __init__(self, id_: str):
        self.id, self.site, self.ap = id_, "", ""

        class _R:
            name = ""
        self.room = _R()


def egil_script(ctx: RunContext, objects: list, start_s: float, every_s: float) -> None:
    """EGIL changes during the run: one SCIM PUT (replace, idempotent) per object, paced."""
    dev = _Named("egil-client")
    w = Walk(ctx, dev, "egil-client")
    scim = ctx.targets["scim"].rstrip("/")
    headers = {"Authorization": f"Bearer {ctx.targets['scim_token']}", "Content-Type": "application/scim+json",
               "Accept": "application/scim+json"}
    sent = -math.inf
    try:
        for i, (endpoint, obj_id, body) in enumerate(objects):
            planned = start_s + i * every_s
            # a client that fell behind keeps its spacing instead of catching up in a burst the
            # server's per-IP bucket would refuse; the lag stays visible as the step's start lag
            if not ctx.clock.sleep_until(max(planned, sent + every_s), ctx.stop):
                return
            sent = ctx.clock.now()
            data = json.dumps(body).encode()

            def push(endpoint=endpoint, obj_id=obj_id, data=data):
                r = w.browser.request("PUT", f"{scim}/{endpoint}/{urllib.parse.quote(obj_id, safe='')}", data,
                                      headers, name=f"provision: PUT {endpoint}")
                check(r, f"SCIM PUT {endpoint}", ok=(200, 201))
                return True, len(data), math.nan, math.nan
            w.step("provision", planned, push)
    finally:
        w.close()


SS12000_GETS_PER_S = 8.0  # headroom under Skolverket's published 10 GET/s per client IP


def ss12000_script(ctx: RunContext, start_s: float, walks: int, every_s: float, limit: int = 100) -> None:
    """SS 12000 pull: page through persons and groups (``limit`` + ``pageToken``), ``walks`` times."""
    dev = _Named("ss12000-client")
    w = Walk(ctx, dev, "ss12000-client")
    base = ctx.targets["ss12000"].rstrip("/")
    headers = {"Authorization": f"Bearer {ctx.targets['scim_token']}", "Accept": "application/json"}
    try:
        for n in range(walks):
            planned = start_s + n * every_s
            for coll in ("persons", "groups"):
                token, pages = "", 0
                while pages < 10_000:
                    if not ctx.clock.sleep_until(planned, ctx.stop):
                        return
                    q = {"limit": limit, **({"pageToken": token} if token else {})}

                    def page(coll=coll, q=q):
                        r = w.browser.request("GET", f"{base}/{coll}?{urllib.parse.urlencode(q)}",
                                              headers=headers, name=f"provision: SS12000 {coll}")
                        check(r, f"SS 12000 {coll}")
                        try:
                            return json.loads(r.body).get("pageToken") or "", r.nbytes, math.nan, math.nan
                        except ValueError:
                            raise StepFailed(f"SS 12000 {coll}: not JSON") from None
                    nxt = w.step("provision", planned, page)
                    pages += 1
                    planned = max(ctx.clock.now(), planned + 1.0 / SS12000_GETS_PER_S)
                    if not nxt:
                        break
                    token = nxt
    finally:
        w.close()


# ---------------------------------------------------------------- Locust users

class DeviceUser(User):
    """A Locust user bound to one planned device (``device``) and the run context."""

    abstract = True
    device = None
    profile = None
    ctx: RunContext | None = None

    def __init__(self, environment, device=None, profile=None, ctx: RunContext | None = None, job=None):
        super().__init__(environment)
        self.device, self.profile, self.ctx, self.job = device, profile, ctx, job

    def run(self):  # one walk, then the user ends (no task loop: arrivals are the plan's)
        self.script()

    def script(self) -> None:
        raise NotImplementedError


class PupilUser(DeviceUser):
    def script(self) -> None:
        pupil_script(self.ctx, self.device, self.profile)


class TeacherUser(DeviceUser):
    def script(self) -> None:
        teacher_script(self.ctx, self.device, self.profile)


class EgilUser(DeviceUser):
    def script(self) -> None:
        egil_script(self.ctx, *self.job)


class Ss12000User(DeviceUser):
    def script(self) -> None:
        ss12000_script(self.ctx, *self.job)
