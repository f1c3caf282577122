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

from ..errors import UserError

__all__ = ["TARGET_KEYS", "target_urls", "is_loopback", "check_targets"]

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
