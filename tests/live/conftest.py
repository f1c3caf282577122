"""Helpers for live-engine tests: a tiny scenario with its own profiles, a fake
server on loopback, and ``examday load`` as a subprocess (its own process, like
a user runs it). Every server listens on 127.0.0.1; every wait is bounded."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))

TINY_TEST = """name: tiny-test
description: a two-second sitting for live tests
duration: {duration} s
parts:
  - {{name: questions, size: 20 kB}}
  - {{name: audio, size: 200 kB}}
autosave: {{every: {every} s, size: 1 kB}}
submit: {{size: 2 kB}}
"""

SCENARIO = """name: {name}
seed: 3
domain: live.skola.example
exam:
  test: tiny-test
  start: "09:00"
  end: "09:30"
  arrival: {{median: {median} s, p95: {p95} s}}
  teacher_lead: 1 s
core: {{down: 10 Gbit/s, up: 10 Gbit/s, rtt: 1 ms}}
datacentre: {{down: 10 Gbit/s, up: 10 Gbit/s, rtt: 1 ms}}
services:
  idp: {{profile: idp-broker}}
  platform: {{profile: dnp-platform}}
  content: {{profile: dnp-content}}
  provisioning: {{profile: egil-provisioning}}
  dhcp: {{profile: city-dhcp}}
sites:
  - name: live-school
    school_code: "12000009"
    uplink: {{down: 1 Gbit/s, up: 1 Gbit/s, rtt: 2 ms}}
    classrooms:
      - {{name: 7A, ap: aruba-535, devices: {{chromebook: {pupils}, ipad: {ipads}}}, teacher: {teacher}}}
targets:
{targets}
slo:
  ready_p95: 1 min
  error_rate: 1 %
"""


def write_scenario(tmp_path: Path, targets: dict, *, name: str = "live-tiny", pupils: int = 3, ipads: int = 1,
                   teacher: str = "windows-laptop", duration: float = 2, every: float = 1, median: float = 0.5,
                   p95: float = 1.5) -> Path:
    """A scenario (and a profiles folder with the tiny test) under ``tmp_path``."""
    prof = tmp_path / "profiles"
    if not prof.exists():
        prof.mkdir()
        for sub in ("devices", "aps", "services"):
            shutil.copytree(REPO / "profiles" / sub, prof / sub)
        (prof / "tests").mkdir()
    (prof / "tests" / "tiny-test.yaml").write_text(TINY_TEST.format(duration=duration, every=every))
    lines = []
    for k, v in targets.items():
        if isinstance(v, dict):
            lines.append(f"  {k}: {{{', '.join(f'{a}: {b}' for a, b in v.items())}}}")
        elif isinstance(v, (list, tuple)):
            lines.append(f"  {k}: [{', '.join(v)}]")
        else:
            lines.append(f"  {k}: {v}")
    path = tmp_path / f"{name}.yaml"
    path.write_text(SCENARIO.format(name=name, pupils=pupils, ipads=ipads, teacher=teacher or "null",
                                    median=median, p95=p95, targets="\n".join(lines)))
    return path


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen | None = None, tries: int = 300) -> None:
    for _ in range(tries):
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} never answered")


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


@contextlib.contextmanager
def fake_server(*delays: str, rogue: str = "", modes: str = "", port: int = 0, gateway: bool = False):
    """The fake IdP+platform (``simulator.live.fake``) on a free loopback port; yields its base URL."""
    port = port or free_port()
    args = [sys.executable, "-m", "simulator.live.fake", "--port", str(port)]
    for d in delays:
        args += ["--delay", d]
    if rogue:
        args += ["--rogue", rogue, "--rogue-modes", modes]
    if gateway:
        args.append("--gateway")
    proc = subprocess.Popen(args, env=_env(), cwd=str(REPO))
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/health", proc)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def fake_targets(base: str) -> dict:
    return {"idp": f"{base}/idp", "platform": f"{base}/platform", "scim": f"{base}/scim/v2",
            "ss12000": f"{base}/ss12000"}


def examday(*args: str, bound_s: float = 240) -> subprocess.CompletedProcess:
    """Run ``python -m simulator ARGS`` (bounded, so a hang fails instead of blocking CI)."""
    return subprocess.run([sys.executable, "-m", "simulator", *args], env=_env(), cwd=str(REPO),
                          capture_output=True, text=True, timeout=bound_s)


@pytest.fixture
def fake():
    with fake_server() as base:
        yield base


@contextlib.contextmanager
def off_target_listener(host: str = "127.0.0.2", port: int = 0):
    """A listening socket on an address the run must never contact; yields (sock, port).

    The kernel completes a TCP handshake into the backlog whether or not we
    accept, so ``contacted(sock)`` after the run tells whether anything tried."""
    import socket
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(64)
    try:
        yield sock, sock.getsockname()[1]
    finally:
        sock.close()


def contacted(sock) -> bool:
    import select
    return bool(select.select([sock], [], [], 0.2)[0])
