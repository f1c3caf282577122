"""Issue 12's attacker and careless-client cases against a stack started as the
README says (``examday stack --data DIR --port PORT``, plus ``--trust-metadata``
for a third-party IdP), each printed with its HTTP status and the stack's RSS
growth over idle. Exit 1 when any case is answered with something other than
its 4xx (or a 5xx, or a traceback), or RSS grows 100 MB or more over idle.

Cases: 4 x 100 MB SAMLResponses, a 500 MB chunked autosave, 8 x 50 MB SCIM
POSTs, a 100 MB request header, 3,000 idle and half-sent connections, 150 form
fields, SCIM filters ``"\\q"`` and ``"\\ud800"``, a huge ``startIndex``, JSON
nested 100k deep, an SS 12000 ``pageToken`` with ``r=1e400``, ``seq`` >= 2**63,
2,000 unauthenticated ``GET /platform/login`` (no server-side rows), UTF-16 with
a DTD, an entity reference with a trusted Issuer, FriendlyName spoofing, a
multi-valued EPPN, an EPPN outside the issuing IdP's scope, staff without LoA 3,
login CSRF (a genuine unused Response posted from another browser). And variants of those classes an
outside harness tries: SCIM bodies with NaN, 1e400, a lone surrogate, a duplicate ``userName`` key, UTF-16,
attributes of the wrong JSON type (then the listings must still answer 200), a PATCH that is no PatchOp, an
unimplemented SS 12000 filter, 3000 ``attributes`` paths, non-ASCII ``seq`` digits, base64 tricks in
``SAMLResponse``, off-site, path-escaping and 300 KB RelayStates and ``next``, writes rotating ``X-Forwarded-For`` past the rate limit, and
bodies trickled at 1 byte/s or stalled after a 2**64-1 chunk size (408).

    .venv/bin/python benchmarks/stack_abuse.py [--connections 3000]

The heavy bodies are cut by the stack after its limit, so the whole run takes
about the header timeout (10 s) plus a few seconds.
"""

from __future__ import annotations

import argparse
import base64
import os
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from lxml import etree  # noqa: E402

from simulator.roster import Employment, Person, Roster, SchoolUnit, StudentGroup, password_for  # noqa: E402
from simulator.stack import keys, saml  # noqa: E402
from simulator.stack.egil_client import push_roster  # noqa: E402
from simulator.stack.process import REPO, free_port, popen_supervised, wait_healthy  # noqa: E402
from simulator.stack.walk import login  # noqa: E402

MB = 1024 * 1024
SU = SchoolUnit("su-abuse", "12345678", "Abuseskolan")
PUPIL = Person("p-abuse", "p00001@abuse.example", "Elev", "Ett", "student", SU.id, password_for(7, "p1"))
TEACHER = Person("t-abuse", "t00001@abuse.example", "Lärare", "Ett", "staff", SU.id, password_for(7, "t1"))
ROSTER = Roster((SU,), (StudentGroup("g-abuse", "9A", SU.id, (PUPIL.id,)),), (PUPIL, TEACHER),
                (Employment("e-abuse", TEACHER.id, SU.id),), ())
#: Third-party IdPs the stack trusts: one whose scope holds the roster's domain (no e-leg assurance
#: attribute), one whose scope is elsewhere.
IN_SCOPE, OUT_OF_SCOPE = "https://idp.abuse.example/idp", "https://idp.elsewhere.example/idp"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
SIS_USER = "urn:scim:schemas:extension:sis:school:1.0:User"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def raw(port: int, head: bytes, body_chunks=(), timeout: float = 30.0) -> tuple[int, bytes]:
    """Send ``head``, then body chunks until the server answers or closes: (status, response head)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    data = b""
    try:
        s.sendall(head)
        for chunk in body_chunks:
            try:
                s.sendall(chunk)
                s.setblocking(False)
                if s.recv(1, socket.MSG_PEEK):
                    break  # the answer is there: stop sending
            except BlockingIOError:
                pass
            except (BrokenPipeError, ConnectionResetError):
                break
            finally:
                s.setblocking(True)
                s.settimeout(timeout)
        try:
            while b"\r\n\r\n" not in data and (got := s.recv(65536)):
                data += got
        except ConnectionResetError:
            pass
    finally:
        s.close()
    return (int(data[9:12]) if data.startswith(b"HTTP/1.1 ") else 0), data


def chunked(total: int, size: int = MB):
    for _ in range(total // size):
        yield b"%x\r\n" % size + b"a" * size + b"\r\n"
    yield b"0\r\n\r\n"


class Abuse:
    def __init__(self, port: int, pid: int, data: Path, fake_keys: dict):
        self.port, self.pid, self.data, self.fake_keys = port, pid, data, fake_keys
        self.base = f"http://127.0.0.1:{port}"
        self.idle = rss_mb(pid)
        self.failures = 0
        self.idp_keys = keys.load_or_create(data, "idp", f"{self.base}/idp")

    def report(self, case: str, status: int, expected: "int | tuple[int, ...]", text: bytes | str = b"",
               reason: str = "", want: str = "") -> None:
        """One line per case; ``want``: the refusal reason (``X-Examday-Reject``) the case must get."""
        text = text.encode() if isinstance(text, str) else text
        reason = reason or next((ln.split(b":", 1)[1].strip().decode() for ln in text.split(b"\r\n")
                                 if ln.lower().startswith(b"x-examday-reject:")), "")
        grown = rss_mb(self.pid) - self.idle
        ok = (status in expected if isinstance(expected, tuple) else status == expected) \
            and b"Traceback" not in text and grown < 100 and (not want or reason == want)
        self.failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {case:58} {status} {reason:24} RSS +{grown:5.1f} MB")

    def answer(self, case: str, r: httpx.Response, expected: "int | tuple[int, ...]", want: str = "") -> None:
        self.report(case, r.status_code, expected, r.text, r.headers.get("x-examday-reject", ""), want)

    # ---------------------------------------------------------------- input bounds
    def bodies(self, cookie: str, token: str) -> None:
        form = b"Content-Type: application/x-www-form-urlencoded\r\n"
        for i in range(4):
            status, data = raw(self.port, b"POST /platform/acs HTTP/1.1\r\nHost: x\r\n" + form
                               + b"Content-Length: 100000000\r\n\r\n", (b"SAMLResponse=" + b"A" * MB for _ in range(100)))
            self.report(f"100 MB SAMLResponse #{i + 1}", status, 413, data)
        status, data = raw(self.port, b"POST /platform/api/answers?seq=1 HTTP/1.1\r\nHost: x\r\nCookie: "
                           + cookie.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n", chunked(500 * MB))
        self.report("500 MB chunked autosave", status, 413, data)
        auth = f"Authorization: Bearer {token}\r\nContent-Type: application/scim+json\r\n".encode()
        for i in range(8):
            status, data = raw(self.port, b"POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\n" + auth
                               + b"Content-Length: 50000000\r\n\r\n", (b" " * MB for _ in range(50)))
            self.report(f"50 MB SCIM POST #{i + 1}", status, (413, 429), data)
        status, data = raw(self.port, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ", (b"a" * MB for _ in range(100)))
        self.report("100 MB request header", status, 431, data)

    def connections(self, n: int) -> None:
        t0, socks = time.monotonic(), []
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", self.port), timeout=60)
            if i % 2:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            socks.append(s)
        health = httpx.get(f"{self.base}/health", timeout=30).status_code
        self.report(f"/health while {n} idle/half-sent connections are held", health, 200)
        closed = 0
        for s in socks:
            try:
                got = s.recv(64)
                closed += got == b"" or got.startswith(b"HTTP/1.1 408")
            except ConnectionResetError:
                closed += 1
            except socket.timeout:
                pass
            s.close()
        print(f"     {closed} of {n} connections closed by the stack after {time.monotonic() - t0:.1f} s")
        self.report(f"{n} idle/half-sent connections closed", 408 if closed == n else 200, 408)

    def bad_inputs(self, cookie: str, token: str) -> None:
        scim = {"Authorization": f"Bearer {token}"}
        scimj = {**scim, "Content-Type": "application/scim+json"}
        form = {"Content-Type": "application/x-www-form-urlencoded"}

        def user(name: str, extra: str = "") -> str:
            return '{"schemas": ["%s"], "userName": "%s"%s}' % (USER_SCHEMA, name, extra)
        fields = "&".join(f"f{i}=v" for i in range(150))
        page = base64.urlsafe_b64encode(b'{"c": "persons", "r": 1e400, "m": null}').decode().rstrip("=")
        cases = [
            ("150 form fields at /idp/login", "POST", "/idp/login", form, fields, 400),
            ("150 form fields at /platform/acs", "POST", "/platform/acs", form, fields, 400),
            ('SCIM filter "\\q"', "GET", '/scim/v2/Users?filter=userName eq "\\q"', scim, None, 400),
            ('SCIM filter "\\ud800"', "GET", '/scim/v2/Users?filter=userName eq "\\ud800"', scim, None, 400),
            ("SCIM startIndex 10**30", "GET", f"/scim/v2/Users?startIndex={10 ** 30}", scim, None, 400),
            ("SCIM JSON nested 100k deep", "POST", "/scim/v2/Users", {**scim, "Content-Type": "application/scim+json"},
             "[" * 100_000 + "]" * 100_000, 400),
            ("SS 12000 pageToken r=1e400", "GET", f"/ss12000/persons?pageToken={page}", scim, None, 400),
            ("autosave seq = 2**63", "POST", f"/platform/api/answers?seq={2 ** 63}", {"Cookie": cookie}, b"x", 400),
            # variants of the classes above (attacker pass, Dec 2026): JSON RFC 8259 does not allow, attributes of
            # the wrong JSON type (each would have been stored and made every later listing a 500), PATCH
            # bodies that are not a PatchOp, SS 12000 filters the service does not implement, non-ASCII digits
            ("SCIM POST with NaN", "POST", "/scim/v2/Users", scimj, user("nan@abuse.example", ', "x": NaN'), 400),
            ("SCIM POST with 1e400", "POST", "/scim/v2/Users", scimj, user("inf@abuse.example", ', "x": 1e400'), 400),
            ('SCIM POST with userName "\\ud800"', "POST", "/scim/v2/Users", scimj, user("\\ud800@abuse.example"), 400),
            ("SCIM POST with a duplicate userName key", "POST", "/scim/v2/Users", scimj,
             user("a@abuse.example", ', "userName": "b@abuse.example"'), 400),
            ("SCIM POST in UTF-16", "POST", "/scim/v2/Users", scimj, user("u16@abuse.example").encode("utf-16"), 400),
            ("SCIM POST with schemas as a string", "POST", "/scim/v2/Users", scimj,
             '{"schemas": "%s", "userName": "s@abuse.example"}' % USER_SCHEMA, 400),
            ("SCIM POST with enrolments not an array", "POST", "/scim/v2/Users", scimj,
             user("e@abuse.example", ', "%s": {"enrolments": "su-abuse"}' % SIS_USER), 400),
            ("SCIM PATCH with an unknown op", "PATCH", "/scim/v2/Users/p-abuse", scimj,
             '{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "evil"}]}', 400),
            ("SS 12000 unimplemented filter meta.modified.before", "GET",
             "/ss12000/persons?meta.modified.before=2020-01-01T00:00:00Z", scim, None, 400),
            ("autosave seq in Arabic-Indic digits", "POST", "/platform/api/answers?seq=%D9%A3", {"Cookie": cookie},
             b"x", 400),
            ("SCIM attributes= listing 3000 distinct paths", "GET",
             "/scim/v2/Users?count=1000&attributes=" + ",".join(f"a{i}" for i in range(3000)), scim, None, 400),
            ("SCIM Users listing after the bad writes", "GET", "/scim/v2/Users", scim, None, 200),
            ("SS 12000 persons after the bad writes", "GET", "/ss12000/persons", scim, None, 200),
        ]
        with httpx.Client(base_url=self.base, timeout=30) as c:
            for name, method, path, headers, body, expected in cases:
                for _ in range(5):  # the provisioning API may say 429 first (5 writes/s, 10 GET/s)
                    r = c.request(method, path, headers=headers, content=body)
                    if r.status_code != 429:
                        break
                    time.sleep(float(r.headers.get("retry-after", "1")))
                self.answer(name, r, expected)

    def pending_growth(self, n: int = 2000) -> None:
        def rows() -> int:
            with sqlite3.connect(self.data / "saml.db") as db:
                return sum(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("used_requests", "mfa"))
        before = rows()
        with httpx.Client(base_url=self.base) as c:
            for _ in range(n):
                c.get("/platform/login")
        grown = rows() - before
        print(f"     {n} unauthenticated GET /platform/login: saml.db grew by {grown} rows")
        self.report(f"{n} GET /platform/login store nothing server-side", 302 if grown == 0 else 200, 302)

    def spoofed_rate(self, token: str) -> None:
        """Skolverket's 5 writes/s per client IP: a burst that names a new client IP in ``X-Forwarded-For`` (and
        ``Forwarded``) on every request still gets 429s (the stack takes the peer address, not the header)."""
        statuses = []
        with httpx.Client(base_url=self.base, timeout=30) as c:
            for i in range(30):
                r = c.post("/scim/v2/Users", content=b"{}", headers={
                    "Authorization": f"Bearer {token}", "Content-Type": "application/scim+json",
                    "X-Forwarded-For": f"10.9.{i // 250}.{i % 250 + 1}", "Forwarded": f"for=10.8.0.{i + 1}"})
                statuses.append(r.status_code)
        print(f"     30 writes with a new X-Forwarded-For each: {statuses.count(429)} x 429")
        self.report("30 writes/burst rotating X-Forwarded-For get 429", 429 if statuses.count(429) >= 20 else 200, 429)

    def slow_bodies(self) -> list:
        """Bodies trickled at 1 byte/s (slowloris on bodies) or stalled after one byte: 408 (closed), in the
        background while ``connections`` runs (each takes the 10 s body timeout)."""
        form = b"Content-Type: application/x-www-form-urlencoded\r\n"
        out: list = []

        def trickle(case: str, head: bytes, n: int) -> None:
            status, data = raw(self.port, head, (time.sleep(1) or b"a" for _ in range(n)), timeout=60)
            out.append((case, status, data))
        cases = [("body trickled at 1 byte/s (Content-Length 100000)",
                  b"POST /platform/acs HTTP/1.1\r\nHost: x\r\n" + form + b"Content-Length: 100000\r\n\r\n", 40),
                 ("chunk size 2**64-1, then the body stalls",
                  b"POST /platform/acs HTTP/1.1\r\nHost: x\r\n" + form
                  + b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n", 1)]
        threads = [threading.Thread(target=trickle, args=c) for c in cases]
        for t in threads:
            t.start()
        return [threads, out]

    def slow_bodies_done(self, pending: list) -> None:
        threads, out = pending
        for t in threads:
            t.join(90)
        for case, status, data in sorted(out):
            self.report(case, status, 408, data)

    # ---------------------------------------------------------------- forgeries
    def start(self, client: httpx.Client, idp: str = "") -> str:
        """A login started in ``client`` (its request cookie set): the AuthnRequest ID."""
        r = client.get(f"{self.base}/platform/login", params={"idp": idp} if idp else None)
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(r.headers["location"]).query)
        return etree.fromstring(zlib.decompress(base64.b64decode(q["SAMLRequest"][0]), -15)).get("ID")

    def response(self, in_response_to: str, person: Person, issuer: str = "", **kw) -> bytes:
        issuer = issuer or f"{self.base}/idp"
        kp = self.fake_keys.get(issuer, self.idp_keys)
        attrs = kw.pop("attributes", {"eduPersonPrincipalName": [person.eppn],
                                      "eduPersonAffiliation": [person.affiliation]})
        return saml.build_response(issuer=issuer, destination=f"{self.base}/platform/acs",
                                   audience=f"{self.base}/platform", in_response_to=in_response_to,
                                   name_id=saml.new_id(), name_id_format=saml.NAMEID_TRANSIENT, key=kp.key,
                                   cert_pem=kp.cert_pem, now=time.time(), attributes=attrs, **kw)

    def post(self, client: httpx.Client, xml: bytes) -> httpx.Response:
        return client.post(f"{self.base}/platform/acs", data={"SAMLResponse": base64.b64encode(xml).decode()})

    def forgeries(self) -> None:
        with httpx.Client() as c:
            dtd = '<!DOCTYPE r [<!ENTITY e "x">]>'
            xml = self.response(self.start(c), PUPIL).decode()
            r = self.post(c, ('<?xml version="1.0" encoding="UTF-16"?>' + dtd + xml).encode("utf-16"))
            self.answer("genuine Response as UTF-16 with an internal DTD", r, 400, "malformed")
            entity = (f'<samlp:Response xmlns:samlp="{saml.NS["samlp"]}" xmlns:saml="{saml.NS["saml"]}" ID="_x" '
                      f'Version="2.0"><saml:Issuer>{self.base}/idp&e;</saml:Issuer></samlp:Response>')
            r = self.post(c, (dtd + entity).encode())
            self.answer("entity reference with a trusted Issuer", r, 400, "malformed")
            spoof = self.response(self.start(c), PUPIL, attributes={"urn:example:nickname": [TEACHER.eppn]},
                                  friendly_names={"urn:example:nickname": "eduPersonPrincipalName"})
            r = self.post(c, spoof)
            self.answer("FriendlyName eduPersonPrincipalName on another Name", r, 403, "unknown-user")
            two = self.response(self.start(c), PUPIL, attributes={"eduPersonPrincipalName": [PUPIL.eppn,
                                                                                             TEACHER.eppn]})
            r = self.post(c, two)
            self.answer("eduPersonPrincipalName with two values", r, 400, "multi-valued")
            r = self.post(c, self.response(self.start(c, OUT_OF_SCOPE), PUPIL, issuer=OUT_OF_SCOPE))
            self.answer("EPPN outside the issuing IdP's shibmd:Scope", r, 403, "wrong-scope")
            r = self.post(c, self.response(self.start(c, IN_SCOPE), TEACHER, issuer=IN_SCOPE,
                                           authn_context="http://id.elegnamnden.se/loa/1.0/loa3"))
            self.answer("staff LoA 3 claimed by an IdP without e-leg assurance", r, 403, "insufficient-assurance")
            r = self.post(c, self.response(self.start(c), TEACHER))
            self.answer("staff with PasswordProtectedTransport only", r, 403, "insufficient-assurance")
            b64 = base64.b64encode(self.response(self.start(c), PUPIL)).decode()
            r = c.post(f"{self.base}/platform/acs", data={"SAMLResponse": b64 + "=AAAA"})
            self.answer("genuine Response with base64 data after the padding", r, 400, "malformed")
            r = c.post(f"{self.base}/platform/acs", data={"SAMLResponse": b64[:8] + "!" + b64[8:]})
            self.answer("genuine Response with a non-base64 character", r, 400, "malformed")
            for name, relay in (("off-site", "https://evil.example/"), ("scheme-relative", "//evil.example/"),
                                ("path-escaping", "/platform/../idp/metadata"),
                                ("300 KB", "/platform/" + "a" * 300_000)):
                r = c.post(f"{self.base}/platform/acs", data={"SAMLResponse": b64, "RelayState": relay})
                self.answer(f"genuine Response with a {name} RelayState", r, 400, "bad-relay-state")
            query = urllib.parse.urlsplit(c.get(f"{self.base}/platform/login").headers["location"]).query
            r = c.get(f"{self.base}/idp/sso?" + query.split("&RelayState=")[0] + "&RelayState=" + "a" * 30_000)
            self.report("IdP SSO with a 30 kB RelayState", r.status_code, 400, r.text,
                        "bad-relay-state" if "bad-relay-state" in r.text else "")
            r = c.get(f"{self.base}/platform/login", params={"next": "https://evil.example/"})
            self.answer("/platform/login?next=https://evil.example/", r, 400, "bad-relay-state")
            genuine = self.response(self.start(c), PUPIL)
        with httpx.Client() as victim:  # login CSRF: a browser that never started this login
            victim.get(f"{self.base}/platform/login")
            r = self.post(victim, genuine)
            self.answer("login CSRF: genuine Response from another browser", r, 400, "unknown-in-response-to")
        with httpx.Client() as c:  # and the genuine login still works (nothing was burnt)
            login(c, self.base, PUPIL.eppn, PUPIL.password)
            self.report("a genuine login afterwards", c.get(f"{self.base}/platform/api/me").status_code, 200)


def trust_document(folder: Path) -> tuple[Path, dict]:
    docs, pairs = [], {}
    for entity, scope in ((IN_SCOPE, "abuse.example"), (OUT_OF_SCOPE, "elsewhere.example")):
        kp = keys.load_or_create(folder, entity.split("/")[2].replace(".", "-"), entity)
        pairs[entity] = kp
        docs.append(saml.idp_metadata(entity, entity + "/sso", kp.cert_b64, scopes=(scope,))
                    .split("\n", 1)[1].strip())
    path = folder / "third-party-idps.xml"
    path.write_text(f'<md:EntitiesDescriptor xmlns:md="{saml.NS["md"]}">' + "".join(docs) + "</md:EntitiesDescriptor>")
    return path, pairs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connections", type=int, default=3000, help="idle/half-sent connections to hold open")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # this client holds the connections too
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, args.connections + 256)), hard))
    with tempfile.TemporaryDirectory(prefix="s16-stack-abuse-") as tmp:
        trust, fake = trust_document(Path(tmp))
        data, port = Path(tmp) / "data", free_port()
        cmd = [sys.executable, "-m", "simulator", "stack", "--data", str(data), "--port", str(port),
               "--trust-metadata", str(trust)]
        print("stack:", " ".join(["examday", *cmd[3:]]))
        proc = popen_supervised(cmd, cwd=str(REPO), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            wait_healthy(f"http://127.0.0.1:{port}", proc=proc)
            token = (data / "scim-token").read_text().strip()
            assert not push_roster(ROSTER, f"http://127.0.0.1:{port}/scim/v2", token).failed
            abuse = Abuse(port, proc.pid, data, fake)
            with httpx.Client() as c:
                login(c, abuse.base, PUPIL.eppn, PUPIL.password)
                cookie = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
            print(f"idle RSS {abuse.idle:.1f} MB")
            abuse.bodies(cookie, token)
            abuse.bad_inputs(cookie, token)
            abuse.pending_growth()
            abuse.forgeries()
            abuse.spoofed_rate(token)
            slow = abuse.slow_bodies()
            abuse.connections(args.connections)
            abuse.slow_bodies_done(slow)
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(15)
    print(f"{'all cases refused as expected' if not abuse.failures else f'{abuse.failures} case(s) FAILED'}; "
          f"RSS limit: idle + 100 MB")
    return 1 if abuse.failures else 0


if __name__ == "__main__":
    sys.exit(main())
