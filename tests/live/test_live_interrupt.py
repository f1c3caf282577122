"""SIGTERM stops the run, keeps a readable partial trace and exits 130; a SIGKILLed
worker's completed rows survive in its shard."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import psutil

from simulator.results import read_manifest
from simulator.trace import read_steps
from conftest import REPO, _env, fake_server, fake_targets, write_scenario


def _start(tmp_path, base, *extra):
    scen = write_scenario(tmp_path, fake_targets(base), teacher=None, pupils=4, ipads=0, duration=60, every=0.5)
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "simulator", "load", str(scen), "-o", str(out),
                             "--no-provision-load", "-q", *extra], env=_env(), cwd=str(REPO),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, out


def _wait_rows(out, step: str, n: int, tries: int = 600) -> None:
    for _ in range(tries):
        if list(out.glob("steps-*.csv.gz")):
            t = read_steps(out)
            if (t.step == step).sum() >= n:
                return
        time.sleep(0.1)
    raise AssertionError(f"fewer than {n} {step} rows appeared")


def test_sigterm_leaves_a_readable_partial_trace_and_exits_130(tmp_path):
    with fake_server() as base:
        proc, out = _start(tmp_path, base)
        _wait_rows(out, "autosave", 8)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    t = read_steps(out)
    assert (t.step == "download").sum() == 4 and (t.step == "autosave").sum() >= 8
    assert (t.step == "submit").sum() == 0  # stopped long before the end of the sitting
    m = read_manifest(out)
    assert m["status"] == "interrupted"
    assert (out / "summary.json").exists()


def test_killed_worker_keeps_its_completed_rows(tmp_path):
    with fake_server() as base:
        proc, out = _start(tmp_path, base, "--workers", "2", "--master-port", "0", "--max-duration", "20 s")
        _wait_rows(out, "autosave", 12)
        workers = [p for p in psutil.Process(proc.pid).children(recursive=True)
                   if "--role" in p.cmdline() and "worker" in p.cmdline()]
        assert len(workers) == 2
        before = read_steps(out)
        workers[0].send_signal(signal.SIGKILL)
        proc.communicate(timeout=180)
    assert proc.returncode != 0  # a lost worker is a failed run, not a pass
    after = read_steps(out)
    shards = sorted(out.glob("steps-w*.csv.gz"))
    assert len(shards) == 2
    done_before = set(zip(before.device.tolist(), before.step.tolist(), before.start_s.tolist()))
    done_after = set(zip(after.device.tolist(), after.step.tolist(), after.start_s.tolist()))
    # every row that was readable before the kill is still there (a flushed row is never lost)
    assert done_before <= done_after
    m = read_manifest(out)
    assert m["status"] == "failed" and "lost" in m["reason"]  # not finished, not interrupted
