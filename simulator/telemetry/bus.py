"""The MQTT side shared by publisher, watcher and replayer: broker URLs, the topic tree, clients.

A broker URL is ``mqtt://[user[:password]@]host[:port]/PREFIX`` (``mqtts://``
for TLS, default ports 1883/8883). Query options: ``ca=FILE`` (CA bundle for
TLS), ``cert=FILE&key=FILE`` (client certificate), ``insecure=1`` (no
hostname check), ``client_id=ID``. ``EXAMDAY_MQTT_PASSWORD`` supplies the
password when the URL has none, so it need not appear in ``ps``.

Topic tree (docs/telemetry.md), every payload JSON with ``"v": VERSION``::

    PREFIX/run/<run-id>/start       retained  run start: manifest, plan per site
    PREFIX/run/<run-id>/status      retained  running | finished | ... | lost (last will)
    PREFIX/run/<run-id>/site/<site> retained  per-second aggregate of one site, by step
    PREFIX/run/<run-id>/step/<step> retained  per-second aggregate of one step, all sites
    PREFIX/run/<run-id>/resources   retained  latest sample of every resource
    PREFIX/run/<run-id>/slo         retained  provisional SLO verdicts over the rows so far
    PREFIX/run/<run-id>/trace       stream    the step/resource rows themselves (for --record)
    PREFIX/run/<run-id>/end         retained  run end: status, final counts, telemetry drops

Retained state topics at QoS 1 let a dashboard that connects late see the
current state at once (MQTT 3.1.1 §3.3.1.3); the trace stream is QoS 1, not
retained (a recorder must be subscribed before the run starts).
"""

from __future__ import annotations

import os
import ssl
import urllib.parse
from dataclasses import dataclass, field

from ..errors import UserError

__all__ = ["VERSION", "BrokerUrl", "parse_url", "run_topic", "client_kwargs"]

#: Payload format version (the ``v`` field of every message).
VERSION = 1


@dataclass(frozen=True)
class BrokerUrl:
    """A parsed ``mqtt://`` URL."""

    host: str
    port: int
    prefix: str  # topic prefix without trailing slash, may contain '/'
    tls: bool = False
    username: str | None = None
    password: str | None = None
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    insecure: bool = False
    client_id: str | None = None
    text: str = field(default="", compare=False)  # the URL as given, without password

    def topic(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)


def parse_url(text: str, what: str = "--mqtt") -> BrokerUrl:
    """``mqtt://user:pw@host:1883/examday`` -> BrokerUrl; a clear one-line UserError otherwise."""
    u = urllib.parse.urlsplit(text)
    if u.scheme not in ("mqtt", "mqtts") or not u.hostname:
        raise UserError(f"{what} {text!r}: write mqtt://HOST[:PORT]/PREFIX (or mqtts:// for TLS)")
    try:
        port = u.port or (8883 if u.scheme == "mqtts" else 1883)
    except ValueError:
        raise UserError(f"{what} {text!r}: the port is not a number in 1..65535") from None
    prefix = u.path.strip("/")
    if any(c in prefix for c in "+#") or "//" in prefix:
        raise UserError(f"{what} {text!r}: the prefix may not contain '+', '#' or empty levels")
    q = dict(urllib.parse.parse_qsl(u.query))
    unknown = set(q) - {"ca", "cert", "key", "insecure", "client_id"}
    if unknown:
        raise UserError(f"{what} {text!r}: unknown option {sorted(unknown)[0]!r} "
                        "(known: ca, cert, key, insecure, client_id)")
    password = urllib.parse.unquote(u.password) if u.password else os.environ.get("EXAMDAY_MQTT_PASSWORD")
    shown = text.replace(f":{u.password}@", ":***@") if u.password else text
    return BrokerUrl(u.hostname, port, prefix, u.scheme == "mqtts",
                     urllib.parse.unquote(u.username) if u.username else None, password,
                     q.get("ca"), q.get("cert"), q.get("key"), q.get("insecure") in ("1", "true", "yes"),
                     q.get("client_id"), shown)


def run_topic(url: BrokerUrl, run: str, *parts: str) -> str:
    """``PREFIX/run/<run>/<parts…>``; '/', '+' and '#' in names are replaced (they are topic syntax)."""
    clean = [p.replace("/", "_").replace("+", "_").replace("#", "_") for p in (run, *parts)]
    return url.topic("run", *clean)


def client_kwargs(url: BrokerUrl, role: str) -> dict:
    """Keyword arguments for ``aiomqtt.Client``: a client id per process (role + host + pid)."""
    import socket

    ident = url.client_id or f"examday-{role}-{socket.gethostname()}-{os.getpid()}"
    kw: dict = {"hostname": url.host, "port": url.port, "identifier": ident[:64],
                "username": url.username, "password": url.password, "keepalive": 10, "timeout": 5.0}
    if url.tls:
        ctx = ssl.create_default_context(cafile=url.ca)
        if url.cert:
            ctx.load_cert_chain(url.cert, url.key)
        if url.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        kw["tls_context"] = ctx
    return kw
