"""The Locust process(es) of a live run: ``python -m simulator.live.runner``.

Roles:

- ``local`` — one process, a Locust ``LocalRunner``: every device of the plan.
- ``master`` — a Locust ``MasterRunner``; with ``local_workers`` it starts
  ``workers`` worker processes itself, else it waits for remote ones
  (``examday load … --worker --master-host H``). When all have connected it
  numbers them (sorted client ids) and sends each ``examday-go`` with its
  index, the worker count, t0 and the run settings. It runs no users; it
  collects ``examday-done`` reports, Locust stats (web UI with ``--ui``) and
  detects lost workers.
- ``worker`` — a Locust ``WorkerRunner`` with its own ``live-config.json``
  (targets, pinned addresses, plan digest: from its parent, or for ``examday
  load --worker`` from its own scenario). On ``examday-go`` it refuses a master
  whose digest or targets differ; else it takes ``devices[index::count]`` and
  runs them, writing ``steps-w<index>.csv.gz``.

Every process dies with its parent (``PR_SET_PDEATHSIG``, see
``simulator.stack.process``): an orphaned local/master process stops at once
and marks the manifest ``interrupted``; a master whose local worker dies stops
the others and fails the run.

Users are started by us, not by Locust's ramp-up: each device's user greenlet
is spawned at once into the runner's ``user_greenlets`` and sleeps until its
planned start (open arrivals). Stop (SIGINT/SIGTERM, ``examday-stop`` or the
duration cap): sleeping users never start, running ones finish their current
request within ``grace_s``, then are killed; the trace is flushed and the
result written. Exit: 0 finished, 130 interrupted, 2 failed.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402
import psutil  # noqa: E402
from locust.env import Environment  # noqa: E402
from locust.runners import STATE_MISSING  # noqa: E402

from ..trace import ResourceSample  # noqa: E402
from .config import RESULT_FILE, LiveConfig, refusal  # noqa: E402
from .context import Clock, RunContext  # noqa: E402
from .http import RateLimiter  # noqa: E402
from .safety import EgressPolicy  # noqa: E402
from .schedule import partition, t0_epoch  # noqa: E402
from .users import EgilUser, PupilUser, Ss12000User, TeacherUser  # noqa: E402

log = logging.getLogger("examday.live")
USER_CLASSES = [PupilUser, TeacherUser, EgilUser, Ss12000User]
SATURATED_CPU = 0.90  # of one core
SATURATED_FOR_S = 5  # consecutive one-second samples


def _load_plan(cfg: LiveConfig):
    from ..plan import load_plan
    return load_plan(cfg.scenario, cfg.overrides, cfg.seed)


# ---------------------------------------------------------------- the work of one process

class Monitor:
    """Generator CPU (psutil, this process, share of one core) every second -> ``generator:<worker>``."""

    def __init__(self, ctx: RunContext):
        self.ctx, self.proc = ctx, psutil.Process()
        self.max_cpu, self.run_len, self.saturated, self.samples = 0.0, 0, False, 0
        self.proc.cpu_percent(None)

    def loop(self) -> None:
        while not self.ctx.stop.wait(1.0):
            self.sample()

    def sample(self) -> None:
        cpu = self.proc.cpu_percent(None) / 100.0
        self.samples += 1
        self.max_cpu = max(self.max_cpu, cpu)
        self.run_len = self.run_len + 1 if cpu > SATURATED_CPU else 0
        if self.run_len >= SATURATED_FOR_S:
            self.saturated = True
        self.ctx.writer.resource(ResourceSample(self.ctx.clock.now(), f"generator:{self.ctx.worker}", "generator",
                                                round(cpu, 4), float(self.ctx.inflight())))

    def to_json(self) -> dict:
        return {"saturated": self.saturated, "max_cpu": round(self.max_cpu, 4), "samples": self.samples}


def jobs_for(plan, cfg: LiveConfig, index: int, count: int) -> list:
    """(user class, device, profile, job) for worker ``index`` of ``count``."""
    out = []
    for d in partition(plan.devices, index, count):
        cls = TeacherUser if d.role == "teacher" else PupilUser
        out.append((cls, d, plan.device_profiles.get(d.kind), None))
    if index == 0 and cfg.provision_load:
        pupils = [d.start_s for d in plan.devices if d.role == "pupil"] or [0.0]
        first, last = min(pupils), max(pupils)
        try:
            from ..stack.egil_client import scim_objects
            objects = [(e, i, {k: v for k, v in b.items() if k != "password"}) for e, i, b in
                       scim_objects(plan.roster())]
        except ImportError:  # stack not installed: no EGIL change load
            objects = []
        if objects:
            span = max(1.0, last - first)
            out.append((EgilUser, None, None, (objects, first, span / len(objects))))
        walks = max(1, min(10, int((last - first) // 10) + 1))
        out.append((Ss12000User, None, None, (first, walks, 10.0)))
    return out


def run_share(env: Environment, cfg: LiveConfig, plan, index: int, count: int, t0: float, stop: gevent.event.Event,
              run_dir: str | None = None) -> dict:
    """Run this process's devices until done, stopped or capped; returns the worker report."""
    worker = f"w{index}"
    ctx = RunContext(run=cfg.run, run_dir=Path(run_dir or cfg.run_dir), worker=worker, clock=Clock(t0),
                     targets=cfg.targets, scenario=plan.scenario, egress=EgressPolicy.from_dict(cfg.egress),
                     limiter=RateLimiter(cfg.max_rps / count if cfg.max_rps else None), locust_env=env,
                     session_wait_s=cfg.session_wait_s, rng=random.Random(hash((plan.seed, index)) & 0xFFFFFFFF))
    ctx.open()
    jobs = jobs_for(plan, cfg, index, count)
    planned = sum(1 for j in jobs if j[1] is not None)
    monitor = Monitor(ctx)
    helpers = [gevent.spawn(monitor.loop), gevent.spawn(ctx.flusher),
               gevent.spawn(_progress_loop, ctx, planned, stop)]
    group = env.runner.user_greenlets
    for cls, device, profile, job in jobs:
        cls(env, device=device, profile=profile, ctx=ctx, job=job).start(group)
    deadline = time.time() + cfg.max_duration
    capped = False
    try:
        while len(group) and not stop.is_set():
            if time.time() >= deadline:
                capped = True
                break
            group.join(timeout=0.5)
    finally:
        interrupted = stop.is_set()
        ctx.stop.set()  # sleepers return at once: no new device starts
        group.join(timeout=0.0 if ORPHANED.is_set() else cfg.grace_s)
        group.kill(block=True, timeout=2.0)
        monitor.sample()
        gevent.killall(helpers, block=True, timeout=2.0)
        _write_progress(ctx, planned)
        ctx.close()
    return {"worker": worker, "index": index, "count": count, "devices": planned,
            "devices_started": ctx.counters["devices_started"], "devices_done": ctx.counters["devices_done"],
            "rows": ctx.counters["rows"], "autosaves_acknowledged": ctx.counters["autosaves_acknowledged"],
            "generator": monitor.to_json(), "interrupted": interrupted, "capped": capped, "error": ""}


def _write_progress(ctx: RunContext, planned: int) -> None:
    """``progress-w<i>.json``: what the CLI's progress line shows (devices walked, steps, errors, durations)."""
    c = ctx.counters
    data = {"planned": planned, "walked": c["devices_done"], "steps": c["steps"], "errors": c["errors"],
            "recent_s": [round(x, 4) for x in ctx.recent]}
    path = ctx.run_dir / f"progress-{ctx.worker}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def _progress_loop(ctx: RunContext, planned: int, stop: gevent.event.Event) -> None:
    while not ctx.stop.wait(1.0):
        _write_progress(ctx, planned)


def combine(reports: list[dict], status: str, reason: str = "", **extra) -> dict:
    gens = {r["worker"]: r["generator"] for r in reports if r.get("generator")}
    return {"status": status, "reason": reason,
            "devices": sum(r.get("devices", 0) for r in reports),
            "devices_started": sum(r.get("devices_started", 0) for r in reports),
            "devices_done": sum(r.get("devices_done", 0) for r in reports),
            "rows": sum(r.get("rows", 0) for r in reports),
            "autosaves_acknowledged": sum(r.get("autosaves_acknowledged", 0) for r in reports),
            "capped": any(r.get("capped") for r in reports),
            "generator": {"saturated": any(g["saturated"] for g in gens.values()),
                          "max_cpu": max((g["max_cpu"] for g in gens.values()), default=0.0), "workers": gens},
            "workers": reports, **extra}


def _write_result(cfg: LiveConfig, result: dict) -> None:
    path = Path(cfg.run_dir) / RESULT_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp, path)


def _stats(env: Environment) -> dict:
    out = {}
    for (name, method), s in sorted(env.stats.entries.items()):
        out[f"{method} {name}"] = {"requests": s.num_requests, "failures": s.num_failures,
                                   "median_ms": s.median_response_time, "p95_ms": s.get_response_time_percentile(0.95),
                                   "max_ms": s.max_response_time}
    return out


#: set when this process's parent (the CLI or the master) died: stop at once, no grace
ORPHANED = gevent.event.Event()
_PARENT = os.getppid()


def _signals(stop: gevent.event.Event) -> None:
    def on_signal():
        if os.getppid() != _PARENT:  # the parent-death signal (PR_SET_PDEATHSIG): nobody waits for a report
            ORPHANED.set()
        stop.set()
    for sig in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(sig, on_signal)


def _orphan_note(cfg: LiveConfig) -> None:
    """The CLI was killed: leave the manifest honest (interrupted, no report) before exiting."""
    if ORPHANED.is_set():
        from ..results import update_manifest
        try:
            update_manifest(Path(cfg.run_dir), status="interrupted",
                            live={"status": "interrupted", "reason": "examday load was killed; no report written"})
        except (OSError, ValueError):
            pass


def _ui(env: Environment, cfg: LiveConfig) -> None:
    if cfg.ui:
        env.create_web_ui(cfg.ui_host, cfg.ui_port)
        print(f"Locust web UI: http://{cfg.ui_host}:{cfg.ui_port}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- roles

def run_local(cfg: LiveConfig) -> int:
    stop = gevent.event.Event()
    _signals(stop)
    plan = _load_plan(cfg)
    env = Environment(user_classes=USER_CLASSES)
    env.create_local_runner()
    _ui(env, cfg)
    t0 = t0_epoch(time.time(), [d.start_s for d in plan.devices], cfg.lead_s)
    report = run_share(env, cfg, plan, 0, 1, t0, stop)
    status = "interrupted" if report["interrupted"] else "finished"
    _write_result(cfg, combine([report], status, t0_epoch=t0, locust_stats=_stats(env)))
    _orphan_note(cfg)
    if env.web_ui:
        env.web_ui.stop()
    return 130 if status == "interrupted" else 0


def _worker_cmd(cfg_path: str, port: int) -> list[str]:
    return [sys.executable, "-m", "simulator.live.runner", cfg_path, "--role", "worker",
            "--master-host", "127.0.0.1", "--master-port", str(port)]


def run_master(cfg: LiveConfig, cfg_path: str) -> int:
    from ..stack.process import popen_supervised

    stop = gevent.event.Event()
    _signals(stop)
    plan = _load_plan(cfg)
    env = Environment(user_classes=USER_CLASSES)
    runner = env.create_master_runner(cfg.master_bind_host, cfg.master_port)
    _ui(env, cfg)
    done: dict[str, dict] = {}
    runner.register_message("examday-done", lambda environment, msg, **kw: done.__setitem__(msg.node_id, msg.data))
    procs: list[subprocess.Popen] = []
    if cfg.local_workers:
        for _ in range(cfg.workers):
            procs.append(popen_supervised(_worker_cmd(cfg_path, cfg.master_port), signal.SIGKILL))
    t0 = None
    try:
        wait_until = time.time() + cfg.worker_wait_s
        while len(runner.clients.ready) < cfg.workers and not stop.is_set():
            if time.time() > wait_until or any(p.poll() is not None for p in procs):
                _write_result(cfg, combine([], "failed", f"{len(runner.clients.ready)} of {cfg.workers} "
                                                         "workers connected"))
                return 2
            gevent.sleep(0.1)
        if stop.is_set():
            _write_result(cfg, combine([], "interrupted", "stopped before the workers connected"))
            _orphan_note(cfg)
            return 130
        ids = sorted(c.id for c in runner.clients.ready)[:cfg.workers]
        t0 = t0_epoch(time.time() + 0.5, [d.start_s for d in plan.devices], cfg.lead_s)
        for i, cid in enumerate(ids):
            runner.send_message("examday-go", {"config": json.loads(cfg.to_json()), "index": i, "count": len(ids),
                                               "t0_epoch": t0}, client_id=cid)
        stopped_at = None
        hard = time.time() + cfg.max_duration + cfg.grace_s + 30.0
        lost = False
        while True:
            pending = [c for c in ids if c not in done]
            missing = [c for c in pending if c not in runner.clients or runner.clients[c].state == STATE_MISSING]
            # local workers that exited without reporting (a report may still be in flight: look twice)
            dead = sum(p.poll() is not None for p in procs) - (len(ids) - len(pending))
            if dead > 0:
                gevent.sleep(0.3)
                pending = [c for c in ids if c not in done]
                dead = sum(p.poll() is not None for p in procs) - (len(ids) - len(pending))
            lost = lost or bool(missing) or dead > 0
            if len(pending) <= max(len(missing), dead) or time.time() > hard:
                break
            if (stop.is_set() or lost) and stopped_at is None:
                stopped_at = time.time()  # a lost worker fails the run: stop the others now
                runner.send_message("examday-stop", {})
            if stopped_at is not None and time.time() > stopped_at + (0 if ORPHANED.is_set() else cfg.grace_s) + 5:
                break
            gevent.sleep(0.2)
        reports = [done[c] for c in ids if c in done]
        missing = [c for c in ids if c not in done]
        errors = [r["error"] for r in reports if r.get("error")]
        if errors or missing or lost:
            status = "interrupted" if stop.is_set() and not lost and not errors else "failed"
            reason = "; ".join(errors + [f"worker {c} lost before reporting" for c in missing])
        else:
            status = "interrupted" if stop.is_set() or any(r["interrupted"] for r in reports) else "finished"
            reason = ""
        if not ORPHANED.is_set():
            gevent.sleep(1.5)  # last stats reports from the workers
        _write_result(cfg, combine(reports, status, reason, t0_epoch=t0, locust_stats=_stats(env),
                                   lost_workers=missing))
        _orphan_note(cfg)
        return {"finished": 0, "interrupted": 130}.get(status, 2)
    finally:
        runner.quit()
        for p in procs:
            try:
                p.wait(0.5 if ORPHANED.is_set() else 10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def run_worker(mine: LiveConfig, master_host: str, master_port: int) -> int:
    """A worker: its targets, egress policy and plan are its own (``mine``); the master only says go."""
    stop = gevent.event.Event()
    _signals(stop)
    plan = _load_plan(mine)
    env = Environment(user_classes=USER_CLASSES)
    runner = env.create_worker_runner(master_host, master_port)
    finished, started = gevent.event.Event(), gevent.event.Event()
    code = [0]

    def go(environment, msg, **kw):
        started.set()
        data = msg.data
        index = data.get("index", 0)
        report = {"worker": f"w{index}", "index": index, "error": ""}
        try:
            theirs = LiveConfig.from_dict(data["config"])
            why = refusal(mine, theirs)
            if why:
                log.error("refusing the master's run: %s", why)
                report["error"] = f"worker w{index}: refused: {why}"
                code[0] = 2
            else:
                cfg = dataclasses.replace(theirs, scenario=mine.scenario, targets=mine.targets, egress=mine.egress,
                                          digest=mine.digest, run_dir=mine.run_dir)
                report = run_share(env, cfg, plan, index, data["count"], data["t0_epoch"], stop, mine.run_dir)
                code[0] = 130 if report["interrupted"] else 0
        except Exception as err:  # noqa: BLE001 - reported to the master, not lost in a greenlet
            log.exception("worker failed")
            report["error"] = f"worker w{index}: {type(err).__name__}: {err}"
            code[0] = 2
        runner.send_message("examday-done", report)
        finished.set()

    runner.register_message("examday-go", go, concurrent=True)
    runner.register_message("examday-stop", lambda environment, msg, **kw: stop.set())
    while not finished.wait(0.5):
        if stop.is_set() and not started.is_set():
            code[0] = 130
            break
    gevent.sleep(0.5)
    runner.quit()
    return code[0]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simulator.live.runner")
    p.add_argument("config", help="live-config.json (every role: targets, pinned addresses, plan digest)")
    p.add_argument("--role", choices=("local", "master", "worker"), default="local")
    p.add_argument("--master-host", default="127.0.0.1")
    p.add_argument("--master-port", type=int, default=5557)
    a = p.parse_args(argv)
    sys.argv = sys.argv[:1]  # Locust's web UI parses sys.argv for its own options
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    cfg = LiveConfig.read(a.config)
    if a.role == "worker":
        return run_worker(cfg, a.master_host, a.master_port)
    return run_master(cfg, a.config) if a.role == "master" else run_local(cfg)


if __name__ == "__main__":
    sys.exit(main())
