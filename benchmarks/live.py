"""Live-engine generator cost: CPU per complete pupil login (platform redirect ->
IdP login page -> credentials -> SAMLResponse form -> ACS -> session) and per plain
HTTP request, next to raw Locust ``FastHttpUser`` requests against the same local
server (``simulator.live.fake``, a separate process) in the same run; and memory
per active pupil device (logged in, test downloaded, sitting).

Run: ``.venv/bin/python benchmarks/live.py [--logins 400] [--devices 400]``.
Aim: SAML user <= 1.5x the raw requests it consists of (every URL egress-checked
and connected to its pinned address, http.cookiejar, the bounded sign-in chain
included); < 0.5 MB per device. The ratio is what counts on a loaded machine.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import gc  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import psutil  # noqa: E402
from gevent.pool import Pool  # noqa: E402
from locust import FastHttpUser  # noqa: E402
from locust.env import Environment  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from simulator.live.context import Clock, RunContext  # noqa: E402
from simulator.live.http import RateLimiter  # noqa: E402
from simulator.live.safety import EgressPolicy  # noqa: E402
from simulator.live.users import Walk, _download  # noqa: E402

CONCURRENCY = 20


class _Dev:
    def __init__(self, i):
        self.id, self.kind, self.site, self.ap = f"bench/room/dev-{i}", "chromebook", "bench", "bench/room"
        self.eppn, self.password = f"p-{i}@bench.example", "pw"

        class R:
            name = "room"
        self.room = R()


def _cpu() -> float:
    return time.process_time()


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(n: int, fn) -> float:
    """CPU seconds of this process per call of fn(i), CONCURRENCY greenlets at a time."""
    pool = Pool(CONCURRENCY)
    gc.collect()
    t = _cpu()
    for i in range(n):
        pool.spawn(fn, i)
    pool.join(raise_error=True)
    return (_cpu() - t) / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--logins", type=int, default=400)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--devices", type=int, default=400)
    a = ap.parse_args()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "simulator.live.fake", "--port", str(port)], cwd=str(REPO))
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/health", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        env = Environment(user_classes=[])
        env.create_local_runner()
        tmp = Path(tempfile.mkdtemp(prefix="examday-bench-"))
        targets = {"idp": base + "/idp", "platform": base + "/platform", "scim": base + "/scim/v2",
                   "ss12000": base + "/ss12000",
                   "login_form": {"form": "login", "username": "username", "password": "password"}}
        ctx = RunContext(run="bench", run_dir=tmp, worker="w0", clock=Clock(time.time()), targets=targets,
                         scenario="bench", limiter=RateLimiter(None), egress=EgressPolicy.pin(targets),
                         locust_env=env, rng=random.Random(1))
        ctx.open()

        def saml_login(i):
            w = Walk(ctx, _Dev(i), "chromebook")
            form, *_ = w.login()
            w.assertion(form)
            w.close()

        class Raw(FastHttpUser):
            host = base
            abstract = False

        def raw_login(i):
            u = Raw(env)
            c = u.client
            c.get("/platform/login?idp=x")  # 302 -> /idp/sso (2 requests)
            c.post("/idp/login", data={"username": "u", "password": "p", "ctx": "c" * 200})
            c.post("/platform/acs", data={"SAMLResponse": "PHg+" * 2000, "RelayState": "/platform/api/me"})  # 303 -> me

        saml_login(0), raw_login(0)  # warm up
        cpu_saml = measure(a.logins, saml_login)
        cpu_raw = measure(a.logins, raw_login)
        w = Walk(ctx, _Dev(0), "chromebook")
        raw_user = Raw(env)
        cpu_plain = measure(a.requests, lambda i: w.browser.request("GET", base + "/plain", name="plain"))
        cpu_plain_raw = measure(a.requests, lambda i: raw_user.client.get("/plain"))
        w.close()

        # memory per active pupil device: logged in, test downloaded, sitting (connections open, cookies held)
        gc.collect()
        rss0 = psutil.Process().memory_info().rss
        walks, ready = [], [0]
        hold = gevent.event.Event()

        def sit(i):
            wk = Walk(ctx, _Dev(i), "chromebook")
            walks.append(wk)
            form, *_ = wk.login()
            wk.assertion(form)
            _download(wk)
            ready[0] += 1
            hold.wait()

        gs = [gevent.spawn(sit, i) for i in range(a.devices)]
        for _ in range(6000):
            if ready[0] >= a.devices:
                break
            gevent.sleep(0.05)
        gc.collect()
        rss1 = psutil.Process().memory_info().rss
        hold.set()
        gevent.joinall(gs)
        ctx.close()
        per_dev = (rss1 - rss0) / max(1, ready[0])
        print("examday live generator benchmark (loopback, fake IdP+platform in its own process)")
        print(f"  pupil login, SAML user (5 requests + HTML/form parsing): {cpu_saml * 1e3:7.3f} ms CPU")
        print(f"  the same 5 requests, raw Locust FastHttpUser:             {cpu_raw * 1e3:7.3f} ms CPU "
              f"-> ratio {cpu_saml / cpu_raw:.2f}x (aim <= 1.5x)")
        print(f"  plain GET, examday Browser:                              {cpu_plain * 1e6:7.0f} us CPU")
        print(f"  plain GET, raw FastHttpUser:                             {cpu_plain_raw * 1e6:7.0f} us CPU "
              f"-> ratio {cpu_plain / cpu_plain_raw:.2f}x")
        print(f"  memory per active pupil device ({ready[0]} sitting):        {per_dev / 1e6:7.3f} MB (aim < 0.5 MB)")
        print(f"  => logins/s per generator core ~{1 / cpu_saml:.0f}; plain requests/s per core ~{1 / cpu_plain:.0f}")
        if not (math.isfinite(cpu_saml) and ready[0] == a.devices):
            sys.exit(1)
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
