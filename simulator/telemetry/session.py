"""The CLI side of ``--mqtt``: start the publisher process, point the taps at it, end it, record the drops.

``publishing(...)`` is the context manager ``load`` and ``simulate`` wrap
their run in. Inside it ``$EXAMDAY_TELEMETRY`` names the publisher's socket,
so the Locust process(es) started meanwhile tap their trace rows to it
(``tap.tapped``). On exit it sends ``end`` (with the run's result), waits a
bounded time for the publisher to flush, and writes the telemetry counts —
rows the taps dropped, messages the publisher could not deliver — into the
manifest under ``telemetry``.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .aggregate import RunSpec
from .bus import parse_url
from .publisher import END_WAIT_S, REPORT_FILE
from .tap import ENV, Tap, encode

__all__ = ["publishing", "Session", "replay_trace"]

REPO = Path(__file__).resolve().parents[2]


class Session:
    """A running publisher process."""

    def __init__(self, proc: subprocess.Popen, socket_path: str, run_dir: Path):
        self.proc, self.socket, self.run_dir = proc, socket_path, run_dir
        self.status: str | None = None  # set by the caller; else read from live-result.json

    def tap(self, worker: str = "cli") -> Tap:
        return Tap(self.socket, worker, blocking=True)

    def end(self, status: str, result: dict, manifest: dict) -> None:
        import socket as _s

        with contextlib.suppress(OSError), _s.socket(_s.AF_UNIX, _s.SOCK_DGRAM) as s:
            s.sendto(encode({"ctl": "end", "status": status, "result": result, "manifest": manifest}), self.socket)
        try:
            self.proc.wait(END_WAIT_S + 10.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _counts(run_dir: Path) -> dict:
    taps = [json.loads(Path(p).read_text()) for p in sorted(glob.glob(str(run_dir / "telemetry-tap-*.json")))]
    try:
        pub = json.loads((run_dir / REPORT_FILE).read_text())
    except (OSError, ValueError):
        pub = {"dropped": None, "note": "the publisher left no report"}
    return {"tap_rows_sent": sum(t["sent_rows"] for t in taps),
            "tap_rows_dropped": sum(t["dropped_rows"] for t in taps),
            "messages_published": pub.get("published"), "messages_dropped": pub.get("dropped"),
            "broker_connects": pub.get("connects"), "broker_connect_failures": pub.get("connect_failures"),
            "ap_telemetry_rows": pub.get("ap_rows", 0), "publisher": pub}


@contextlib.contextmanager
def publishing(url_text: str | None, run_dir: Path, plan, *, engine: str, ap_filter: str | None = None,
               speed: float = 1.0):
    """Publish the run in ``run_dir`` on ``url_text`` while the body runs (a no-op for ``None``)."""
    if not url_text:
        yield None
        return
    from ..results import read_manifest, update_manifest
    from .apfeed import resolve_mapping

    url = parse_url(url_text)
    run_dir = Path(run_dir).resolve()
    sock_dir = tempfile.mkdtemp(prefix="examday-telemetry-")  # short path: AF_UNIX names are <= 107 bytes
    sock = os.path.join(sock_dir, "tap.sock")
    planned: dict[str, int] = {}
    for d in plan.devices:
        if d.role == "pupil":
            planned[d.site] = planned.get(d.site, 0) + 1
    spec = RunSpec(run=run_dir.name, engine=engine, url=url_text, socket=sock, run_dir=str(run_dir),
                   planned=planned, devices=len(plan.devices), slo=dict(plan.slo), t0_clock=plan.t0_clock,
                   manifest=read_manifest(run_dir), speed=speed, ap_filter=ap_filter,
                   ap_mapping=resolve_mapping(plan) if ap_filter else None, parent_pid=os.getpid())
    spec_path = Path(sock_dir) / "spec.json"
    spec_path.write_text(json.dumps(spec.to_json()))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    log = open(run_dir / "telemetry.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "simulator.telemetry.publisher", str(spec_path)], env=env,
                            stdout=log, stderr=log, start_new_session=True)
    session = Session(proc, sock, run_dir)
    for _ in range(200):  # bounded: the socket is bound within a second on an idle machine
        if os.path.exists(sock + ".ready") or proc.poll() is not None:
            break
        time.sleep(0.05)
    old = os.environ.get(ENV)
    os.environ[ENV] = sock
    status = "failed"
    try:
        yield session
        status = "finished"
    except BaseException as err:  # Ctrl-C, or the live engine's own Interrupted: an honest end message
        status = "interrupted" if isinstance(err, KeyboardInterrupt) or type(err).__name__ == "Interrupted" \
            else "failed"
        raise
    finally:
        if old is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = old
        result = {}
        with contextlib.suppress(OSError, ValueError):
            result = json.loads((run_dir / "live-result.json").read_text())
            result.pop("locust_stats", None)
        status = session.status or result.get("status") or status
        session.end(status, result, read_manifest(run_dir))
        log.close()
        update_manifest(run_dir, telemetry={"url": url.text, **_counts(run_dir)})
        shutil.rmtree(sock_dir, ignore_errors=True)


def replay_trace(run_dir: Path, session: Session, speed: float) -> int:
    """Feed a finished trace to the publisher in trace time / ``speed`` (``simulate --mqtt``); rows sent."""
    from ..trace import RESOURCE_COLUMNS, STEP_COLUMNS, read_resources, read_steps

    steps, res = read_steps(run_dir), read_resources(run_dir)
    events = [(float(steps.end_s[i]), 0, i) for i in range(len(steps))]
    events += [(float(res.t_s[i]), 1, i) for i in range(len(res))]
    events.sort()
    if not events:
        return 0
    tap = session.tap("model")
    t_first, wall0 = events[0][0], time.monotonic()
    for t, which, i in events:
        delay = wall0 + (t - t_first) / speed - time.monotonic()
        if delay > 0:
            tap.send()
            time.sleep(delay)
        if which == 0:
            tap.add_step(tuple(getattr(steps, c)[i] for c in STEP_COLUMNS))
        else:
            tap.add_resource(tuple(getattr(res, c)[i] for c in RESOURCE_COLUMNS))
    tap.close(None)
    return len(events)


def publish_model_run(url_text: str | None, run_dir: Path, plan, speed: float = 1.0) -> None:
    """``simulate --mqtt``: replay the finished model trace on the bus in trace time / ``speed``."""
    if not url_text:
        return
    with publishing(url_text, run_dir, plan, engine="model", speed=speed) as session:
        session.status = "finished"
        replay_trace(run_dir, session, speed)


def around_live_run(live) -> contextlib.AbstractContextManager:
    """The ``--mqtt``/``--ap-telemetry`` hook in the shape of ``LiveRun.around_run`` (issue 11)."""
    args = live.args
    return publishing(getattr(args, "mqtt", None), live.run_dir, live.plan, engine="live",
                      ap_filter=getattr(args, "ap_telemetry", None))
