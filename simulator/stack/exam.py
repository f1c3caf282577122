"""The test service behind the platform's SAML gateway: manifest, content,
answer autosave and submit, and the teacher's session control.

All endpoints need the ``examday_dnp`` session cookie (401 without).

- ``GET /platform/api/manifest`` — the pupil's test: 200 with parts (URL,
  size, ETag), autosave and submit URLs once the teacher has opened the
  session; **409** ``{"error": "session-not-open"}`` + ``Retry-After`` before.
- ``GET /platform/content/{test}/{part}`` — the part's bytes, from a file on
  disk (created sparse at startup), with ``Content-Length``, ``ETag``,
  ``If-None-Match`` (304) and ``Range`` (206) (RFC 9110 §8.8.3, §13.1.2, §14).
- ``POST /platform/api/answers?seq=N`` (body: the answer batch, any bytes, ≤ 4 MiB; ``0 ≤ N < 2⁶³``) —
  200 ``{"ok": true, "seq": N, "bytes": n}`` only after the SQLite commit
  (WAL, ``synchronous=FULL``); replaying a ``seq`` overwrites it (idempotent).
  ``GET /platform/api/answers`` lists the acknowledged seqs.
  ``GET /platform/api/stored-answers`` (bearer: the SCIM token) lists every
  stored (userName, seq) — the live engine's after-run check.
- ``POST /platform/api/submit`` (body: final answers) — 200 ``{"ok": true,
  "receipt": …}``, idempotent; afterwards autosave answers 409.
- ``GET /platform/api/teacher/groups`` — the teacher's (activity, group, test, state).
- ``POST /platform/api/teacher/groups/{group}/open`` | ``/close`` — opens or
  closes the session of that group's activity (``?activity=`` to pick one).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import time
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from .config import Catalogue
from .egil import TEST_EXT
from .platform import session_of

__all__ = ["routes", "materialise_content", "PLATFORM_SCHEMA", "content_path"]

log = logging.getLogger("examday.stack.exam")
MAX_SEQ = 2 ** 63 - 1  # SQLite INTEGER

PLATFORM_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions(activity_id TEXT, group_id TEXT, state TEXT NOT NULL, changed REAL,
  changed_by TEXT, PRIMARY KEY(activity_id, group_id));
CREATE TABLE IF NOT EXISTS answers(user_id TEXT, activity_id TEXT, seq INTEGER, body BLOB, received REAL,
  PRIMARY KEY(user_id, activity_id, seq));
CREATE TABLE IF NOT EXISTS submissions(user_id TEXT, activity_id TEXT, body BLOB, received REAL, receipt TEXT,
  PRIMARY KEY(user_id, activity_id));
"""


class _BigChunkFile(FileResponse):
    chunk_size = 1024 * 1024  # fewer event-loop round trips per 40 MB


def content_path(data_dir: str | Path, test: str, part: str) -> Path:
    return Path(data_dir) / "content" / test / f"{part}.bin"


def materialise_content(data_dir: str | Path, catalogue: Catalogue) -> None:
    """Create each part as a file of exactly its size: a deterministic 4 kB
    header (so parts differ) and a sparse tail; unchanged files are kept (stable ETags)."""
    for spec in catalogue.tests.values():
        for part in spec.parts:
            path = content_path(data_dir, spec.name, part.name)
            if path.exists() and path.stat().st_size == part.size:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            head = b"".join(hashlib.sha256(f"{spec.name}/{part.name}/{i}".encode()).digest() for i in range(128))
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            with open(tmp, "wb") as f:
                f.write(head[:part.size])
                f.truncate(part.size)
            os.replace(tmp, path)


def _err(status: int, error: str, **extra) -> JSONResponse:
    headers = {"Retry-After": str(extra.pop("retry_after"))} if "retry_after" in extra else None
    return JSONResponse({"error": error, **extra}, status, headers=headers)


def routes(stack) -> list[Route]:
    directory, pdb, catalogue, data_dir = stack.directory, stack.platform_db, stack.config.catalogue, stack.config.data_dir

    def state_of(activity: str, group: str) -> str:
        rows = pdb.query("SELECT state FROM sessions WHERE activity_id=? AND group_id=?", (activity, group))
        return rows[0][0] if rows else "scheduled"

    def pupil_test(user_id: str):
        """(activity id, group id, test name, state) of the pupil's current test, open ones first."""
        found = []
        for activity, group in directory.pupil_activities(user_id):
            act = directory.get("Activities", activity) or {}
            found.append((activity, group, (act.get(TEST_EXT) or {}).get("testProfile", ""), state_of(activity, group)))
        found.sort(key=lambda x: x[3] != "open")
        return found[0] if found else None

    def manifest(request: Request) -> Response:
        s = session_of(stack, request)
        if s is None:
            return _err(401, "not-logged-in")
        cur = pupil_test(s["u"])
        if cur is None:
            return _err(404, "no-test", detail="no activity for this user's groups")
        activity, group, test, st = cur
        spec = catalogue.get(test)
        if spec is None:
            return _err(404, "unknown-test-profile", test=test)
        if st != "open":
            return _err(409, "session-not-open", activity=activity, group=group, state=st, retry_after=2)
        parts = []
        for p in spec.parts:
            stat = content_path(data_dir, test, p.name).stat()
            parts.append({"name": p.name, "size": p.size, "url": f"/platform/content/{test}/{p.name}",
                          "etag": _etag(stat)})
        return JSONResponse({"activity": activity, "group": group, "test": test, "state": st, "parts": parts,
                             "duration_s": spec.duration_s,
                             "autosave": {"url": "/platform/api/answers", "every_s": spec.autosave_every_s,
                                          "size": spec.autosave_size},
                             "submit": {"url": "/platform/api/submit", "size": spec.submit_size}})

    async def content(request: Request) -> Response:
        s = session_of(stack, request)
        if s is None:
            return _err(401, "not-logged-in")
        test, part = request.path_params["test"], request.path_params["part"]
        spec = catalogue.get(test)
        if spec is None or part not in {p.name for p in spec.parts}:
            return _err(404, "no-such-content")
        if s["a"] != "staff":
            cur = await run_in_threadpool(pupil_test, s["u"])
            if cur is None or cur[2] != test or cur[3] != "open":
                return _err(409, "session-not-open", retry_after=2)
        path = content_path(data_dir, test, part)
        stat = path.stat()
        etag = _etag(stat)
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        return _BigChunkFile(path, stat_result=stat, media_type="application/octet-stream",
                             headers={"ETag": etag, "Cache-Control": "private, max-age=3600"})

    def _pupil_open(s: dict):
        cur = pupil_test(s["u"])
        if cur is None:
            return None, _err(404, "no-test")
        if cur[3] != "open":
            return None, _err(409, "session-not-open", retry_after=2)
        return cur[0], None

    async def answers(request: Request) -> Response:
        s = session_of(stack, request)
        if s is None:
            return _err(401, "not-logged-in")
        if request.method == "GET":
            return await run_in_threadpool(_list_answers, s)
        raw = request.query_params.get("seq", "")
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 19 and int(raw) <= MAX_SEQ):  # not "٣" or "３"
            return _err(400, "bad-seq", detail=f"?seq=<integer 0..{MAX_SEQ}> is required")
        body = await request.body()  # bounded by limits.Bounded (answer_body)
        return await run_in_threadpool(_save, s, int(raw), body)

    def _save(s: dict, seq: int, body: bytes) -> Response:
        activity, err = _pupil_open(s)
        if err is not None:
            return err
        with pdb.tx() as c:
            if c.execute("SELECT 1 FROM submissions WHERE user_id=? AND activity_id=?", (s["u"], activity)).fetchone():
                return _err(409, "already-submitted")
            c.execute("INSERT OR REPLACE INTO answers VALUES(?,?,?,?,?)", (s["u"], activity, seq, body, time.time()))
        return JSONResponse({"ok": True, "seq": seq, "bytes": len(body)})  # only after COMMIT returned

    def _list_answers(s: dict) -> Response:
        rows = pdb.query("SELECT activity_id, seq, length(body) FROM answers WHERE user_id=? ORDER BY 1, 2", (s["u"],))
        return JSONResponse({"answers": [{"activity": r[0], "seq": r[1], "bytes": r[2]} for r in rows]})

    async def stored_answers(request: Request) -> Response:
        """Every stored (userName, seq), for the live engine's after-run check; bearer: the SCIM token."""
        auth = request.headers.get("authorization", "")
        if auth[:7].lower() != "bearer " or not hmac.compare_digest(auth[7:].strip().encode(),
                                                                    stack.config.scim_token.encode()):
            return _err(401, "bearer-token-required")
        return await run_in_threadpool(_stored_answers)

    def _stored_answers() -> Response:
        names: dict[str, str] = {}
        out = []
        for uid, seq in pdb.query("SELECT user_id, seq FROM answers ORDER BY 1, 2"):
            if uid not in names:
                names[uid] = (directory.get("Users", uid) or {}).get("userName", "")
            out.append([names[uid], seq])
        return JSONResponse({"answers": out})

    async def submit(request: Request) -> Response:
        s = session_of(stack, request)
        if s is None:
            return _err(401, "not-logged-in")
        body = await request.body()  # bounded by limits.Bounded (answer_body)
        return await run_in_threadpool(_submit, s, body)

    def _submit(s: dict, body: bytes) -> Response:
        activity, err = _pupil_open(s)
        if err is not None:
            return err
        receipt = hashlib.sha256(s["u"].encode() + b"|" + activity.encode() + b"|" + body).hexdigest()[:32]
        with pdb.tx() as c:
            row = c.execute("SELECT receipt FROM submissions WHERE user_id=? AND activity_id=?",
                            (s["u"], activity)).fetchone()
            if row is None:
                c.execute("INSERT INTO submissions VALUES(?,?,?,?,?)", (s["u"], activity, body, time.time(), receipt))
            else:
                receipt = row[0]
        return JSONResponse({"ok": True, "activity": activity, "receipt": receipt})

    def teacher_groups(request: Request) -> Response:
        s = session_of(stack, request)
        if s is None:
            return _err(401, "not-logged-in")
        out = []
        for activity, group in directory.teacher_groups(s["u"]):
            act = directory.get("Activities", activity) or {}
            out.append({"activity": activity, "group": group, "state": state_of(activity, group),
                        "test": (act.get(TEST_EXT) or {}).get("testProfile", "")})
        return JSONResponse({"groups": out})

    def teacher_set(request: Request) -> Response:
        s = session_of(stack, request)
        if s is None:
            return _err(401, "not-logged-in")
        if s["a"] != "staff":
            return _err(403, "staff-only")
        group, action = request.path_params["group"], request.path_params["action"]
        if action not in ("open", "close"):
            return _err(404, "unknown-action", detail="use /open or /close")
        wanted = request.query_params.get("activity")
        mine = [a for a, g in directory.teacher_groups(s["u"]) if g == group and (not wanted or a == wanted)]
        if not mine:
            return _err(403, "not-your-group", group=group)
        new = "open" if action == "open" else "closed"
        with pdb.tx() as c:
            for activity in mine:
                c.execute("INSERT OR REPLACE INTO sessions VALUES(?,?,?,?,?)", (activity, group, new, time.time(),
                                                                                 s["e"]))
        log.info("%s set %s to %s for %s", s["e"], group, new, mine)
        return JSONResponse({"group": group, "activities": mine, "state": new})

    return [Route("/platform/api/manifest", manifest), Route("/platform/content/{test}/{part}", content),
            Route("/platform/api/answers", answers, methods=["GET", "POST"]),
            Route("/platform/api/submit", submit, methods=["POST"]),
            Route("/platform/api/stored-answers", stored_answers),
            Route("/platform/api/teacher/groups", teacher_groups),
            Route("/platform/api/teacher/groups/{group}/{action:str}", teacher_set, methods=["POST"])]


def _etag(stat: os.stat_result) -> str:
    return '"' + hashlib.sha256(f"{stat.st_size}-{stat.st_mtime_ns}-{stat.st_ino}".encode()).hexdigest()[:24] + '"'
