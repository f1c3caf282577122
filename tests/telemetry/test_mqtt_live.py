"""``load scenarios/ci-smoke.yaml --stack --mqtt`` against a real Mosquitto on loopback (no broker mock).

Two live runs side by side, each with its own broker:

- run A publishes to broker A while ``watch --record`` records it, ``watch
  --once`` looks at it mid-run, AP telemetry replayed from a model run is
  published on the same broker and taken in with ``--ap-telemetry``;
- run B loses its broker (SIGKILL) once the first device is ready.

Expectations are independent of the code under test: payloads against the
JSON Schema in docs/telemetry.md (jsonschema), ready counts against the trace
and the run's own report, AP rows against the messages a separate paho-mqtt
subscriber saw.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import jsonschema
import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from mqtt_broker import Mosquitto  # noqa: E402
from mqtt_capture import Capture  # noqa: E402
from simulator.results import read_manifest  # noqa: E402
from simulator.trace import read_resources, read_steps  # noqa: E402

REPO = __import__("pathlib").Path(__file__).resolve().parents[2]
SCENARIO = str(REPO / "scenarios" / "ci-smoke.yaml")
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def examday(*args, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "simulator", *args], env=ENV, cwd=str(REPO), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def finish(p: subprocess.Popen, bound_s: float = 240) -> tuple[int, str, str]:
    out, err = p.communicate(timeout=bound_s)
    return p.returncode, out, err


def _schema() -> dict:
    text = (REPO / "docs" / "telemetry.md").read_text()
    block = re.search(r"## Payloads.*?```json\n(.*?)```", text, re.S).group(1)
    return json.loads(block)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("mqtt")
    model = root / "model"
    subprocess.run([sys.executable, "-m", "simulator", "simulate", SCENARIO, "-o", str(model), "-q"], env=ENV,
                   cwd=str(REPO), check=True, timeout=240)
    with Mosquitto(root / "broker-a") as a, Mosquitto(root / "broker-b") as b:
        cap_a = Capture(a.port, ["examday-test/#", "wifi/#"])
        cap_b = Capture(b.port, ["examday-test/#"])
        recorder = examday("watch", a.url, "--record", str(root / "recorded"))
        time.sleep(1.0)  # the recorder subscribes before the run starts (the trace stream is not retained)
        load_a = examday("load", SCENARIO, "--stack", "--mqtt", a.url, "--ap-telemetry", "wifi/#",
                         "-o", str(root / "a"), "-q")
        load_b = examday("load", SCENARIO, "--stack", "--mqtt", b.url, "-o", str(root / "b"), "-q")
        cap_a.wait_for(lambda t, d: t.endswith("/start") and d.get("run") == "a")
        replay = examday("telemetry", "replay", str(model), "--mqtt", a.url, "--speed", "4", "--until", "40 s")
        # watch --once while the run is under way: as soon as some (not all) devices are ready
        cap_a.wait_for(lambda t, d: d.get("type") == "site" and d.get("run") == "a" and d["ready"] > 0)
        once = subprocess.run([sys.executable, "-m", "simulator", "watch", a.url, "--once", "--run", "a"],
                              env=ENV, cwd=str(REPO), capture_output=True, text=True, timeout=60)
        # broker B dies for good once its run has a ready device
        cap_b.wait_for(lambda t, d: d.get("type") == "site" and d.get("run") == "b" and d["ready"] > 0)
        killed_at = time.time()
        cap_b.stop()
        b.kill()
        res = {"a": finish(load_a), "b": finish(load_b), "replay": finish(replay), "record": finish(recorder, 60)}
        late = subprocess.run([sys.executable, "-m", "simulator", "watch", a.url, "--once", "--run", "a"],
                              env=ENV, cwd=str(REPO), capture_output=True, text=True, timeout=60)
        cap_a.stop()
    return {"root": root, "cap": cap_a, "once": once, "late": late, "killed_at": killed_at, **res}


def test_run_publishes_start_per_second_site_and_step_aggregates_and_end(runs):
    code, out, err = runs["a"]
    assert code == 0, out + err
    schema = _schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    docs = runs["cap"].json()
    ours = [(t, d) for t, d in docs if t.startswith("examday-test/run/a/")]
    for t, d in ours:
        validator.validate(d)  # every real payload, against the documented schema
    kinds = {d["type"] for _, d in ours}
    assert {"start", "status", "site", "step", "resources", "slo", "trace", "end"} <= kinds
    start = next(d for _, d in ours if d["type"] == "start")
    assert start["manifest"]["scenario"]["name"] == "ci-smoke" and start["planned"] == {"ci-school": 60}
    sites = [d for t, d in ours if t == "examday-test/run/a/site/ci-school"]
    assert len({int(d["wall"]) for d in sites}) >= 10  # about one per second over the run
    walls = [d["wall"] for d in sites]
    assert np.median(np.diff(walls)) == pytest.approx(1.0, abs=0.3)
    assert {"login", "download", "autosave"} <= {t.rsplit("/", 1)[1] for t, _ in ours if "/step/" in t}
    end = next(d for _, d in ours if d["type"] == "end")
    # independent ready count: pupil devices with a successful download in the run's own trace
    t = read_steps(runs["root"] / "a")
    ready = {d for d, s, ok, k in zip(t.device, t.step, t.ok, t.kind) if s == "download" and ok and k != "teacher"}
    assert end["status"] == "finished" and end["ready"] == len(ready) == 60
    assert sites[-1]["ready"] == 60 and sites[-1]["ready_share"] == 1.0
    # the per-step window counts add up to the trace's attempts
    logins = [d for tt, d in ours if tt.endswith("/step/login")]
    assert sum(d["started"] for d in logins) == int((t.step == "login").sum())
    m = read_manifest(runs["root"] / "a")
    assert m["telemetry"]["tap_rows_dropped"] == 0 and m["telemetry"]["messages_dropped"] == 0


def test_watch_once_during_the_run_prints_devices_ready_per_site(runs):
    once = runs["once"]
    assert once.returncode == 0, once.stderr
    got = re.search(r"ci-school: (\d+) of 60 devices ready", once.stdout)
    assert got and 0 < int(got.group(1)) <= 60, once.stdout
    assert "running" in once.stdout.splitlines()[0]
    late = runs["late"]  # a dashboard connecting after the run sees the final state (retained)
    assert "ci-school: 60 of 60 devices ready" in late.stdout and "finished" in late.stdout


def test_recorded_run_reports_the_same_ready_count_as_the_run(runs):
    code, out, err = runs["record"]
    assert code == 0, out + err
    rec = runs["root"] / "recorded"
    r = subprocess.run([sys.executable, "-m", "simulator", "report", str(rec), "--json"], env=ENV, cwd=str(REPO),
                       capture_output=True, text=True, timeout=120)
    own = json.loads((runs["root"] / "a" / "summary.json").read_text())
    recorded = json.loads(r.stdout)
    assert recorded["ready"]["ready"] == own["ready"]["ready"] == 60
    assert recorded["ready"]["population"] == own["ready"]["population"]
    assert recorded["run"]["step_rows"] == own["run"]["step_rows"]
    assert read_manifest(rec)["recorded"]["gaps"] == 0


def test_replayed_ap_telemetry_becomes_ap_telemetry_rows_and_a_plot(runs):
    assert runs["replay"][0] == 0, runs["replay"][2]
    sent = [d for t, d in runs["cap"].json() if t.startswith("wifi/")]
    assert sent
    r = read_resources(runs["root"] / "a")
    m = r.kind == "ap-telemetry"
    assert m.sum() > 0
    names = set(r.resource[m].tolist())
    assert {"ap-telemetry:ci-school/9A/5GHz", "ap-telemetry:ci-school/9B/5GHz/retry",
            "ap-telemetry:ci-school/9A/clients"} <= names
    # the channel utilisation rows are the replayed messages' percentages as shares
    want = sorted(round(d["radios"][0]["channel_utilisation"] / 100, 5) for d in sent if d["ap"] == "ci-school-9A")
    k = r.resource == "ap-telemetry:ci-school/9A/5GHz"
    got = sorted(np.round(r.utilisation[k], 5).tolist())
    assert got == want
    assert (runs["root"] / "a" / "plots" / "ap_telemetry.png").stat().st_size > 10_000
    assert "AP telemetry (the network&#x27;s own numbers)" in (runs["root"] / "a" / "report.html").read_text() or \
        "AP telemetry (the network's own numbers)" in (runs["root"] / "a" / "report.html").read_text()


def test_killing_the_broker_mid_run_neither_stops_nor_slows_the_load(runs):
    code, out, err = runs["b"]
    assert code == 0, out + err
    root = runs["root"]
    m = read_manifest(root / "b")
    assert m["status"] == "finished"
    tel = m["telemetry"]
    assert tel["messages_dropped"] > 0 and tel["broker_connect_failures"] > 0  # counted, and it kept trying
    assert tel["tap_rows_dropped"] == 0  # the publisher kept draining the taps: the load never noticed
    t = read_steps(root / "b")
    assert len({d for d, s, ok in zip(t.device, t.step, t.ok) if s == "download" and ok}) == 60
    assert m["checks"]["autosaves_stored"] == m["checks"]["autosaves_acknowledged"] == 240
    # not slowed: after the kill, steps start as late (behind plan) as in run A over the same stretch
    t0 = json.loads((root / "b" / "live-result.json").read_text())["t0_epoch"]
    after = t.where((t.attempt == 1) & (t.planned_s > runs["killed_at"] - t0))
    ta = read_steps(root / "a")
    ref = ta.where(ta.attempt == 1)
    assert len(after) > 50
    lag_b = np.percentile(after.start_s - after.planned_s, 95)
    lag_a = np.percentile(ref.start_s - ref.planned_s, 95)
    assert lag_b <= lag_a + 0.5, (lag_b, lag_a)
