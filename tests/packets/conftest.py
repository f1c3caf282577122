"""Helpers for packet tests: a copy of ci-smoke with short DHCP timers (its own profiles folder),
``examday`` as a subprocess, and a clear statement when root is missing.

The storm tests create network namespaces and start dnsmasq: they need root
(CAP_NET_ADMIN), which CI has. Without it they are skipped with that reason
printed, which does not count as passing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
NEEDS_ROOT = "needs root (CAP_NET_ADMIN) for network namespaces, veth and dnsmasq: run as root (CI does)"


@pytest.fixture
def need_root():
    if os.geteuid() != 0 or shutil.which("dnsmasq") is None or shutil.which("ip") is None:
        pytest.skip(NEEDS_ROOT + " — NOT RUN")


def short_scenario(tmp: Path, *, initial=(0.05, 0.3), retransmit=4.0, extra: dict | None = None,
                   devices: dict | None = None) -> Path:
    """ci-smoke with a compressed arrival and short DHCP initial waits, in ``tmp`` with its own profiles."""
    prof = tmp / "profiles"
    shutil.copytree(REPO / "profiles", prof)
    for f in (prof / "devices").glob("*.yaml"):
        d = yaml.safe_load(f.read_text())
        d["dhcp"] = {"initial_wait_min": f"{initial[0]} s", "initial_wait_max": f"{initial[1]} s",
                     "retransmit": f"{retransmit} s", "max_retransmit": "64 s"}
        f.write_text(yaml.safe_dump(d))
    sc = yaml.safe_load((REPO / "scenarios" / "ci-smoke.yaml").read_text())
    sc["profiles"] = "profiles"
    sc["exam"]["arrival"] = {"median": "0.5 s", "p95": "1 s"}
    sc["exam"]["teacher_lead"] = "0.5 s"
    if devices is not None:
        for room in sc["sites"][0]["classrooms"]:
            room["devices"] = dict(devices)
    for k, v in (extra or {}).items():
        sc["sites"][0][k] = v
    path = tmp / "scenario.yaml"
    path.write_text(yaml.safe_dump(sc))
    return path


def examday(*args, check=None, timeout=300, **kw) -> subprocess.CompletedProcess:
    """``examday ARGS`` as its own process, like a user runs it."""
    r = subprocess.run([sys.executable, "-m", "simulator", *map(str, args)], capture_output=True, text=True,
                       cwd=REPO, timeout=timeout, **kw)
    if check is not None:
        assert r.returncode == check, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def examday_here(*args, check=None) -> int:
    """``examday ARGS`` in this process (no interpreter start-up: for the verbs that start no servers)."""
    from simulator.cli import main

    code = main([str(a) for a in args])
    if check is not None:
        assert code == check, f"exit {code}"
    return code


def leases(run_dir: Path) -> dict[str, str]:
    """dnsmasq's own lease file: MAC -> IP (the server's record, independent of the storm's)."""
    out = {}
    for line in (run_dir / "server" / "dnsmasq.leases").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3:
            out[parts[1]] = parts[2]
    return out


def our_namespaces(pid: int) -> list[str]:
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    return [l.split()[0] for l in r.stdout.splitlines() if re.match(rf"ed13-{pid}-", l)]
