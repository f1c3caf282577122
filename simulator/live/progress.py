"""The terminal progress line of a live run (CLI side, no gevent).

Each Locust process writes ``progress-w<i>.json`` about once a second
(devices walked of planned, steps done, failed steps, recent step
durations); the CLI sums them into one line, rewritten in place on a TTY::

    devices 41/60 walked · steps 212 · errors 3 · p95 0.184 s

Quiet when stderr is not a terminal (CI logs stay clean) or with ``-q``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Snapshot", "snapshot", "Progress"]


@dataclass(frozen=True)
class Snapshot:
    planned: int
    walked: int
    steps: int
    errors: int
    p95_s: float  # of recent ok steps, NaN before the first

    def line(self) -> str:
        p95 = "-" if np.isnan(self.p95_s) else f"{self.p95_s:.3f} s"
        return f"devices {self.walked}/{self.planned} walked · steps {self.steps} · errors {self.errors} · p95 {p95}"


def snapshot(run_dir: Path, planned: int) -> Snapshot:
    walked = steps = errors = 0
    recent: list[float] = []
    for path in sorted(Path(run_dir).glob("progress-w*.json")):
        try:
            d = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        walked += d["walked"]
        steps += d["steps"]
        errors += d["errors"]
        recent += d["recent_s"]
    p95 = float(np.percentile(recent, 95)) if recent else float("nan")
    return Snapshot(planned, walked, steps, errors, p95)


class Progress:
    def __init__(self, run_dir: Path, planned: int, enabled: bool, stream=None):
        self.run_dir, self.planned, self.enabled = run_dir, planned, enabled
        self.stream = stream or sys.stderr
        self.shown = False

    def show(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[2K" + snapshot(self.run_dir, self.planned).line())
            self.stream.flush()
            self.shown = True

    def end(self) -> None:
        if self.shown:
            self.show()
            self.stream.write("\n")
            self.stream.flush()
