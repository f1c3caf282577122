"""The tap never blocks: a publisher that does not read (or does not exist) costs dropped, counted rows."""

from __future__ import annotations

import json
import socket

from simulator.telemetry.tap import BATCH_ROWS, Tap, TappedWriter, decode
from simulator.trace import TraceWriter, read_steps

ROW = ("r", "live", "s/9A/chromebook-1", "chromebook", "s", "9A", "s/9A", "login", 0.0, 0.1, 0.2, 10, True, "",
       float("nan"), 1, float("nan"))


def test_full_socket_queue_drops_and_counts_without_blocking(tmp_path):
    path = str(tmp_path / "p.sock")
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(path)  # bound, never read: the kernel queue fills (net.unix.max_dgram_qlen)
    qlen = int(open("/proc/sys/net/unix/max_dgram_qlen").read())
    tap = Tap(path, "w0")
    batches = qlen + 5
    for _ in range(batches * BATCH_ROWS):
        tap.add_step(ROW)  # would hang here if a send could block
    tap.close(tmp_path)
    report = json.loads((tmp_path / "telemetry-tap-w0.json").read_text())
    assert report["sent_rows"] + report["dropped_rows"] == batches * BATCH_ROWS
    assert report["dropped_rows"] >= (batches - qlen - 1) * BATCH_ROWS  # the kernel holds <= qlen + 1
    rx.setblocking(False)
    received = []
    while True:
        try:
            received.append(decode(rx.recv(1 << 17)))
        except BlockingIOError:
            break
    rx.close()
    assert sum(len(d["steps"]) for d in received) == report["sent_rows"]  # what was not dropped arrived
    got = received[0]
    assert got["w"] == "w0" and got["steps"][0][7] == "login" and got["steps"][0][14] is None  # NaN -> null


def test_no_publisher_the_trace_is_still_complete(tmp_path):
    w = TappedWriter(TraceWriter(tmp_path, shard="w0"), Tap(str(tmp_path / "absent.sock"), "w0"))
    for _ in range(100):
        w.step_values(ROW)
    w.close()
    assert len(read_steps(tmp_path)) == 100
    assert json.loads((tmp_path / "telemetry-tap-w0.json").read_text())["dropped_rows"] == 100
