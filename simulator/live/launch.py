"""The CLI side of a live run (no gevent, no Locust in this process).

It starts the reference stack when asked (its own subprocess), provisions the
roster through the stack's EGIL client, starts the Locust process
(``python -m simulator.live.runner``), forwards Ctrl-C/SIGTERM to it, and after
the run checks that every acknowledged autosave is in the platform's store.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .config import CONFIG_FILE, RESULT_FILE, LiveConfig

__all__ = ["start_reference_stack", "provision_roster", "run_locust", "read_result", "read_acks", "store_check",
           "Signals", "Interrupted", "LocustExit", "REPO"]

REPO = Path(__file__).resolve().parents[2]


def start_reference_stack(plan, run_dir: Path, mfa_delay: str = "1 s"):
    """Start the reference stack for this run (data under ``run_dir/stack``); returns (proc, StackUrls)."""
    from ..stack.process import start_stack

    tests = Path(plan.loaded.profiles.root) / "tests"
    return start_stack(run_dir / "stack", profiles=tests if tests.is_dir() else None, mfa_delay=mfa_delay,
                       log_path=run_dir / "stack.log", quiet=True)


def provision_roster(plan, scim_url: str, token: str):
    """Push the plan's roster (EGIL/SCIM); returns the stack client's PushResult."""
    from ..stack.egil_client import push_roster

    return push_roster(plan.roster(), scim_url, token)


class Interrupted(Exception):
    """SIGINT/SIGTERM arrived while the CLI itself was working (stack start, provisioning)."""


class Signals:
    """SIGINT/SIGTERM for a whole live run, in the CLI process.

    Outside the run phase the first signal raises ``Interrupted`` where the CLI
    is (so the stack start or provisioning unwinds through its ``finally``);
    while a Locust process runs (``forward_to``) it is sent SIGTERM (stop,
    ``--grace``, partial result), a further signal SIGKILL.
    """

    def __init__(self):
        self.received: list[int] = []
        self.armed = True  # False once the run's phases are over: later signals are only recorded
        self.forward_to: subprocess.Popen | None = None
        self._forwarded = 0
        self._old: dict = {}

    def __enter__(self) -> "Signals":
        self._old = {s: signal.signal(s, self._on) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)

    def _on(self, signum, frame) -> None:
        self.received.append(signum)
        proc = self.forward_to
        if proc is not None and proc.poll() is None:
            self._forwarded += 1
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM if self._forwarded == 1 else signal.SIGKILL)
        elif len(self.received) == 1 and self.armed:
            raise Interrupted(signal.Signals(signum).name)


@dataclass(frozen=True)
class LocustExit:
    code: int
    lost: str = ""  # what died mid-run and stopped it ('' when nothing did)


def run_locust(cfg: LiveConfig, role: str, signals: Signals, *, extra: list[str] | None = None,
               watch: tuple = (), progress: Callable[[], None] | None = None,
               stop_timeout: float | None = None) -> LocustExit:
    """Run the Locust process to completion (it dies with this one: SIGTERM on our death).

    ``watch``: (process, name) pairs that must outlive the run (the reference
    stack): if one exits, the Locust process is stopped at once and the exit
    names it. The Locust process is killed when it outlives ``grace + 20 s``
    after a stop. ``progress`` is called about once a second.
    """
    from ..stack.process import popen_supervised

    run_dir = Path(cfg.run_dir)
    cfg_path = cfg.write(run_dir / CONFIG_FILE)
    cmd = [sys.executable, "-m", "simulator.live.runner", str(cfg_path), "--role", role, *(extra or [])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    with open(run_dir / "locust.log", "ab") as log:
        proc = popen_supervised(cmd, signal.SIGTERM, env=env, stdout=log, stderr=log)
    signals.forward_to = proc
    limit = stop_timeout if stop_timeout is not None else cfg.grace_s + 20.0
    stopped_at, lost, last = None, "", 0.0
    try:
        while True:
            try:
                code = proc.wait(0.2)
                return LocustExit(130 if signals.received and code == 0 else code, lost)
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if progress is not None and now - last >= 1.0:
                last = now
                progress()
            if not lost:
                dead = next((name for p, name in watch if p.poll() is not None), "")
                if dead:
                    lost = f"{dead} exited (code {next(p.returncode for p, n in watch if n == dead)}) during the run"
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(proc.pid, signal.SIGTERM)
            if stopped_at is None and (signals.received or lost):
                stopped_at = now
            if stopped_at is not None and now - stopped_at > limit:
                proc.kill()
                proc.wait()
                return LocustExit(130, lost)
    finally:
        signals.forward_to = None
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def read_result(run_dir: Path) -> dict | None:
    try:
        return json.loads((Path(run_dir) / RESULT_FILE).read_text())
    except (OSError, ValueError):
        return None


def read_acks(run_dir: Path) -> set[tuple[str, int]]:
    """Every (eppn, seq) the platform acknowledged, from all workers' ledgers (tolerates a cut last line)."""
    acks = set()
    for path in glob.glob(str(Path(run_dir) / "acks-*.csv")):
        with open(path, newline="") as f:
            for row in csv.reader(f):
                if len(row) == 2 and row[1].isdigit():
                    acks.add((row[0], int(row[1])))
    return acks


def store_check(run_dir: Path, platform_url: str, token: str) -> dict:
    """Acknowledged autosaves vs what the platform stored (``GET {platform}/api/stored-answers``)."""
    import urllib.request

    acks = read_acks(run_dir)
    req = urllib.request.Request(platform_url.rstrip("/") + "/api/stored-answers",
                                 headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        stored = {(e, int(s)) for e, s in json.loads(resp.read())["answers"]}
    missing = sorted(acks - stored)
    return {"autosaves_acknowledged": len(acks), "autosaves_stored": len(acks) - len(missing),
            "missing": [f"{e}#{s}" for e, s in missing[:20]]}
