import math

import pytest

from simulator.units import (UnitError, format_clock, parse_bitrate, parse_bytes, parse_clock, parse_duration,
                             parse_fraction)


@pytest.mark.parametrize("text,value", [
    ("1 Gbit/s", 1e9), ("500 kbit/s", 500e3), ("100Mbit/s", 100e6), ("2.5 Gbps", 2.5e9), ("0", 0.0),
    ("1e3 Mbit/s", 1e9),
])
def test_bitrate(text, value):
    assert parse_bitrate(text) == pytest.approx(value)


@pytest.mark.parametrize("text,value", [
    ("45 s", 45.0), ("4 min", 240.0), ("300 ms", 0.3), ("1.5 h", 5400.0), ("2 minutes", 120.0), ("10 µs", 1e-5),
])
def test_duration(text, value):
    assert parse_duration(text) == pytest.approx(value)


@pytest.mark.parametrize("text,value", [
    ("35 MB", 35e6), ("4 kB", 4e3), ("1 MiB", 2**20), (1500, 1500.0), ("2 GB", 2e9),
])
def test_bytes(text, value):
    assert parse_bytes(text) == pytest.approx(value)


def test_clock_and_fraction():
    assert parse_clock("09:00") == 9 * 3600
    assert parse_clock("09:05:30") == 9 * 3600 + 5 * 60 + 30
    assert parse_clock(540) == 9 * 3600  # YAML 1.1 reads unquoted 09:00 as 540
    assert format_clock(9 * 3600 + 300) == "09:05"
    assert parse_fraction("0.5 %") == pytest.approx(0.005)
    assert parse_fraction("95%") == pytest.approx(0.95)
    assert parse_fraction(0.25) == 0.25


@pytest.mark.parametrize("parse,bad,hint", [
    (parse_bitrate, "1 Gbyte/s", "unknown unit"),
    (parse_bitrate, 1000, "has no unit"),
    (parse_bitrate, "fast", "cannot read"),
    (parse_duration, "4 mins", "unknown unit"),
    (parse_duration, "10", "has no unit"),
    (parse_bytes, "35 Mb/s", "unknown unit"),
    (parse_clock, "25:00", "not a valid clock"),
    (parse_clock, "9h", "cannot read"),
    (parse_fraction, "150 %", "more than 100"),
    (parse_fraction, 3, "not a fraction"),
    (parse_bitrate, True, "expected"),
])
def test_bad_units_say_what_is_wrong(parse, bad, hint):
    with pytest.raises(UnitError, match=hint):
        parse(bad)


def test_nan_never_parses():
    with pytest.raises(UnitError):
        parse_duration("nan s")
    assert not math.isnan(parse_duration("0 s"))
