"""Run the reference stack as a subprocess (``python -m simulator stack``) for
tests, benchmarks and the live engine: ``with running_stack(dir) as s: ...``;
and the supervision every examday process tree relies on.

No orphans: a supervised child gets its own process group (so a terminal's
Ctrl-C reaches only the CLI, which stops children in order) and a
parent-death signal (Linux ``prctl(PR_SET_PDEATHSIG)``, prctl(2)): when its
parent dies — even by SIGKILL — the kernel signals it. The check of
``getppid()`` right after closes the race of a parent that died before the
``prctl``. uvicorn's worker processes of ``examday stack --workers N`` call
``die_with_parent`` when they start, so killing the supervisor frees the port.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

__all__ = ["StackUrls", "running_stack", "start_stack", "stop_stack", "free_port", "wait_healthy",
           "die_with_parent", "popen_supervised"]

REPO = Path(__file__).resolve().parents[2]
PR_SET_PDEATHSIG = 1  # linux/prctl.h
try:
    _LIBC = ctypes.CDLL(None, use_errno=True)  # loaded now: after fork only the prctl call runs
except OSError:
    _LIBC = None


def die_with_parent(sig: int = signal.SIGKILL, parent: int | None = None) -> None:
    """Have the kernel send ``sig`` to this process when its parent dies; exit now if it already has."""
    if parent is None:
        mp_parent = multiprocessing.parent_process()
        parent = mp_parent.pid if mp_parent is not None else os.getppid()
    try:
        _LIBC.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except AttributeError:  # not Linux: the parent's own cleanup is all there is
        return
    if os.getppid() != parent:
        os._exit(1)


def popen_supervised(cmd: list[str], pdeathsig: int = signal.SIGKILL, **kw) -> subprocess.Popen:
    """``Popen`` of a child in its own process group that dies with this process (``pdeathsig``).

    Call it from the main thread: the parent-death signal follows the thread that forked.
    """
    me = os.getpid()
    return subprocess.Popen(cmd, start_new_session=True, preexec_fn=lambda: die_with_parent(pdeathsig, me), **kw)


@dataclass(frozen=True, slots=True)
class StackUrls:
    base: str
    idp_url: str  # .../idp  (SSO: /idp/sso, metadata: /idp/metadata)
    platform_url: str  # .../platform  (login: /platform/login)
    scim_url: str  # .../scim/v2
    ss12000_url: str  # .../ss12000
    scim_token: str
    data_dir: str
    pid: int

    @property
    def login_url(self) -> str:
        return f"{self.platform_url}/login"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_healthy(base: str, timeout_s: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"stack exited with {proc.returncode} before becoming healthy")
        try:
            with urllib.request.urlopen(base + "/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"stack at {base} not healthy after {timeout_s} s")


def start_stack(data_dir: str | Path, port: int = 0, *, host: str = "127.0.0.1", workers: int = 1,
                hash_cost: str = "cheap", trust_metadata: tuple[str, ...] = (), mfa_delay: str = "1 s",
                profiles: str | Path | None = None, max_inflight: int = 256, quiet: bool = True,
                log_path: str | Path | None = None, extra: tuple[str, ...] = ()) -> tuple[subprocess.Popen, StackUrls]:
    """Start ``python -m simulator stack`` and wait until ``/health`` answers."""
    port = port or free_port(host)
    cmd = [sys.executable, "-m", "simulator", "stack", "--data", str(data_dir), "--host", host, "--port", str(port),
           "--workers", str(workers), "--hash-cost", hash_cost, "--mfa-delay", mfa_delay,
           "--max-inflight", str(max_inflight), "--profiles", str(profiles or REPO / "profiles" / "tests"), *extra]
    for t in trust_metadata:
        cmd += ["--trust-metadata", str(t)]
    if quiet:
        cmd.append("--quiet")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    proc = popen_supervised(cmd, signal.SIGKILL, cwd=str(REPO), env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://{host}:{port}"
    try:
        wait_healthy(base, proc=proc)
    except BaseException:
        stop_stack(proc)
        raise
    token = (Path(data_dir) / "scim-token").read_text().strip()
    return proc, StackUrls(base=base, idp_url=f"{base}/idp", platform_url=f"{base}/platform",
                           scim_url=f"{base}/scim/v2", ss12000_url=f"{base}/ss12000", scim_token=token,
                           data_dir=str(Path(data_dir).resolve()), pid=proc.pid)


def stop_stack(proc: subprocess.Popen, sig: int = signal.SIGINT, timeout_s: float = 15.0) -> int:
    """Stop the stack's process group (SIGINT = Ctrl-C, clean); SIGKILL if it lingers."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode


@contextlib.contextmanager
def running_stack(data_dir: str | Path, port: int = 0, **opts) -> Iterator[StackUrls]:
    proc, urls = start_stack(data_dir, port, **opts)
    try:
        yield urls
    finally:
        stop_stack(proc)
