"""Who may be loaded: the scenario's targets, loopback by default.

A live run sends real traffic. It only ever talks to the URLs in the
scenario's ``targets`` block; a target whose host is not a loopback address
is refused unless the host is listed in ``targets.allowed_hosts`` *and* the
operator passed ``--i-own-these-targets``. Names are resolved, so
``localhost`` is loopback but a name that resolves elsewhere is not.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.parse
from dataclasses import dataclass

from ..errors import UserError

__all__ = ["TARGET_KEYS", "target_urls", "is_loopback", "check_targets", "EgressPolicy", "OffTarget", "same_targets"]

TARGET_KEYS = ("idp", "platform", "scim", "ss12000")


def target_urls(targets) -> dict[str, str]:
    """The target URLs of a ``Targets`` object (or a dict) by role."""
    get = targets.get if isinstance(targets, dict) else (lambda k: getattr(targets, k))
    return {k: str(get(k)) for k in TARGET_KEYS}


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    addrs = {i[4][0] for i in infos}
    return bool(addrs) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addrs)


def check_targets(targets, *, i_own_these_targets: bool, where: str = "targets") -> list[str]:
    """Raise UserError for a target the run may not load; return the non-loopback hosts allowed."""
    allowed = {h.lower() for h in (targets.get("allowed_hosts", ()) if isinstance(targets, dict)
                                   else targets.allowed_hosts)}
    external: list[str] = []
    for role, url in target_urls(targets).items():
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UserError(f"{where}.{role}: {url!r} is not an http(s) URL; write e.g. http://127.0.0.1:8400/{role}")
        host = parts.hostname.lower()
        if is_loopback(host):
            continue
        if host not in allowed:
            raise UserError(f"{where}.{role}: {host} is not a loopback address and not in {where}.allowed_hosts; "
                            "a live run only loads hosts you list there (and confirm with --i-own-these-targets)")
        if not i_own_these_targets:
            raise UserError(f"{where}.{role}: refusing to send load to {host} (not loopback) without "
                            "--i-own-these-targets; pass it only for systems you own or may test")
        external.append(host)
    return sorted(set(external))


# ---------------------------------------------------------------- egress: where a connection may go

class OffTarget(Exception):
    """A URL outside the run's targets: the step fails with ``off-target <host>``, nothing is contacted."""

    retryable = False

    def __init__(self, host: str):
        super().__init__(f"off-target {host}")
        self.host, self.reason = host, f"off-target {host}"


_DEFAULT_PORT = {"http": 80, "https": 443}


def _resolve(host: str) -> tuple[str, ...]:
    try:
        return (str(ipaddress.ip_address(host.strip("[]"))),)
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return ()
    return tuple(sorted({i[4][0].split("%")[0] for i in infos}))


@dataclass(frozen=True)
class EgressPolicy:
    """Every connection of a live run, checked where it is made (``http.Browser``).

    On target: a host named in a target URL, on that URL's port, or a host in
    ``targets.allowed_hosts`` (any port). Each such host is resolved **once**,
    when the run starts (``pin``); connections go to those addresses only, so
    a DNS answer that changes mid-run (rebinding) is never followed. Anything
    else — a redirect, a form action, a manifest part or autosave URL the
    server names — raises ``OffTarget`` before a socket is opened. Passwords
    go only to the IdP target's origin (``credentials_ok``).
    """

    pinned: dict  # host -> addresses, resolved at run start
    ports: dict  # host -> ports allowed; a host in any_port may use any
    any_port: tuple = ()
    idp_origin: tuple = ()  # (scheme, host, port) of targets.idp

    @classmethod
    def pin(cls, targets, *, i_own_these_targets: bool = False) -> "EgressPolicy":
        """Resolve the targets' hosts (and allowed hosts) now; loopback-only unless the operator owns them."""
        allowed = [h.lower() for h in (targets.get("allowed_hosts", ()) if isinstance(targets, dict)
                                       else targets.allowed_hosts)]
        pinned: dict[str, tuple[str, ...]] = {}
        ports: dict[str, list[int]] = {}
        for url in target_urls(targets).values():
            p = urllib.parse.urlsplit(url)
            host = (p.hostname or "").lower()
            ports.setdefault(host, []).append(p.port or _DEFAULT_PORT.get(p.scheme, 80))
        any_port = []
        for host in allowed:
            if i_own_these_targets or is_loopback(host):
                any_port.append(host)
        for host in set(ports) | set(any_port):
            addrs = _resolve(host)
            if not i_own_these_targets or host not in allowed:
                addrs = tuple(a for a in addrs if ipaddress.ip_address(a).is_loopback)
            pinned[host] = addrs
        idp = urllib.parse.urlsplit(target_urls(targets)["idp"])
        return cls(pinned=pinned, ports={h: sorted(set(v)) for h, v in ports.items()}, any_port=tuple(any_port),
                   idp_origin=(idp.scheme, (idp.hostname or "").lower(), idp.port or _DEFAULT_PORT.get(idp.scheme)))

    def endpoint(self, url: str) -> tuple[str, str, int, str]:
        """(scheme, pinned address, port, host) to connect to for ``url``; OffTarget when it may not be."""
        p = urllib.parse.urlsplit(url)
        host = (p.hostname or "").lower()
        try:
            port = p.port or _DEFAULT_PORT.get(p.scheme)
        except ValueError:
            port = None
        addrs = self.pinned.get(host)
        if p.scheme not in _DEFAULT_PORT or not addrs or port is None or \
                (host not in self.any_port and port not in self.ports.get(host, ())):
            raise OffTarget(host if port in (None, _DEFAULT_PORT.get(p.scheme)) else f"{host}:{port}")
        return p.scheme, addrs[0], port, host

    def credentials_ok(self, url: str) -> bool:
        p = urllib.parse.urlsplit(url)
        return (p.scheme, (p.hostname or "").lower(), p.port or _DEFAULT_PORT.get(p.scheme)) == tuple(self.idp_origin)

    def to_dict(self) -> dict:
        return {"pinned": {h: list(a) for h, a in self.pinned.items()}, "ports": self.ports,
                "any_port": list(self.any_port), "idp_origin": list(self.idp_origin)}

    @classmethod
    def from_dict(cls, d: dict) -> "EgressPolicy":
        return cls(pinned={h: tuple(a) for h, a in d["pinned"].items()}, ports={h: list(p) for h, p in d["ports"].items()},
                   any_port=tuple(d.get("any_port", ())), idp_origin=tuple(d.get("idp_origin", ())))


def same_targets(a, b) -> str:
    """'' when two target blocks name the same URLs, allowed hosts and login form, else what differs."""
    def norm(t):
        get = t.get if isinstance(t, dict) else (lambda k, d=None: getattr(t, k, d))
        lf = get("login_form") or {}
        lf = lf if isinstance(lf, dict) else lf.model_dump()
        return {**{k: str(v).rstrip("/") for k, v in target_urls(t).items()},
                "allowed_hosts": sorted(h.lower() for h in (get("allowed_hosts") or ())), "login_form": dict(lf)}
    na, nb = norm(a), norm(b)
    return ", ".join(k for k in na if na[k] != nb.get(k))
