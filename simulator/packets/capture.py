"""Record a run's loopback traffic with dumpcap: ``with LoopbackCapture(run_dir, ports): ...``.

dumpcap (Wireshark's capture engine, what tshark itself uses) writes
``capture.pcapng`` in the run folder with a capture filter on the run's TCP
ports (so nothing else on loopback is recorded) and a section-header comment
naming the run (``examday run <name>``). Ready when dumpcap reports the file
open; stopped with SIGINT so the last block is flushed. Packets dropped by
the kernel are counted (dumpcap's closing line) into ``capture.json``.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from ..errors import UserError

__all__ = ["LoopbackCapture", "CAPTURE_FILE", "capture_run"]

CAPTURE_FILE = "capture.pcapng"


class LoopbackCapture:
    """Context manager around ``dumpcap -i lo -f 'tcp port A or tcp port B' -w RUN/capture.pcapng``."""

    def __init__(self, run_dir: str | Path, ports: list[int], run_name: str | None = None, iface: str = "lo",
                 snaplen: int = 262144):
        if shutil.which("dumpcap") is None:
            raise UserError("--capture: dumpcap is not installed; run scripts/system-packages.sh "
                            "(apt-get install wireshark-common)")
        if not ports:
            raise UserError("--capture: the run has no TCP ports to capture")
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / CAPTURE_FILE
        self.ports = sorted(set(int(p) for p in ports))
        self.name = run_name or self.run_dir.name
        self.iface, self.snaplen = iface, snaplen
        self.proc: subprocess.Popen | None = None
        self.stats: dict = {}

    @property
    def filter(self) -> str:
        return " or ".join(f"tcp port {p}" for p in self.ports)

    def __enter__(self) -> "LoopbackCapture":
        self.run_dir.mkdir(parents=True, exist_ok=True)
        argv = ["dumpcap", "-i", self.iface, "-f", self.filter, "-s", str(self.snaplen), "-B", "64", "-n", "-q",
                "--capture-comment", f"examday run {self.name}", "-w", str(self.path)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # dumpcap has opened the file once it has written the header
            if self.proc.poll() is not None:
                raise UserError(f"--capture: dumpcap exited {self.proc.returncode}: {self.proc.stderr.read().strip()}")
            if self.path.exists() and self.path.stat().st_size > 0:
                time.sleep(0.2)  # the filter is attached before the header is written; a little margin
                return self
            time.sleep(0.05)
        self.close()
        raise UserError("--capture: dumpcap did not start within 15 s")

    def close(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            time.sleep(0.3)  # let the last packets reach the ring buffer
            self.proc.send_signal(signal.SIGINT)
            try:
                _, err = self.proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                _, err = self.proc.communicate()
        else:
            err = self.proc.stderr.read()
        m = re.search(r"Packets received/dropped on interface '[^']*': (\d+)/(\d+)", err or "")
        self.stats = {"file": CAPTURE_FILE, "filter": self.filter, "interface": self.iface, "comment":
                      f"examday run {self.name}", "packets": int(m.group(1)) if m else None,
                      "dropped": int(m.group(2)) if m else None}
        (self.run_dir / "capture.json").write_text(json.dumps(self.stats, indent=2) + "\n")
        self.proc = None

    def __exit__(self, *exc: object) -> None:
        self.close()


def capture_run(enabled: bool, run_dir: str | Path, urls) -> "LoopbackCapture | contextlib.nullcontext":
    """The ``load --capture`` hook: a capture on the ports of the run's target URLs, or nothing."""
    import urllib.parse

    if not enabled:
        return contextlib.nullcontext()
    ports = []
    for url in urls:
        u = urllib.parse.urlsplit(str(url))
        if u.scheme in ("http", "https") and u.hostname:
            ports.append(u.port or (443 if u.scheme == "https" else 80))
    return LoopbackCapture(run_dir, ports)
