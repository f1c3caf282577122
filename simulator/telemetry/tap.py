"""The tap: mirrors a Locust process's trace rows to the telemetry publisher, never blocking the load.

``tapped(writer, worker)`` is the one hook in the live engine: it wraps the
``TraceWriter`` a worker opens. Without ``--mqtt`` (no ``EXAMDAY_TELEMETRY``
in the environment) it returns the writer itself: zero cost. With it, every
step row and resource sample is written to the trace as before and also
batched (up to ``BATCH_ROWS`` rows or ``BATCH_S``) into one datagram sent
over a unix datagram socket with ``MSG_DONTWAIT``: a full socket queue
(``EAGAIN``), a missing or dead publisher drop the batch and count its rows.
The socket is the C-level ``_socket`` one, so gevent's monkey-patching never
turns a send into a wait. The drop count goes into ``telemetry-tap-<worker>.json``
beside the trace on close (the CLI folds it into the manifest).

This module imports neither gevent nor asyncio: it runs inside the Locust
process, the publisher (asyncio) is another process.
"""

from __future__ import annotations

import _socket
import json
import math
import os
import time
from pathlib import Path

__all__ = ["ENV", "tapped", "TappedWriter", "Tap", "encode", "decode"]

ENV = "EXAMDAY_TELEMETRY"  # path of the publisher's unix datagram socket
BATCH_ROWS = 64
BATCH_S = 0.25
MAX_DATAGRAM = 60_000  # bytes; bigger batches are split


def _plain(v):
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "item"):  # numpy scalar
        return _plain(v.item())
    return v


def encode(msg: dict) -> bytes:
    return json.dumps(msg, separators=(",", ":"), default=str).encode()


def decode(data: bytes) -> dict:
    return json.loads(data)


class Tap:
    """A non-blocking sender of row batches to the publisher's socket."""

    def __init__(self, path: str, worker: str, blocking: bool = False):
        self.path, self.worker = path, worker
        self.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM)
        self.sock.setblocking(blocking)  # blocking only for replays from a CLI process (no load to protect)
        self.flags = 0 if blocking else _socket.MSG_DONTWAIT
        self.steps: list = []
        self.resources: list = []
        self.last = time.monotonic()
        self.sent_rows = self.dropped_rows = self.batches = 0

    def add_step(self, values) -> None:
        self.steps.append([_plain(v) for v in values])
        self._maybe_send()

    def add_resource(self, values) -> None:
        self.resources.append([_plain(v) for v in values])
        self._maybe_send()

    def _maybe_send(self) -> None:
        if len(self.steps) + len(self.resources) >= BATCH_ROWS or time.monotonic() - self.last >= BATCH_S:
            self.send()

    def send(self) -> None:
        self.last = time.monotonic()
        if not self.steps and not self.resources:
            return
        steps, resources, self.steps, self.resources = self.steps, self.resources, [], []
        data = encode({"w": self.worker, "steps": steps, "res": resources})
        n = len(steps) + len(resources)
        if len(data) > MAX_DATAGRAM and n > 1:
            half_s, half_r = len(steps) // 2, len(resources) // 2
            for part in ((steps[:half_s], resources[:half_r]), (steps[half_s:], resources[half_r:])):
                self.steps, self.resources = part
                self.send()
            return
        try:
            self.sock.sendto(data, self.flags, self.path)
            self.sent_rows += n
            self.batches += 1
        except OSError:  # EAGAIN (publisher behind), ENOENT/ECONNREFUSED (publisher gone), ...: count, go on
            self.dropped_rows += n

    def close(self, run_dir: Path | None) -> None:
        self.send()
        self.sock.close()
        if run_dir is not None:
            report = {"worker": self.worker, "sent_rows": self.sent_rows, "dropped_rows": self.dropped_rows,
                      "batches": self.batches}
            (Path(run_dir) / f"telemetry-tap-{self.worker}.json").write_text(json.dumps(report) + "\n")


class TappedWriter:
    """A ``TraceWriter`` that also hands each row to a ``Tap`` (same methods, same behaviour)."""

    def __init__(self, writer, tap: Tap):
        self._w, self.tap = writer, tap

    def __getattr__(self, name):
        return getattr(self._w, name)

    def step(self, rec) -> None:
        from ..trace import STEP_COLUMNS
        self.step_values(tuple(getattr(rec, c) for c in STEP_COLUMNS))

    def step_values(self, values: tuple) -> None:
        self._w.step_values(values)
        self.tap.add_step(values)

    def resource(self, sample) -> None:
        from ..trace import RESOURCE_COLUMNS
        self.resource_values(tuple(getattr(sample, c) for c in RESOURCE_COLUMNS))

    def resource_values(self, values: tuple) -> None:
        self._w.resource_values(values)
        self.tap.add_resource(values)

    def flush(self) -> None:
        self._w.flush()
        self.tap.send()

    def close(self) -> None:
        self._w.close()
        self.tap.close(self._w.run_dir)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def tapped(writer, worker: str):
    """``writer`` mirrored to the publisher named by ``$EXAMDAY_TELEMETRY``; ``writer`` itself without it."""
    path = os.environ.get(ENV)
    return TappedWriter(writer, Tap(path, worker)) if path else writer
