"""Generator CPU overhead of ``--mqtt``: the same live run with and without publishing, in one command.

Runs ``examday load`` against the reference stack twice per size — ci-smoke
(62 devices) and ci-smoke scaled to 1,000 pupils (500 per classroom) — once
without and once with ``--mqtt`` to a Mosquitto started here on a free
loopback port. The generator's CPU is the Locust process's own (the sum of
its one-second ``generator:w*`` CPU samples in the trace); the publisher's CPU
(a separate process) is printed beside it. Goal: with/without < 1.05.

It also times the tap alone (the only code ``--mqtt`` adds to the Locust
process): the same rows through ``TraceWriter`` and ``TappedWriter``; cost
per row x the run's rows / the generator's CPU is the overhead without the
run-to-run noise of whole live runs.

Run: ``.venv/bin/python benchmarks/telemetry.py [--sizes smoke,1000] [--repeat 1]``.
The figures are noisy on a shared machine: compare the ratio, not the seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "telemetry"))

import numpy as np  # noqa: E402
from mqtt_broker import Mosquitto  # noqa: E402
from simulator.trace import read_resources  # noqa: E402

SCENARIO = str(REPO / "scenarios" / "ci-smoke.yaml")
SIZES = {"smoke": [], "1000": ["--set", "sites[0].classrooms[0].devices.chromebook=500",
                               "--set", "sites[0].classrooms[1].devices.chromebook=500",
                               "--set", "sites[0].classrooms[0].devices.ipad=0",
                               "--set", "sites[0].classrooms[1].devices.ipad=0"]}


def one(out: Path, extra: list[str], url: str | None) -> dict:
    cmd = [sys.executable, "-m", "simulator", "load", SCENARIO, "--stack", "-o", str(out), "-q", *extra]
    if url:
        cmd += ["--mqtt", url]
    r = subprocess.run(cmd, cwd=str(REPO), env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                       text=True, timeout=1800)
    res = read_resources(out)
    gen = res.kind == "generator"
    cpu = float(res.utilisation[gen].sum())  # one-second samples of the Locust process's CPU share
    m = json.loads((out / "manifest.json").read_text())
    tel = m.get("telemetry") or {}
    return {"code": r.returncode, "gen_cpu_s": cpu, "pub_cpu_s": (tel.get("publisher") or {}).get("cpu_s"),
            "rows": (m.get("live") or {}).get("rows"), "devices": (m.get("live") or {}).get("devices"),
            "dropped": (tel.get("tap_rows_dropped"), tel.get("messages_dropped"))}


def tap_cost_per_row(n: int = 20_000) -> float:
    """CPU seconds the tap adds per trace row: the same rows through ``TraceWriter`` and ``TappedWriter``
    (a separate process drains the socket, as the publisher does)."""
    import time

    from simulator.telemetry.tap import Tap, TappedWriter
    from simulator.trace import TraceWriter

    row = ("run", "live", "ci-school/9A/chromebook-1", "chromebook", "ci-school", "9A", "ci-school/9A", "login",
           1.0, 1.01, 1.2, 8074, True, "", float("nan"), 1, float("nan"))
    with tempfile.TemporaryDirectory(prefix="examday-bench-tap-") as tmp:
        sock = os.path.join(tmp, "s")
        drain = subprocess.Popen([sys.executable, "-c", "import socket,sys\n"
                                  "s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM);s.bind(sys.argv[1])\n"
                                  "open(sys.argv[1]+'.ok','w').close()\nwhile True: s.recv(1<<17)", sock])
        while not os.path.exists(sock + ".ok"):
            time.sleep(0.02)
        try:
            costs = []
            for tapped in (False, True, False, True):
                w = TraceWriter(Path(tmp) / str(len(costs)), shard="w0", flush_every=20)
                if tapped:
                    w = TappedWriter(w, Tap(sock, "w0"))
                t0 = time.process_time()
                for _ in range(n):
                    w.step_values(row)
                w.close()
                costs.append((tapped, time.process_time() - t0))
        finally:
            drain.kill()
            drain.wait()
    plain = sum(c for t, c in costs if not t) / 2
    tap = sum(c for t, c in costs if t) / 2
    return max(0.0, (tap - plain) / n)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="smoke,1000")
    p.add_argument("--repeat", type=int, default=1)
    a = p.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} "
          "(shared: figures are noisy, read the ratios)")
    per_row = tap_cost_per_row()
    print(f"tap: {per_row * 1e6:.1f} us of generator CPU per trace row (TappedWriter vs TraceWriter, same rows)")
    with tempfile.TemporaryDirectory(prefix="examday-bench-telemetry-") as tmp, Mosquitto(Path(tmp) / "broker") as b:
        for size in a.sizes.split(","):
            base, pub = [], []
            for i in range(a.repeat):
                for url in ((None, b.url) if i % 2 == 0 else (b.url, None)):  # alternate order: drift hits both
                    r = one(Path(tmp) / f"{size}-{i}-{'mqtt' if url else 'plain'}", SIZES[size], url)
                    (pub if url else base).append(r)
                    print(f"        {'with' if url else 'without'} --mqtt: generator {r['gen_cpu_s']:.2f} s", flush=True)
                    if r["code"] not in (0, 1):
                        print(f"  run failed ({r['code']}): {r}")
            g0 = float(np.median([r["gen_cpu_s"] for r in base]))
            g1 = float(np.median([r["gen_cpu_s"] for r in pub]))
            pc = sum(r["pub_cpu_s"] or 0 for r in pub) / len(pub)
            print(f"{size:>6}: {base[0]['devices']} devices, {base[0]['rows']} rows, {a.repeat} pair(s) | generator CPU "
                  f"(median) without --mqtt {g0:.2f} s, with {g1:.2f} s -> ratio {g1 / g0:.3f} (goal < 1.05) | "
                  f"publisher process {pc:.2f} s ({pc / g0:.1%} of the generator, on its own core share) | "
                  f"drops (tap rows, messages) {pub[0]['dropped']}")
            print(f"        tap cost x rows = {per_row * base[0]['rows']:.3f} s = "
                  f"{per_row * base[0]['rows'] / g0:.2%} of the generator's CPU (the precise figure; the "
                  "end-to-end ratio above is within run-to-run noise)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
