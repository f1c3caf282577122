"""``simulate --mqtt --speed N`` replays the model's timeline on a real Mosquitto; the publisher never outlives the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import psutil
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from mqtt_broker import Mosquitto  # noqa: E402
from mqtt_capture import Capture  # noqa: E402

REPO = __import__("pathlib").Path(__file__).resolve().parents[2]
SCENARIO = str(REPO / "scenarios" / "ci-smoke.yaml")
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


@pytest.fixture
def broker(tmp_path):
    with Mosquitto(tmp_path / "broker") as b:
        cap = Capture(b.port, ["examday-test/#"])
        yield b, cap
        cap.stop()


def test_simulate_replays_the_timeline_n_times_faster_and_reconnects(broker, tmp_path):
    b, cap = broker
    out = tmp_path / "sim"
    p = subprocess.Popen([sys.executable, "-m", "simulator", "simulate", SCENARIO, "--until", "40 s", "-o", str(out),
                          "-q", "--mqtt", b.url, "--speed", "8"], env=ENV, cwd=str(REPO), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    # the broker restarts (same port) during the replay: the publisher reconnects and carries on
    cap.wait_for(lambda t, d: d.get("type") == "site" and d.get("t_s") is not None and d["t_s"] > 5, 240)
    b.kill()
    time.sleep(1.0)
    b.start()
    _, err = p.communicate(timeout=240)
    assert p.returncode == 0, err
    end = cap.wait_for(lambda t, d: d.get("type") == "end" and d.get("run") == "sim", 30)[1]
    tel = json.loads((out / "manifest.json").read_text())["telemetry"]
    assert tel["broker_connects"] >= 2 and tel["tap_rows_dropped"] == 0
    summary = json.loads((out / "summary.json").read_text())
    assert end["status"] == "finished" and end["ready"] == summary["ready"]["ready"] == 60
    start = cap.wait_for(lambda t, d: d.get("type") == "start")[1]
    assert start["engine"] == "model" and start["speed"] == 8
    with cap.lock:
        sites = [json.loads(m) for _, t, m, _ in cap.messages if t.endswith("/site/ci-school") and m]
    busy = [d for d in sites if d["t_s"] is not None]
    assert len(busy) >= 4
    walls, ts = np.array([d["wall"] for d in busy]), np.array([d["t_s"] for d in busy])
    slope = np.polyfit(walls - walls[0], ts, 1)[0]  # trace seconds per wall second
    assert slope == pytest.approx(8, rel=0.35)
    assert np.median([d["window_s"] for d in busy]) == pytest.approx(8, rel=0.2)


def test_publisher_dies_with_its_parent_and_the_will_marks_the_run_lost(broker, tmp_path):
    b, cap = broker
    cli = subprocess.Popen([sys.executable, "-m", "simulator", "simulate", SCENARIO, "--until", "40 s", "-o",
                            str(tmp_path / "orphan"), "-q", "--mqtt", b.url, "--speed", "0.5"], env=ENV,
                           cwd=str(REPO), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        cap.wait_for(lambda t, d: d.get("type") == "start" and d.get("run") == "orphan", 120)
        pubs = [p for p in psutil.Process(cli.pid).children(recursive=True)
                if "simulator.telemetry.publisher" in " ".join(p.cmdline())]
        assert len(pubs) == 1
        cli.send_signal(signal.SIGKILL)
        cli.wait(10)
        gone, alive = psutil.wait_procs(pubs, timeout=20)  # bounded: an orphan fails the test instead of hanging
        assert not alive, "the publisher outlived its parent"
        lost = cap.wait_for(lambda t, d: t.endswith("orphan/status") and d.get("state") == "lost", 20)
        assert lost
    finally:
        if cli.poll() is None:
            cli.kill()
