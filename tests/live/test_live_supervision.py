"""No orphans: SIGKILL of `examday load` (local and --workers 2) and of `examday stack --workers 2`'s
supervisor leaves no process of the run and no listening port within 5 s; the web UI (--ui) answers
during local and distributed runs; a stack that dies mid-run fails the run; SIGINT while the stack
starts ends in an honest, reported `interrupted`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request

import psutil

from simulator.results import read_manifest
from conftest import REPO, _env, fake_server, fake_targets, free_port, wait_http, write_scenario

KILL_BOUND_S = 5.0  # the bound: nothing of the run remains after this long


def _tree(pid: int) -> list[psutil.Process]:
    return [psutil.Process(pid)] + psutil.Process(pid).children(recursive=True)


def _alive(procs) -> list[psutil.Process]:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def _listening(port: int) -> bool:
    return any(c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN
               for c in psutil.net_connections("tcp"))


def _gone_within_bound(procs, ports) -> tuple[list, list]:
    deadline = time.monotonic() + KILL_BOUND_S
    while True:
        left, held = _alive(procs), [p for p in ports if _listening(p)]
        if (not left and not held) or time.monotonic() > deadline:
            return [p.cmdline() for p in left], held
        time.sleep(0.1)


def _load(tmp_path, base, *extra, pupils=4):
    scen = write_scenario(tmp_path, fake_targets(base), teacher=None, pupils=pupils, ipads=0, duration=60, every=1)
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "simulator", "load", str(scen), "-o", str(out),
                             "--no-provision-load", "-q", *extra], env=_env(), cwd=str(REPO),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return proc, out


def _ui_answers(port: int, proc) -> dict:
    """The UI page and its stats endpoint, once the run's users have sent requests."""
    wait_http(f"http://127.0.0.1:{port}/", proc)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
        assert r.status == 200 and b"locust" in r.read().lower()
    for _ in range(300):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats/requests", timeout=5) as r:
            stats = json.loads(r.read())
        if any(s["name"] == "autosave" and s["num_requests"] for s in stats["stats"]):
            return stats
        time.sleep(0.1)
    raise AssertionError(f"no autosave in the UI's stats: {stats['stats']}")


def _sigkill_load(tmp_path, *extra):
    ui = free_port()
    with fake_server() as base:
        proc, out = _load(tmp_path, base, "--ui", "--ui-port", str(ui), *extra)
        try:
            stats = _ui_answers(ui, proc)
            tree = _tree(proc.pid)
            cmdlines = [p.cmdline() for p in tree]
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            left, held = _gone_within_bound(tree, [ui] + [int(a) for a in extra[1::2] if a.isdigit()])
        finally:
            for p in _alive(_tree(proc.pid) if proc.poll() is None else []):
                p.kill()
    return cmdlines, left, held, stats, out


def test_sigkill_of_a_local_load_leaves_nothing_and_its_ui_answered(tmp_path):
    tree, left, held, stats, out = _sigkill_load(tmp_path)
    assert len(tree) >= 2  # the CLI and its Locust process
    assert not left and not held, (left, held)
    assert stats["state"] in ("running", "spawning", "ready", "stopped")
    assert read_manifest(out)["status"] == "interrupted"  # the orphaned runner says so before it exits


def test_sigkill_of_a_distributed_load_leaves_nothing_and_its_ui_answered(tmp_path):
    mport = free_port()
    tree, left, held, stats, out = _sigkill_load(tmp_path, "--workers", "2", "--master-port", str(mport))
    assert sum("worker" in c for c in tree) == 2
    assert not left and not held, (left, held)
    assert stats["user_count"] >= 0


def test_sigkill_of_the_stack_supervisor_frees_workers_and_port_and_the_data_folder_restarts(tmp_path):
    port = free_port()
    cmd = [sys.executable, "-m", "simulator", "stack", "--data", str(tmp_path / "data"), "--port", str(port),
           "--workers", "2", "-q"]
    sup = subprocess.Popen(cmd, env=_env(), cwd=str(REPO), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", sup)
        tree = _tree(sup.pid)
        assert len(tree) >= 3  # supervisor and two uvicorn workers
        sup.send_signal(signal.SIGKILL)
        sup.wait(10)
        left, held = _gone_within_bound(tree, [port])
        assert not left and not held, (left, held)
        again = subprocess.Popen(cmd, env=_env(), cwd=str(REPO), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        try:
            wait_http(f"http://127.0.0.1:{port}/health", again)
        finally:
            again.send_signal(signal.SIGINT)
            again.wait(30)
    finally:
        for p in _alive(_tree(sup.pid) if sup.poll() is None else []):
            p.kill()


def _stack_load(tmp_path):
    scen = write_scenario(tmp_path, {"idp": "http://127.0.0.1:8400/idp"}, teacher=None, pupils=3, ipads=0,
                          duration=60, every=1)
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "simulator", "load", str(scen), "--stack", "-o", str(out),
                             "--no-provision-load"], env=_env(), cwd=str(REPO), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    return proc, out


def test_a_stack_that_dies_mid_run_fails_the_run_quickly(tmp_path):
    proc, out = _stack_load(tmp_path)
    try:
        for line in proc.stderr:
            if line.startswith("running "):
                break
        stack = next(p for p in psutil.Process(proc.pid).children() if "stack" in p.cmdline())
        time.sleep(3)  # mid-run: devices are signed in and autosaving
        stack.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        _, err = proc.communicate(timeout=120)
        took = time.monotonic() - killed
    finally:
        if proc.poll() is None:
            proc.kill()
    m = read_manifest(out)
    assert proc.returncode == 2, err
    assert m["status"] == "failed" and "reference stack exited" in m["reason"]
    assert took < 30  # the 60 s sitting did not go on against a dead stack
    assert (out / "summary.json").exists()


def test_sigint_while_the_stack_starts_is_an_honest_interrupted_run(tmp_path):
    proc, out = _stack_load(tmp_path)
    try:
        for line in proc.stderr:
            if line.startswith("starting the reference stack"):
                break
        tree = _tree(proc.pid)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    m = read_manifest(out)
    assert m["status"] == "interrupted" and "stack start" in m["reason"] and m["devices_planned"] == 3
    assert (out / "summary.json").exists()
    assert not _alive(tree[1:])
