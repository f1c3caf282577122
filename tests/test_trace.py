"""The trace format: round trip, shards merge, a killed writer loses no flushed row."""

import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np

from simulator.trace import ResourceSample, StepRecord, TraceWriter, read_resources, read_steps


def _rec(i, step="login", ok=True):
    return StepRecord("r1", "model", f"s/9A/chromebook-{i}", "chromebook", "s", "9A", "s/9A", step,
                      planned_s=float(i), start_s=i + 0.5, end_s=i + 2.25, bytes=100 * i, ok=ok,
                      error="" if ok else "http 503", attempt=1 + (not ok))


def test_round_trip_and_shards(tmp_path):
    with TraceWriter(tmp_path, "w1") as w:
        for i in range(3):
            w.step(_rec(i))
        w.resource(ResourceSample(1.0, "service:idp", "service", 0.5, 3.0))
    with TraceWriter(tmp_path, "w2") as w:
        w.step(_rec(3, ok=False))
    t = read_steps(tmp_path)
    assert len(t) == 4
    assert sorted(t.device) == [f"s/9A/chromebook-{i}" for i in range(4)]
    assert t.ok.tolist().count(False) == 1
    i = int(np.flatnonzero(~t.ok)[0])
    assert t.error[i] == "http 503" and t.attempt[i] == 2 and t.bytes[i] == 300
    assert np.allclose(t.duration_s, 1.75)
    assert math.isnan(t.ttfb_s[0])
    r = read_resources(tmp_path)
    assert r.resource.tolist() == ["service:idp"] and r.queue[0] == 3.0


def test_empty_run_reads_as_empty(tmp_path):
    assert len(read_steps(tmp_path)) == 0 and len(read_resources(tmp_path)) == 0


def test_sigkill_keeps_every_flushed_row(tmp_path):
    code = textwrap.dedent(f"""
        import sys, time
        from simulator.trace import TraceWriter, StepRecord
        w = TraceWriter({str(tmp_path)!r}, "k", flush_every=10)
        for i in range(1000000):
            w.step(StepRecord("r", "live", f"d{{i}}", "k", "s", "r", "a", "join", 0.0, 0.0, 1.0))
            if i == 105:
                print("ready", flush=True)
            if i >= 105:
                time.sleep(0.001)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            cwd=os.path.dirname(os.path.dirname(__file__)))
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    t = read_steps(tmp_path)
    assert len(t) >= 100  # every row flushed before the kill (flush every 10 rows)
    assert t.device.tolist() == [f"d{i}" for i in range(len(t))]  # no half row, no gap


def test_numpy_scalars_are_written_as_plain_values(tmp_path):
    with TraceWriter(tmp_path) as w:
        w.step_values(("r", "model", "d", "k", "s", "r", "a", "login", np.float64(1.5), np.float64(2.0),
                       np.float64(3.25), np.int64(10), np.bool_(True), "", np.float64("nan"), np.int64(1),
                       np.float64(0.5)))
    t = read_steps(tmp_path)
    assert t.ok.tolist() == [True] and t.end_s.tolist() == [3.25] and t.bytes.tolist() == [10]
    assert t.queue_s.tolist() == [0.5] and math.isnan(t.ttfb_s[0])


def test_awkward_error_text_survives(tmp_path):
    with TraceWriter(tmp_path) as w:
        w.step(_rec(1, ok=False))
        w.step(StepRecord("r", "live", "d", "k", "s", "r", "a", "login", 0.0, 0.0, 1.0, ok=False,
                          error='saml: "bad", very bad\nsecond line'))
    t = read_steps(tmp_path)
    assert t.error.tolist() == ["http 503", 'saml: "bad", very bad second line']
    t.end_s[0] = 9.0  # arrays are ordinary writable numpy arrays


def test_resource_lines_with_an_all_zero_queue_are_the_same_text(tmp_path):
    """``resource_lines`` with ``queue=None`` (the all-zero case the model passes) writes what the explicit
    zeros write, and both read back as the values (repr of each float, 0.0 queues)."""
    from simulator.trace import resource_lines

    times, util = ["1.0", "2.0", "3.5"], [0.0, 0.25, 1 / 3]
    text = resource_lines(times, "ap:s/9A", "ap", util, None)
    assert text == resource_lines(times, "ap:s/9A", "ap", util, [0.0, 0.0, 0.0])
    assert text.splitlines()[2] == f"3.5,ap:s/9A,ap,{1 / 3!r},0.0"
    with TraceWriter(tmp_path) as w:
        w.resource_csv(text, 3)
    r = read_resources(tmp_path)
    assert r.t_s.tolist() == [1.0, 2.0, 3.5] and r.utilisation.tolist() == util and r.queue.tolist() == [0.0] * 3


def test_trace_files_are_standard_gzip(tmp_path):
    """The shards (ISA-L's deflate) inflate with the standard library's gzip to the rows written."""
    import gzip

    with TraceWriter(tmp_path, flush_every=2) as w:
        for i in range(5):
            w.step(_rec(i))
    lines = gzip.decompress((tmp_path / "steps.csv.gz").read_bytes()).decode().splitlines()
    assert len(lines) == 6 and lines[1].split(",")[2] == "s/9A/chromebook-0"
