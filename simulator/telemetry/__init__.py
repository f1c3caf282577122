"""Live telemetry over MQTT (issue 14): publish a run as it happens, watch it, take in the APs' own numbers.

- ``tap`` — inside the Locust process: mirror trace rows to a unix datagram
  socket, never blocking (drop and count);
- ``publisher`` — its own asyncio process: per-second aggregates on the bus
  (aiomqtt), AP telemetry in;
- ``session`` — the CLI side (``--mqtt`` on ``load``/``simulate``);
- ``watcher`` — ``examday watch``: the dashboard, ``--once``, ``--record``;
- ``apfeed`` — AP messages <-> ``ap-telemetry`` rows, replay from a model run.

See docs/telemetry.md for the topic tree and the payload JSON Schema.
"""

from __future__ import annotations

__all__ = ["add_mqtt_options", "check_mqtt_options", "publishing", "tapped"]


def add_mqtt_options(p, ap: bool = True, speed: bool = False) -> None:
    """``--mqtt URL`` (and ``--ap-telemetry FILTER`` / ``--speed N``) for a running verb."""
    p.add_argument("--mqtt", default=None, metavar="URL",
                   help="publish the run live on MQTT: mqtt://[user[:pw]@]HOST[:PORT]/PREFIX (mqtts:// for TLS); "
                        "see docs/telemetry.md")
    if ap:
        p.add_argument("--ap-telemetry", default=None, metavar="TOPIC_FILTER",
                       help="with --mqtt: take in AP/controller telemetry on this topic filter (mapped by the "
                            "scenario's telemetry: block) as ap-telemetry resource rows")
    if speed:
        p.add_argument("--speed", type=float, default=1.0, metavar="N",
                       help="with --mqtt: replay the model's timeline N times faster than real time (default 1)")


def check_mqtt_options(args) -> None:
    """Bad URLs / combinations are one-line errors before any work starts."""
    from ..errors import UserError
    from .bus import parse_url

    if args.mqtt:
        parse_url(args.mqtt)
    if getattr(args, "ap_telemetry", None) and not args.mqtt:
        raise UserError("--ap-telemetry needs --mqtt (the broker the AP telemetry is published on)")
    if getattr(args, "speed", 1.0) <= 0:
        raise UserError("--speed must be > 0")


def publishing(*args, **kwargs):
    from .session import publishing as _publishing
    return _publishing(*args, **kwargs)


def tapped(writer, worker: str):
    from .tap import tapped as _tapped
    return _tapped(writer, worker)
