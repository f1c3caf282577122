"""Units at the YAML edge: "1 Gbit/s", "45 s", "35 MB", "09:00", "0.5 %" -> SI floats.

Internally everything is SI: seconds, bytes, bit/s, fractions. Byte and rate
prefixes are decimal (SI, as network vendors quote them); binary prefixes
(KiB, MiB, GiB) are accepted for sizes. Each parser raises ``UnitError`` with
a message a person can act on.
"""

from __future__ import annotations

import re

__all__ = [
    "UnitError",
    "parse_bitrate",
    "parse_bytes",
    "parse_duration",
    "parse_clock",
    "parse_fraction",
    "format_duration",
    "format_bitrate",
    "format_bytes",
    "format_clock",
]


class UnitError(ValueError):
    """A value with a missing or wrong unit."""


_NUM_UNIT = re.compile(r"^\s*((?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)\s*([A-Za-zµ/%]*)\s*$")

_SI = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}

_BITRATE_UNITS = {f"{p}bit/s": m for p, m in _SI.items() if p != "K"}
_BITRATE_UNITS.update({f"{p}bps": m for p, m in _SI.items() if p != "K"})
_BITRATE_UNITS.update({"Kbit/s": 1e3, "Kbps": 1e3})

_BYTE_UNITS = {f"{p}B": m for p, m in _SI.items()}
_BYTE_UNITS.update({"KiB": 2.0**10, "MiB": 2.0**20, "GiB": 2.0**30, "bytes": 1.0, "byte": 1.0})

_DURATION_UNITS = {
    "us": 1e-6, "µs": 1e-6, "ms": 1e-3,
    "s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0,
    "min": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hour": 3600.0, "hours": 3600.0,
}


def _split(text: object, what: str, example: str) -> tuple[float, str]:
    if isinstance(text, bool):
        raise UnitError(f"expected {what} such as '{example}', got {text!r}")
    if isinstance(text, (int, float)):
        if text == 0:
            return 0.0, ""
        raise UnitError(f"{text!r} has no unit; write {what} such as '{example}'")
    if not isinstance(text, str):
        raise UnitError(f"expected {what} such as '{example}', got {type(text).__name__}")
    m = _NUM_UNIT.match(text)
    if not m:
        raise UnitError(f"cannot read {text!r} as {what}; write it like '{example}'")
    return float(m.group(1)), m.group(2)


def _lookup(text: object, what: str, example: str, units: dict[str, float], allow_bare: bool = False) -> float:
    value, unit = _split(text, what, example)
    if unit == "" and (allow_bare or value == 0):
        return value
    if unit not in units:
        known = ", ".join(sorted({u for u in units if u}, key=lambda u: units[u]))
        raise UnitError(f"unknown unit {unit!r} in {text!r} for {what}; use one of: {known}"
                        if unit else f"{text!r} has no unit; write {what} such as '{example}'")
    return value * units[unit]


def parse_bitrate(text: object) -> float:
    """'1 Gbit/s' -> 1e9 (bit/s)."""
    return _lookup(text, "a bit rate", "100 Mbit/s", _BITRATE_UNITS)


def parse_bytes(text: object) -> float:
    """'35 MB' -> 35e6 (bytes). Bare integers are byte counts."""
    if isinstance(text, int) and not isinstance(text, bool) and text >= 0:
        return float(text)
    return _lookup(text, "a size", "35 MB", _BYTE_UNITS)


def parse_duration(text: object) -> float:
    """'4 min' -> 240.0 (seconds). Also 'mm:ss' is not accepted: say the unit."""
    return _lookup(text, "a duration", "45 s", _DURATION_UNITS)


def parse_clock(text: object) -> float:
    """'09:00' or '09:00:30' -> seconds since midnight."""
    if not isinstance(text, str):
        # YAML 1.1 reads 09:00 unquoted as a sexagesimal int (540): accept it as minutes.
        if isinstance(text, int) and not isinstance(text, bool) and 0 <= text < 24 * 60:
            return float(text * 60)
        raise UnitError(f"expected a clock time such as '09:00', got {text!r}")
    m = re.fullmatch(r"\s*([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}(?:\.[0-9]+)?))?\s*", text)
    if not m:
        raise UnitError(f"cannot read {text!r} as a clock time; write it like '09:00'")
    h, mi, s = int(m.group(1)), int(m.group(2)), float(m.group(3) or 0)
    if h > 23 or mi > 59 or s >= 60:
        raise UnitError(f"{text!r} is not a valid clock time (hours 0-23, minutes 0-59)")
    return h * 3600.0 + mi * 60.0 + s


def parse_fraction(text: object) -> float:
    """'0.5 %' -> 0.005; a bare number between 0 and 1 is taken as a fraction."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if 0 <= text <= 1:
            return float(text)
        raise UnitError(f"{text!r} is not a fraction; write a percentage such as '0.5 %'")
    value, unit = _split(text, "a percentage", "0.5 %")
    if unit == "%":
        frac = value / 100.0
    elif unit == "" and value <= 1:
        frac = value
    else:
        raise UnitError(f"cannot read {text!r} as a percentage; write it like '0.5 %'")
    if frac > 1:
        raise UnitError(f"{text!r} is more than 100 %")
    return frac


def format_duration(seconds: float) -> str:
    if seconds != seconds:  # NaN
        return "n/a"
    if abs(seconds) < 1:
        return f"{seconds * 1e3:.0f} ms"
    if abs(seconds) < 120:
        return f"{seconds:.1f} s"
    if abs(seconds) < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def format_bitrate(bps: float) -> str:
    for unit, mult in (("Gbit/s", 1e9), ("Mbit/s", 1e6), ("kbit/s", 1e3)):
        if abs(bps) >= mult:
            return f"{bps / mult:.3g} {unit}"
    return f"{bps:.3g} bit/s"


def format_bytes(n: float) -> str:
    for unit, mult in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= mult:
            return f"{n / mult:.3g} {unit}"
    return f"{n:.0f} B"


def format_clock(seconds: float) -> str:
    seconds = round(seconds)
    return f"{int(seconds // 3600) % 24:02d}:{int(seconds % 3600 // 60):02d}" + (
        f":{int(seconds % 60):02d}" if seconds % 60 else "")
