"""A real dnsmasq (Debian's package) inside the lab's server namespace: DHCP pools and the platform's names.

One ``--dhcp-range`` per site link with the site's pool size and lease time
(dnsmasq's minimum lease is 2 min), ``--dhcp-lease-max`` = the sum of the
pools, no ping check before an offer (``--no-ping``: the storm's clients do
not answer ICMP), authoritative. DNS answers ``--host-record`` names only
(no upstream). ``reply_delay`` is dnsmasq's ``--dhcp-reply-delay`` (whole
seconds before each OFFER): a server with a known delay, for calibration.
"""

from __future__ import annotations

import ctypes
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from .lab import Lab

__all__ = ["Pool", "DhcpServer", "die_with_parent"]

MIN_LEASE_S = 120


@dataclass(frozen=True, slots=True)
class Pool:
    size: int
    lease_s: float


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM if examday dies (prctl PR_SET_PDEATHSIG; survives exec)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


class DhcpServer:
    """Context manager: dnsmasq in ``lab.server_ns``, logging to ``work/dnsmasq.log``."""

    def __init__(self, lab: Lab, pools: list[Pool], work: Path, names: dict[str, str] | None = None,
                 reply_delay: int = 0):
        if shutil.which("dnsmasq") is None:
            raise UserError("storm: dnsmasq is not installed; run scripts/system-packages.sh "
                            "(apt-get install dnsmasq)")
        self.lab, self.pools, self.work = lab, pools, Path(work)
        self.names = names or {}
        self.reply_delay = reply_delay
        self.proc: subprocess.Popen | None = None
        self.log = self.work / "dnsmasq.log"

    def argv(self) -> list[str]:
        a = ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-hosts", "--no-resolv",
             "--bind-interfaces", "--no-ping", "--dhcp-authoritative", "--user=root", "--pid-file",
             f"--dhcp-leasefile={self.work / 'dnsmasq.leases'}", f"--log-facility={self.log}",
             "--log-dhcp", "--log-queries", f"--dhcp-lease-max={sum(p.size for p in self.pools) + 1}"]
        for link, pool in zip(self.lab.links, self.pools):
            a += [f"--interface={link.server_if}",
                  f"--dhcp-range={link.address(0)},{link.address(pool.size - 1)},255.255.0.0,"
                  f"{max(MIN_LEASE_S, int(pool.lease_s))}"]
        for name, ip in self.names.items():
            a.append(f"--host-record={name},{ip}")
        if self.reply_delay:
            a.append(f"--dhcp-reply-delay={int(self.reply_delay)}")
        return a

    def __enter__(self) -> "DhcpServer":
        self.work.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(self.lab.exec_prefix(self.lab.server_ns) + self.argv(),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                                     preexec_fn=die_with_parent)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # ready when it logs its DHCP ranges
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace").strip()
                raise UserError(f"storm: dnsmasq exited {self.proc.returncode}: {err}")
            if self.log.exists() and "DHCP, IP range" in self.log.read_text(errors="replace"):
                return self
            time.sleep(0.05)
        self.close()
        raise UserError("storm: dnsmasq did not come up within 10 s")

    @property
    def version(self) -> str:
        r = subprocess.run(["dnsmasq", "--version"], capture_output=True, text=True)
        return r.stdout.split("\n", 1)[0].split("  ")[0]

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __exit__(self, *exc: object) -> None:
        self.close()
