"""A private network for the storm: two network namespaces joined by one veth pair per site.

The server namespace holds the DHCP/DNS server (``10.<64+i>.0.1/16`` on site
*i*'s link); the client namespace holds the storm's layer-2 sockets. Nothing
is routed out, so a storm never touches a real network. Names carry a unique
prefix (``ed13-<pid>-<n>``) and are removed on exit, with every process still
inside them (``ip netns pids``).
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass

from ..errors import UserError

__all__ = ["SiteLink", "Lab", "need_root"]

_serial = itertools.count(1)
MAX_SITES = 150


@dataclass(frozen=True, slots=True)
class SiteLink:
    """One site's link: the client-side interface and the server's address on it."""

    site: str
    client_if: str
    server_if: str
    server_ip: str
    prefix: str  # "10.64" -> pool addresses 10.64.x.y

    def address(self, n: int) -> str:
        """The n-th pool address (n from 0), starting at .0.10."""
        n += 10
        return f"{self.prefix}.{n // 256}.{n % 256}"


def need_root(what: str) -> None:
    """Refuse clearly when namespaces cannot be created (not root / no CAP_NET_ADMIN / no ip)."""
    if shutil.which("ip") is None:
        raise UserError(f"{what}: the 'ip' command (iproute2) is missing; run scripts/system-packages.sh")
    if os.geteuid() != 0:
        raise UserError(f"{what}: needs root (CAP_NET_ADMIN) to create network namespaces and a veth pair; "
                        "run as root, or against a real interface with --interface")


def _ip(*args: str) -> None:
    r = subprocess.run(["ip", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise UserError(f"ip {' '.join(args)}: {r.stderr.strip() or 'failed'}")


class Lab:
    """Context manager: create the namespaces and links, tear everything down on exit."""

    def __init__(self, sites: list[str]):
        if len(sites) > MAX_SITES:
            raise UserError(f"storm: {len(sites)} sites; a storm lab has at most {MAX_SITES} (one /16 each)")
        self.tag = f"ed13-{os.getpid()}-{next(_serial)}"
        self.server_ns = f"{self.tag}-s"
        self.client_ns = f"{self.tag}-c"
        short = f"ed{os.getpid():x}-{next(_serial) % 100}"  # interface names: at most 15 characters
        self.links = [SiteLink(s, f"{short}c{i}", f"{short}s{i}", f"10.{64 + i}.0.1", f"10.{64 + i}")
                      for i, s in enumerate(sites)]
        self._made: list[str] = []

    def __enter__(self) -> "Lab":
        try:
            for ns in (self.server_ns, self.client_ns):
                _ip("netns", "add", ns)
                self._made.append(ns)
                _ip("-n", ns, "link", "set", "lo", "up")
            for link in self.links:
                _ip("link", "add", link.client_if, "type", "veth", "peer", "name", link.server_if)
                _ip("link", "set", link.client_if, "netns", self.client_ns)
                _ip("link", "set", link.server_if, "netns", self.server_ns)
                _ip("-n", self.server_ns, "addr", "add", f"{link.server_ip}/16", "dev", link.server_if)
                _ip("-n", self.server_ns, "link", "set", link.server_if, "up")
                _ip("-n", self.client_ns, "link", "set", link.client_if, "up")
        except BaseException:
            self.close()
            raise
        return self

    def exec_prefix(self, ns: str) -> list[str]:
        return ["ip", "netns", "exec", ns]

    def close(self) -> None:
        """Kill what still runs inside, delete the namespaces (the veths go with them)."""
        for ns in reversed(self._made):
            r = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
            for pid in r.stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self._made.clear()

    def __exit__(self, *exc: object) -> None:
        self.close()
