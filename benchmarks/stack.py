"""Reference stack capacity: complete SAML logins per second per core, with and
without the access-gateway hop, and content throughput.

A login here is the whole Web Browser SSO walk with a fresh cookie jar (so
the password is checked every time): GET /platform/login (AuthnRequest) ->
GET /idp/sso (login page) -> POST /idp/login (argon2id check, RSA-SHA256
signed assertion) -> POST /platform/acs (signature verification, replay and
InResponseTo bookkeeping) -> session cookie. With ``--gateway`` two more
requests and one more sign + verify: /platform/login -> /gateway/sso ->
/idp/sso ... -> /gateway/acs (verify, re-sign) -> /platform/acs.

The cheap figures are the median of several rounds (``--rounds``, each of
``--logins`` logins) with their range, so one noisy round does not make the
figure. They are printed as ratios too (gateway vs direct, each vs the 300
logins/s per core aim), measured in the same command: on a shared machine
only the ratios mean much.

Beside the figure, a calibration line measured in the same command, so a
reader can compare machines: an RSA-2048 PKCS#1 v1.5 SHA-256 signature
(cryptography; every login makes one, two through the gateway) and a fixed
pure-Python loop (10 M integer additions), each the median of several
repetitions, before and after the logins. The headline figure is never
scaled by them: it is the raw logins per CPU second of the stack.

"Per core" is logins divided by the CPU seconds the stack process spent
(psutil), so the load generator's own CPU on the same machine does not count
against the stack. Wall-clock logins/s (one uvicorn worker = at most one core)
is printed too.

Content: a 40 MB part fetched over loopback with http.client ``readinto`` into
a reused buffer (a cheap client), 1 and 4 parallel streams, in Gbit/s.

``--baseline REV`` measures the cheap logins (direct and through the gateway)
of this tree and of git revision REV (``git archive``, run from a temporary
folder) in interleaved rounds under the same machine load, and prints the
medians and their ratio: the before/after figure on a shared machine.

    .venv/bin/python benchmarks/stack.py [--logins 300] [--rounds 7] [--clients 4] [--quick] [--baseline REV]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
import psutil  # noqa: E402

from simulator.roster import Activity, Person, Roster, SchoolUnit, StudentGroup, password_for  # noqa: E402
from simulator.stack.egil_client import push_roster  # noqa: E402
from simulator.stack.process import (REPO, StackUrls, free_port, popen_supervised, running_stack,  # noqa: E402
                                     stop_stack, wait_healthy)
from simulator.stack.walk import login, parse_form  # noqa: E402

PART_MB = 40
AIM = 300.0  # logins/s per core at the cheap hash (issue 12)


def roster(n: int) -> Roster:
    su = SchoolUnit("su-bench", "99999999", "Benchskolan")
    pupils = tuple(Person(f"pb-{i}", f"pb{i:05d}@bench.example", "B", str(i), "student", su.id,
                          password_for(0, f"pb{i}")) for i in range(n))
    group = StudentGroup("g-bench", "9X", su.id, tuple(p.id for p in pupils))
    return Roster((su,), (group,), pupils, (), (Activity("a-bench", "bench", su.id, (group.id,), (), "bench-40mb"),))


def profiles_dir(root: Path) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "bench-40mb.yaml").write_text(
        "name: bench-40mb\nduration: 10 min\nparts:\n"
        f"  - {{name: audio, size: {PART_MB} MB}}\nautosave: {{every: 30 s, size: 4 kB}}\nsubmit: {{size: 20 kB}}\n")
    return root / "tests"


def calibration(signs: int = 200, loops: int = 3, iterations: int = 10_000_000) -> tuple[float, float]:
    """(ms per RSA-2048 PKCS#1 v1.5 SHA-256 signature, s per pure-Python loop of ``iterations`` additions),
    each the median of its repetitions: what this machine's core does for crypto and for interpreted code."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    msg = b"<ds:SignedInfo>" + b"x" * 600
    per_sign = []
    for _ in range(signs):
        t = time.process_time()
        key.sign(msg, padding.PKCS1v15(), hashes.SHA256())
        per_sign.append(time.process_time() - t)
    per_loop = []
    for _ in range(loops):
        t, x = time.process_time(), 0
        for i in range(iterations):
            x += i
        per_loop.append(time.process_time() - t)
    return statistics.median(per_sign) * 1000, statistics.median(per_loop)


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of the stack process and its children."""
    p = psutil.Process(pid)
    times = [x.cpu_times() for x in (p, *p.children(recursive=True))]
    return sum(t.user for t in times), sum(t.system for t in times)


def cpu_of(pid: int) -> float:
    return sum(cpu_split(pid))


class LeanBrowser:
    """A cheap client (http.client, one keep-alive connection, a dict cookie jar), so the load
    generator steals little CPU from the stack on a small machine. Cookies are all sent on every
    request (the stack's cookie paths never collide)."""

    def __init__(self, base: str):
        host, port = base.split("//")[1].split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)
        self.base, self.cookies = base, {}

    def request(self, method: str, url: str, form: dict | None = None) -> tuple[int, dict, str]:
        path = url[len(self.base):] if url.startswith(self.base) else url
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        resp = self.conn.getresponse()
        text = resp.read().decode()
        for k, v in resp.getheaders():
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, text

    def login(self, eppn: str, password: str) -> None:
        """Follow redirects and auto-submitting SAML forms (any gateway on the way) to the platform's 303."""
        status, h, page = self.request("GET", "/platform/login")
        sent = False
        for _ in range(10):
            if status == 302:
                status, h, page = self.request("GET", h["location"])
                continue
            if status == 303:
                self.conn.close()
                return
            form = parse_form(page)
            assert status == 200 and form is not None, (status, page[:200])
            if "SAMLResponse" in form.fields:
                status, h, page = self.request("POST", form.action, form.fields)
            else:
                assert not sent, "credentials refused"
                status, h, page = self.request("POST", form.action,
                                               {**form.fields, "username": eppn, "password": password})
                sent = True
        raise AssertionError("login did not finish in 10 hops")


def bench_logins(urls, r: Roster, n: int, clients: int) -> tuple[float, float, float, float]:
    """(logins per stack CPU second, per wall second, mean client-observed seconds, user share of stack CPU)."""
    pupils = r.persons
    counter, lock = [0], threading.Lock()
    latencies: list[float] = []

    def worker(_: int) -> None:
        while True:
            with lock:
                i = counter[0]
                counter[0] += 1
            if i >= n:
                return
            p = pupils[i % len(pupils)]
            t = time.perf_counter()
            LeanBrowser(urls.base).login(p.eppn, p.password)  # fresh cookies and connection: a full login
            latencies.append(time.perf_counter() - t)

    for p in pupils[:clients]:  # warm up connections, caches, JIT-less code paths
        with httpx.Client() as c:
            login(c, urls.base, p.eppn, p.password)
    (u0, s0), t0 = cpu_split(urls.pid), time.perf_counter()
    with ThreadPoolExecutor(clients) as ex:
        list(ex.map(worker, range(clients)))
    wall, (u1, s1) = time.perf_counter() - t0, cpu_split(urls.pid)
    cpu = (u1 - u0) + (s1 - s0)
    return n / cpu, n / wall, sum(latencies) / len(latencies), (u1 - u0) / cpu


def bench_content(urls, r: Roster, streams: int, rounds: int = 3) -> float:
    p = r.persons[0]
    with httpx.Client() as c:
        login(c, urls.base, p.eppn, p.password)
        cookie = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
    host, port = urls.base.split("//")[1].split(":")

    def fetch(_: int) -> int:
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        buf = memoryview(bytearray(1 << 20))
        total = 0
        for _ in range(rounds):
            conn.request("GET", "/platform/content/bench-40mb/audio", headers={"Cookie": cookie})
            resp = conn.getresponse()
            assert resp.status == 200, resp.status
            while (k := resp.readinto(buf)) > 0:
                total += k
        conn.close()
        return total

    t0 = time.perf_counter()
    with ThreadPoolExecutor(streams) as ex:
        nbytes = sum(ex.map(fetch, range(streams)))
    return nbytes * 8 / (time.perf_counter() - t0) / 1e9


def open_session(urls) -> None:
    """The bench roster has no teacher: open the group's session directly in the store."""
    import sqlite3
    db = sqlite3.connect(Path(urls.data_dir) / "platform.db")
    db.execute("INSERT OR REPLACE INTO sessions VALUES('a-bench','g-bench','open',0,'bench')")
    db.commit()
    db.close()


@contextlib.contextmanager
def stack_of_tree(tree: Path, data: Path, profiles: Path, extra: tuple[str, ...] = ()):
    """``python -m simulator stack`` run from the source tree ``tree`` (this one, or a baseline's)."""
    port = free_port()
    cmd = [sys.executable, "-m", "simulator", "stack", "--data", str(data), "--port", str(port), "--hash-cost",
           "cheap", "--profiles", str(profiles), "--quiet", *extra]
    proc = popen_supervised(cmd, cwd=str(tree), env={**os.environ, "PYTHONPATH": str(tree)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc=proc)
        token = (data / "scim-token").read_text().strip()
        yield StackUrls(base, f"{base}/idp", f"{base}/platform", f"{base}/scim/v2", f"{base}/ss12000", token,
                        str(data), proc.pid)
    finally:
        stop_stack(proc, signal.SIGINT)


def compare(rev: str, n: int, clients: int, tmp: Path, profiles: Path, rounds: int = 9) -> None:
    """Cheap logins per core of this tree vs revision ``rev``: both stacks up at once, ``rounds`` pairs of
    back-to-back measurements (order alternating), the median of the pairs' ratios (a pair shares the
    machine's load of the moment; the load of a shared machine drifts by ±20 % between rounds)."""
    baseline = tmp / "baseline"
    baseline.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "simulator", "profiles"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(baseline)], input=archive, check=True)
    r = roster(200)
    for label, extra in (("direct", ()), ("through the gateway hop", ("--gateway",))):
        with contextlib.ExitStack() as stacks:
            pair = []
            for name, tree in (("before", baseline), ("after", REPO)):
                urls = stacks.enter_context(stack_of_tree(tree, tmp / f"{name}-{label[0]}", profiles, extra))
                assert not push_roster(r, urls.scim_url, urls.scim_token).failed
                bench_logins(urls, r, 20, clients)
                pair.append(urls)
            got: list[tuple[float, float]] = []
            for k in range(rounds):
                first, second = (bench_logins(u, r, n, clients)[0] for u in (pair if k % 2 == 0 else pair[::-1]))
                got.append((first, second) if k % 2 == 0 else (second, first))
        before, after = (statistics.median(x) for x in zip(*got))
        ratios = sorted(a / b for b, a in got)
        print(f"before/after [cheap, {label}]: {rev} {before:6.1f} -> this tree {after:6.1f} logins/s per core; "
              f"ratio {statistics.median(ratios):.2f} (median of {rounds} back-to-back pairs of {n} logins, "
              f"range {ratios[0]:.2f}-{ratios[-1]:.2f})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--logins", type=int, help="logins per round at cheap cost (default 300, --quick 120)")
    ap.add_argument("--rounds", type=int, help="rounds of the cheap figures, median printed (default 7, --quick 5)")
    ap.add_argument("--clients", type=int, default=4, help="concurrent login clients (threads)")
    ap.add_argument("--quick", action="store_true", help="fewer and shorter rounds")
    ap.add_argument("--baseline", metavar="REV", help="also compare cheap logins with this git revision")
    args = ap.parse_args()
    n = args.logins or (120 if args.quick else 300)
    rounds = args.rounds or (5 if args.quick else 7)
    if n < 10 or rounds < 1 or args.clients < 1:
        ap.error("--logins must be >= 10, --rounds and --clients >= 1")
    print(f"cpu: {psutil.cpu_count()} logical cores; stack: 1 uvicorn worker; load average "
          f"{os.getloadavg()[0]:.1f}")
    cal = [calibration()]
    figures: dict[str, float] = {}
    spread: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        profiles = profiles_dir(Path(tmp) / "profiles")
        for name, cost, count, reps, users, extra in (("cheap", "cheap", n, rounds, 200, ()),
                                                      ("cheap+gateway", "cheap", n, rounds, 200, ("--gateway",)),
                                                      ("keycloak", "keycloak", max(40, n // 4), 1, 100, ()),
                                                      ("production", "production", max(20, n // 10), 1, 40, ())):
            r = roster(users)
            with running_stack(Path(tmp) / name, hash_cost=cost, profiles=profiles, extra=extra) as urls:
                t0 = time.perf_counter()
                pushed = push_roster(r, urls.scim_url, urls.scim_token)
                assert not pushed.failed, pushed.failed[:3]
                push_s = time.perf_counter() - t0
                got = [bench_logins(urls, r, count, args.clients) for _ in range(reps)]
                per_cpu = statistics.median(g[0] for g in got)
                per_wall = statistics.median(g[1] for g in got)
                mean = statistics.median(g[2] for g in got)
                user = statistics.median(g[3] for g in got)
                figures[name] = per_cpu
                spread[name] = (min(g[0] for g in got), max(g[0] for g in got))
                span = (f"median of {reps} rounds of {count}, range {spread[name][0]:.1f}-{spread[name][1]:.1f}"
                        if reps > 1 else f"{count} logins")
                print(f"logins [{name:13}] {per_cpu:7.1f} logins/s per core (stack CPU, {user:.0%} user)   "
                      f"{per_wall:7.1f} logins/s wall   mean {mean * 1000:6.1f} ms   ({span}; "
                      f"{args.clients} clients; provisioning {len(r)} objects: {len(r) / push_s:.0f}/s)")
                if name == "cheap":
                    open_session(urls)
                    for streams in (1, 4):
                        gbps = bench_content(urls, r, streams)
                        print(f"content [{PART_MB} MB part] {gbps:6.2f} Gbit/s with {streams} stream(s) over loopback")
        if args.baseline:
            compare(args.baseline, n, args.clients, Path(tmp), profiles)
    cal.append(calibration())
    direct, hop = figures["cheap"], figures["cheap+gateway"]
    (d_lo, d_hi), (h_lo, h_hi) = spread["cheap"], spread["cheap+gateway"]
    print(f"logins/s per core at the cheap hash, direct (platform -> IdP -> platform): {direct:6.1f}  "
          f"(range {d_lo:.1f}-{d_hi:.1f} over {rounds} rounds) = {direct / AIM:.2f} x the {AIM:.0f} aim")
    print(f"logins/s per core at the cheap hash, through the gateway hop "
          f"(platform -> gateway -> IdP -> gateway -> platform): {hop:6.1f}  (range {h_lo:.1f}-{h_hi:.1f}) "
          f"= {hop / direct:.2f} x direct (two more requests, one more sign + verify), {hop / AIM:.2f} x the aim")
    print(f"calibration (same command, before / after the logins): RSA-2048 PKCS#1 v1.5 sign "
          f"{cal[0][0]:.2f} / {cal[1][0]:.2f} ms (cryptography, median of 200); pure-Python loop "
          f"{cal[0][1]:.2f} / {cal[1][1]:.2f} s per 10 M additions (median of 3)")
    print(f"ratio: keycloak / cheap {figures['keycloak'] / direct:.3f}, production / cheap "
          f"{figures['production'] / direct:.4f}   (load average {os.getloadavg()[0]:.1f} on "
          f"{psutil.cpu_count()} cores: absolute figures move with it, ratios much less)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
