"""The stack's one store: SQLite files in the data folder, shared by IdP,
platform and provisioning (and by every uvicorn worker).

- ``directory.db`` — provisioned objects (SCIM resources as JSON, EGIL
  profile), password hashes, and derived indexes (group members, activity
  groups/teachers, employments) used at login. Every write takes the next
  global ``rev``; SS 12000 paging is keyset paging on ``rev`` (stable under
  concurrent writes: an object changed mid-walk moves behind the cursor, so an
  unchanged object is returned exactly once and a changed one at least once,
  at its newer version).
- ``platform.db`` — test sessions, autosaved answers, submissions.
  ``synchronous=FULL``: a write is on disk before it is acknowledged.
- ``saml.db`` — outstanding AuthnRequest IDs, consumed assertion IDs, MFA
  approvals. ``synchronous=NORMAL`` (WAL): survives a process kill, not a power
  cut — fine for replay caches.

All databases use WAL (concurrent readers, one writer) and a busy timeout.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .egil import ref, refs

__all__ = ["Db", "Directory", "UserRecord", "Conflict"]


class Conflict(Exception):
    """A uniqueness violation (SCIM 409 ``uniqueness``)."""


class Db:
    """Thread-local connections to one SQLite file."""

    def __init__(self, path: Path, schema: str, synchronous: str = "FULL"):
        self.path, self._sync, self._local = Path(path), synchronous, threading.local()
        with self.connect() as c:
            c.executescript(schema)

    def connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._sync}")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    def tx(self) -> "_Tx":
        """``with db.tx() as c:`` — BEGIN IMMEDIATE ... COMMIT (returns only after the commit)."""
        return _Tx(self.connect())

    def query(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        return self.connect().execute(sql, args).fetchall()


class _Tx:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


DIRECTORY_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects(type TEXT NOT NULL, id TEXT NOT NULL, rev INTEGER NOT NULL,
  created REAL NOT NULL, modified REAL NOT NULL, data TEXT NOT NULL, user_name TEXT, external_id TEXT,
  PRIMARY KEY(type, id));
CREATE UNIQUE INDEX IF NOT EXISTS objects_user_name ON objects(type, user_name) WHERE user_name IS NOT NULL;
CREATE INDEX IF NOT EXISTS objects_user_name_ci ON objects(type, lower(user_name));
CREATE INDEX IF NOT EXISTS objects_external_id ON objects(type, external_id);
CREATE UNIQUE INDEX IF NOT EXISTS objects_rev ON objects(type, rev);
CREATE TABLE IF NOT EXISTS tombstones(type TEXT, id TEXT, rev INTEGER, deleted REAL);
CREATE TABLE IF NOT EXISTS counter(one INTEGER PRIMARY KEY CHECK(one = 1), rev INTEGER NOT NULL);
INSERT OR IGNORE INTO counter VALUES(1, 0);
CREATE TABLE IF NOT EXISTS credentials(user_id TEXT PRIMARY KEY, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS members(group_id TEXT, person_id TEXT, PRIMARY KEY(group_id, person_id));
CREATE INDEX IF NOT EXISTS members_person ON members(person_id);
CREATE TABLE IF NOT EXISTS activity_groups(activity_id TEXT, group_id TEXT, PRIMARY KEY(activity_id, group_id));
CREATE INDEX IF NOT EXISTS activity_groups_group ON activity_groups(group_id);
CREATE TABLE IF NOT EXISTS activity_teachers(activity_id TEXT, person_id TEXT, PRIMARY KEY(activity_id, person_id));
CREATE INDEX IF NOT EXISTS activity_teachers_person ON activity_teachers(person_id);
CREATE TABLE IF NOT EXISTS employments(id TEXT PRIMARY KEY, person_id TEXT, school_unit TEXT);
CREATE INDEX IF NOT EXISTS employments_person ON employments(person_id);
"""


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    user_name: str
    affiliation: str  # "student" | "staff"
    school_unit_code: str
    password_hash: str
    data: dict


class Directory:
    """Provisioned objects (SCIM JSON, EGIL profile) and what login needs from them."""

    def __init__(self, data_dir: str | Path):
        self.db = Db(Path(data_dir) / "directory.db", DIRECTORY_SCHEMA, "FULL")

    # -- writes ---------------------------------------------------------
    def put(self, rtype: str, obj_id: str, data: dict, *, password_hash: str | None = None,
            must_exist: bool | None = None) -> dict:
        """Create (``must_exist=False``), replace (``True``) or upsert (``None``) one object.

        Returns the stored JSON with ``id`` and ``meta`` (RFC 7643 §3.1).
        Raises ``KeyError`` (replace of a missing object) or ``Conflict``.
        """
        now = time.time()
        user_name = data.get("userName") if rtype == "Users" else None
        with self.db.tx() as c:
            old = c.execute("SELECT created, data FROM objects WHERE type=? AND id=?", (rtype, obj_id)).fetchone()
            if must_exist is False and old is not None:
                raise Conflict(f"{rtype}/{obj_id} exists")
            if must_exist is True and old is None:
                raise KeyError(obj_id)
            if user_name is not None:
                # userName is case-insensitive (RFC 7643 §4.1.1, caseExact false): "P1@X.SE" is "p1@x.se"
                clash = c.execute("SELECT id FROM objects WHERE type=? AND lower(user_name)=lower(?) AND id<>?",
                                  (rtype, user_name, obj_id)).fetchone()
                if clash:
                    raise Conflict(f"userName {user_name!r} is taken")
            created = old["created"] if old else now
            if old is not None and _same(json.loads(old["data"]), data):
                stored = json.loads(old["data"])  # idempotent: no new revision
            else:
                rev = c.execute("UPDATE counter SET rev = rev + 1 RETURNING rev").fetchone()[0]
                stored = {**data, "id": obj_id, "meta": {"resourceType": rtype[:-1] if rtype != "Activities"
                                                         else "Activity", "created": _iso(created),
                                                         "lastModified": _iso(now), "version": f'W/"{rev}"'}}
                c.execute("INSERT OR REPLACE INTO objects VALUES(?,?,?,?,?,?,?,?)",
                          (rtype, obj_id, rev, created, now, json.dumps(stored), user_name, data.get("externalId")))
                self._index(c, rtype, obj_id, data)
            if password_hash is not None:
                c.execute("INSERT OR REPLACE INTO credentials VALUES(?,?)", (obj_id, password_hash))
        return stored

    def delete(self, rtype: str, obj_id: str) -> bool:
        with self.db.tx() as c:
            if c.execute("DELETE FROM objects WHERE type=? AND id=?", (rtype, obj_id)).rowcount == 0:
                return False
            rev = c.execute("UPDATE counter SET rev = rev + 1 RETURNING rev").fetchone()[0]
            c.execute("INSERT INTO tombstones VALUES(?,?,?,?)", (rtype, obj_id, rev, time.time()))
            self._index(c, rtype, obj_id, None)
            if rtype == "Users":
                c.execute("DELETE FROM credentials WHERE user_id=?", (obj_id,))
        return True

    @staticmethod
    def _index(c: sqlite3.Connection, rtype: str, obj_id: str, data: dict | None) -> None:
        if rtype == "StudentGroups":
            c.execute("DELETE FROM members WHERE group_id=?", (obj_id,))
            if data:
                c.executemany("INSERT OR IGNORE INTO members VALUES(?,?)",
                              [(obj_id, p) for p in refs(data, "studentMemberships")])
        elif rtype == "Activities":
            c.execute("DELETE FROM activity_groups WHERE activity_id=?", (obj_id,))
            c.execute("DELETE FROM activity_teachers WHERE activity_id=?", (obj_id,))
            if data:
                c.executemany("INSERT OR IGNORE INTO activity_groups VALUES(?,?)",
                              [(obj_id, g) for g in refs(data, "groups")])
                c.executemany("INSERT OR IGNORE INTO activity_teachers VALUES(?,?)",
                              [(obj_id, t) for t in refs(data, "teachers")])
        elif rtype == "Employments":
            c.execute("DELETE FROM employments WHERE id=?", (obj_id,))
            if data:
                c.execute("INSERT INTO employments VALUES(?,?,?)", (obj_id, ref(data, "user"), ref(data, "employedAt")))

    # -- reads ----------------------------------------------------------
    def get(self, rtype: str, obj_id: str) -> dict | None:
        rows = self.db.query("SELECT data FROM objects WHERE type=? AND id=?", (rtype, obj_id))
        return json.loads(rows[0]["data"]) if rows else None

    def find(self, rtype: str, attr: str | None = None, value: str | None = None,
             start: int = 1, count: int = 100) -> tuple[int, list[dict]]:
        """Filter on ``userName``/``externalId`` equality (or none); SCIM 1-based ``startIndex``."""
        where, args = "type=?", [rtype]
        if attr == "userName":
            where, args = where + " AND lower(user_name)=lower(?)", args + [value]  # caseExact false
        elif attr == "externalId":
            where, args = where + " AND external_id=?", args + [value]
        total = self.db.query(f"SELECT count(*) FROM objects WHERE {where}", tuple(args))[0][0]
        rows = self.db.query(f"SELECT data FROM objects WHERE {where} ORDER BY rev LIMIT ? OFFSET ?",
                             (*args, max(0, count), max(0, start - 1)))
        return total, [json.loads(r["data"]) for r in rows]

    def page(self, rtype: str, after_rev: int, limit: int, modified_after: float | None = None
             ) -> tuple[list[dict], int | None]:
        """Keyset page for SS 12000 pull: objects with ``rev > after_rev`` in rev order."""
        sql, args = "SELECT rev, data FROM objects WHERE type=? AND rev>?", [rtype, after_rev]
        if modified_after is not None:
            sql, args = sql + " AND modified>?", args + [modified_after]
        rows = self.db.query(sql + " ORDER BY rev LIMIT ?", (*args, limit + 1))
        more = len(rows) > limit
        rows = rows[:limit]
        return [json.loads(r["data"]) for r in rows], (rows[-1]["rev"] if more and rows else None)

    def deleted(self, after: float | None = None) -> list[tuple[str, str, float]]:
        rows = self.db.query("SELECT type, id, deleted FROM tombstones WHERE deleted>? ORDER BY rev", (after or 0,))
        return [(r["type"], r["id"], r["deleted"]) for r in rows]

    def user_by_name(self, user_name: str) -> UserRecord | None:
        rows = self.db.query("SELECT o.id, o.data, c.hash FROM objects o LEFT JOIN credentials c ON c.user_id=o.id "
                             "WHERE o.type='Users' AND o.user_name=?", (user_name,))
        if not rows:
            return None
        data = json.loads(rows[0]["data"])
        uid = rows[0]["id"]
        affiliation = data.get("userType") or ("staff" if self.db.query(
            "SELECT 1 FROM employments WHERE person_id=?", (uid,)) else "student")
        return UserRecord(id=uid, user_name=user_name, affiliation=affiliation,
                          school_unit_code=self.school_unit_code(uid, data), password_hash=rows[0]["hash"] or "",
                          data=data)

    def school_unit_code(self, user_id: str, data: dict) -> str:
        from .egil import SIS
        unit = next(iter(refs(data.get(f"{SIS}:User", {}), "enrolments")), "")
        if not unit:
            rows = self.db.query("SELECT school_unit FROM employments WHERE person_id=?", (user_id,))
            unit = rows[0][0] if rows else ""
        su = self.get("SchoolUnits", unit) if unit else None
        return str(su.get("schoolUnitCode", "")) if su else ""

    def eppn_scopes(self) -> tuple[str, ...]:
        """The distinct scopes (domain after ``@``) of the provisioned users' EPPNs."""
        rows = self.db.query("SELECT DISTINCT lower(substr(user_name, instr(user_name, '@') + 1)) FROM objects "
                             "WHERE type='Users' AND instr(user_name, '@') > 0")
        return tuple(sorted(r[0] for r in rows if r[0]))

    def set_password_hash(self, user_id: str, password_hash: str) -> None:
        with self.db.tx() as c:
            c.execute("UPDATE credentials SET hash=? WHERE user_id=?", (password_hash, user_id))

    def pupil_activities(self, user_id: str) -> list[tuple[str, str]]:
        """(activity_id, group_id) for every activity a pupil's groups sit."""
        rows = self.db.query("SELECT ag.activity_id, ag.group_id FROM members m JOIN activity_groups ag "
                             "ON ag.group_id=m.group_id WHERE m.person_id=? ORDER BY ag.activity_id", (user_id,))
        return [(r[0], r[1]) for r in rows]

    def teacher_groups(self, user_id: str) -> list[tuple[str, str]]:
        """(activity_id, group_id) for every activity a teacher runs."""
        rows = self.db.query("SELECT ag.activity_id, ag.group_id FROM activity_teachers t JOIN activity_groups ag "
                             "ON ag.activity_id=t.activity_id WHERE t.person_id=? ORDER BY 1, 2", (user_id,))
        return [(r[0], r[1]) for r in rows]

    def iter_type(self, rtype: str) -> Iterator[dict]:
        for r in self.db.query("SELECT data FROM objects WHERE type=? ORDER BY rev", (rtype,)):
            yield json.loads(r["data"])


def _same(old: dict, new: dict) -> bool:
    return {k: v for k, v in old.items() if k not in ("id", "meta")} == {k: v for k, v in new.items() if k != "id"}


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"
