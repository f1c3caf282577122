import math

import pytest

from simulator.analysis.slo import evaluate, parse_name, parse_override
from simulator.analysis.summary import analyse
from simulator.errors import UserError
from simulator.trace import TraceWriter

from synth import manifest, rec


@pytest.mark.parametrize("name,kind,subject,q", [
    ("ready_p95", "percentile", "ready", 95.0), ("login_p99", "percentile", "login", 99.0),
    ("download_p999", "percentile", "download", 99.9), ("join_p99.9", "percentile", "join", 99.9),
    ("error_rate", "error_rate", "", math.nan), ("login_error_rate", "error_rate", "login", math.nan),
    ("ready_by_0905", "ready_by", "ready", math.nan),
])
def test_parse_name(name, kind, subject, q):
    s = parse_name(name)
    assert (s.kind, s.subject) == (kind, subject)
    assert (math.isnan(q) and math.isnan(s.q)) or s.q == q


def test_ready_by_clock():
    assert parse_name("ready_by_0905").clock_s == 9 * 3600 + 300
    assert parse_name("ready_by_0905").higher_is_better


@pytest.mark.parametrize("bad", ["ready_p0", "fetch_p95", "ready_by_2561", "latency", "ready_p101", "login_p"])
def test_unknown_names_are_user_errors(bad):
    with pytest.raises(UserError):
        parse_name(bad)


def test_parse_override_units():
    assert parse_override("ready_p95=3 min") == ("ready_p95", 180.0)
    assert parse_override("login_p99 = 800 ms") == ("login_p99", pytest.approx(0.8))
    assert parse_override("error_rate=0.5 %") == ("error_rate", pytest.approx(0.005))
    assert parse_override("ready_by_0905=95 %") == ("ready_by_0905", pytest.approx(0.95))
    for bad in ("ready_p95", "ready_p95=3", "ready_p95=3 parsecs", "ready_by_0905=120 %", "nope=1 s"):
        with pytest.raises(UserError):
            parse_override(bad)


@pytest.fixture
def run(tmp_path):
    """10 pupils, planned at 0; pupil i is ready at 10*(i+1) s; pupil 9 never downloads; 1 of 11 logins fail."""
    with TraceWriter(tmp_path) as w:
        for i in range(10):
            w.step(rec(f"d{i}", "login", 0, 1 + i))
            if i < 9:
                w.step(rec(f"d{i}", "download", 1 + i, 10 * (i + 1)))
        w.step(rec("d9", "login", 11, 12, ok=False, error="timeout"))
    manifest(tmp_path, t0_clock=9 * 3600.0, slo={"ready_p50": 60.0})
    return tmp_path


def test_verdicts(run):
    a = analyse(run)
    got = {v.name: v for v in evaluate(a, {
        "ready_p50": 50.0, "ready_p90": 90.0, "ready_p95": 1e9, "login_p90": 9.0, "login_p50": 4.0,
        "error_rate": 0.1, "login_error_rate": 1 / 11, "ready_by_0901": 0.9, "ready_by_0902": 0.9,
    })}
    assert got["ready_p50"].observed == 50 and got["ready_p50"].ok
    assert got["ready_p90"].observed == 90 and got["ready_p90"].ok
    assert math.isinf(got["ready_p95"].observed) and not got["ready_p95"].ok  # 1 of 10 never ready
    assert got["login_p90"].observed == 9 and got["login_p90"].ok
    assert got["login_p50"].observed == 5 and not got["login_p50"].ok
    assert got["error_rate"].observed == pytest.approx(1 / 20) and got["error_rate"].ok
    assert got["login_error_rate"].ok
    assert got["ready_by_0901"].observed == pytest.approx(0.6) and not got["ready_by_0901"].ok
    assert got["ready_by_0902"].observed == pytest.approx(0.9) and got["ready_by_0902"].ok


def test_missing_data_breaches(run):
    a = analyse(run)
    v = {x.name: x for x in evaluate(a, {"assertion_p95": 10.0, "join_error_rate": 0.5})}
    assert not v["assertion_p95"].ok and "no successful assertion" in v["assertion_p95"].message
    assert not v["join_error_rate"].ok


def test_manifest_slo_and_overrides(run):
    a = analyse(run)
    assert [v.name for v in a.verdicts] == ["ready_p50"] and a.exit_code == 0
    a = analyse(run, {"ready_p50": 30.0})
    assert a.exit_code == 1 and not a.verdicts[0].ok and a.verdicts[0].threshold == 30.0


def test_ready_by_uses_t0_clock(run):
    manifest(run, t0_clock=8 * 3600.0 + 59 * 60)  # exam started 08:59
    a = analyse(run, {"ready_by_0900": 0.6})
    assert a.verdicts[0].observed == pytest.approx(0.6) and a.verdicts[0].ok


def test_bad_manifest_threshold_is_user_error(run):
    manifest(run, slo={"ready_p95": "three minutes"})
    with pytest.raises(UserError):
        analyse(run)
