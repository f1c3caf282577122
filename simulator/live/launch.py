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
from pathlib import Path

from .config import CONFIG_FILE, RESULT_FILE, LiveConfig

__all__ = ["start_reference_stack", "provision_roster", "run_locust", "read_result", "read_acks", "store_check",
           "REPO"]

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


def run_locust(cfg: LiveConfig, role: str, extra: list[str] | None = None, quiet: bool = False,
               stop_timeout: float | None = None) -> int:
    """Run the Locust process to completion, forwarding SIGINT/SIGTERM as SIGTERM; returns its exit code.

    A second signal, or the process outliving ``grace + 20 s`` after the first, kills it.
    """
    run_dir = Path(cfg.run_dir)
    cfg_path = cfg.write(run_dir / CONFIG_FILE)
    cmd = [sys.executable, "-m", "simulator.live.runner", str(cfg_path), "--role", role, *(extra or [])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    log = open(run_dir / "locust.log", "ab")
    proc = subprocess.Popen(cmd, env=env, stdout=log if quiet else None, stderr=log, start_new_session=True)
    got: list[tuple[int, float]] = []

    def forward(signum, frame):
        got.append((signum, time.monotonic()))
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM if len(got) == 1 else signal.SIGKILL)

    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        limit = stop_timeout if stop_timeout is not None else cfg.grace_s + 20.0
        while True:
            try:
                return proc.wait(0.2)
            except subprocess.TimeoutExpired:
                pass
            if got and time.monotonic() - got[0][1] > limit:
                proc.kill()
                proc.wait()
                return 130
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        log.close()
        if got:
            signals_received.append(got[0][0])


#: signals the CLI process received during ``run_locust`` (the load verb exits 130 when non-empty)
signals_received: list[int] = []


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


def store_check(run_dir: Path, stack_data: Path) -> dict:
    """Acknowledged autosaves vs the platform's SQLite store (read after the run)."""
    import sqlite3

    from ..stack.store import Directory

    acks = read_acks(run_dir)
    directory = Directory(stack_data)
    by_eppn = {}
    for eppn in {e for e, _ in acks}:
        u = directory.user_by_name(eppn)
        if u is not None:
            by_eppn[eppn] = u.id
    db = sqlite3.connect(f"file:{stack_data / 'platform.db'}?mode=ro", uri=True)
    try:
        stored = {(uid, seq) for uid, seq in db.execute("SELECT user_id, seq FROM answers")}
    finally:
        db.close()
    present = [(e, s) for e, s in acks if (by_eppn.get(e), s) in stored]
    missing = sorted(acks - set(present))
    return {"autosaves_acknowledged": len(acks), "autosaves_stored": len(present),
            "missing": [f"{e}#{s}" for e, s in missing[:20]]}
