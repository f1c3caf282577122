import math
from fractions import Fraction

import numpy as np
import pytest

from simulator.analysis.stats import QUANTILES, percentiles, readiness, step_stats
from simulator.trace import read_steps, TraceWriter

from synth import rec


def numpy_ref(v, q):
    return float(np.percentile(v, q, method="inverted_cdf"))


def exact_rank(v, q):
    """Nearest rank in exact arithmetic: the ceil(q/100 * n)-th smallest value."""
    n = len(v)
    rank = max(1, math.ceil(Fraction(str(q)) * n / 100))
    return float(np.sort(v)[rank - 1])


@pytest.mark.parametrize("n", [1, 2, 3, 10, 101, 1000, 1_000_000])
def test_percentiles_match_numpy(n):
    v = np.random.default_rng(n).lognormal(1, 1, n)
    p = percentiles(v)
    assert p.count == n
    for q in QUANTILES:
        assert p[f"p{q:g}"] == exact_rank(v, q)
        if (Fraction(str(q)) * n / 100).denominator != 1:
            # numpy agrees except where q*n/100 is a whole number and its float rounding
            # (99.9/100*1000 = 999.0000000000001) moves numpy one rank up
            assert p[f"p{q:g}"] == numpy_ref(v, q)
    assert p["max"] == v.max()
    vals = list(p.values.values())
    assert vals == sorted(vals)  # never p100 < p99
    assert p["p99.9"] <= p["max"]
    assert p.mean == pytest.approx(v.mean())


def test_percentiles_small_samples_exact():
    assert percentiles(np.array([7.0])).values == {k: 7.0 for k in ("p50", "p90", "p95", "p99", "p99.9", "max")}
    p = percentiles(np.array([3.0, 1.0]))
    assert p["p50"] == 1.0 and p["p90"] == 3.0 and p["max"] == 3.0
    # tail counts: samples strictly above each percentile
    assert p.tail_counts["p50"] == 1 and p.tail_counts["max"] == 0


def test_percentiles_integer_ranks_are_exact():
    v = np.arange(1, 101, dtype=float)  # 1..100: p95 is the 95th value, not 96th
    p = percentiles(v)
    assert p["p50"] == 50 and p["p95"] == 95 and p["p99"] == 99 and p["p99.9"] == 100
    assert p.tail_counts["p95"] == 5


def test_percentiles_empty_nan_and_inf():
    p = percentiles(np.array([]))
    assert p.count == 0 and math.isnan(p["p50"]) and math.isnan(p["max"])
    p = percentiles(np.array([1.0, math.nan, 2.0]))
    assert p.count == 2
    p = percentiles(np.array([1.0] * 9 + [math.inf]))
    assert p["p50"] == 1.0 and p["p90"] == 1.0 and math.isinf(p["p95"]) and math.isinf(p["max"])
    assert p.to_json()["p95"] is None


def _trace(tmp_path, recs):
    with TraceWriter(tmp_path) as w:
        for r in recs:
            w.step(r)
    return read_steps(tmp_path)


def test_step_stats_errors_and_missing_steps(tmp_path):
    t = _trace(tmp_path, [
        rec("a", "login", 0, 2), rec("b", "login", 0, 4), rec("c", "login", 0, 30, ok=False, error="timeout"),
        rec("c", "login", 31, 32, attempt=2), rec("d", "login", 0, 1, ok=False, error=""),
        rec("a", "download", 2, 12),
    ])
    s = step_stats(t)
    assert list(s) == ["login", "download"]  # canonical order, absent steps absent
    lg = s["login"]
    assert (lg.count, lg.ok, lg.failed, lg.retries, lg.devices) == (5, 3, 2, 1, 4)
    assert lg.errors == {"timeout": 1, "unknown": 1}
    assert lg.error_rate == pytest.approx(0.4)
    # latency over successful attempts only: [2, 4, 1]
    assert lg.duration_s.count == 3
    assert lg.duration_s["p50"] == numpy_ref([2, 4, 1], 50) == 2.0
    assert lg.duration_s["max"] == 4.0
    assert s["download"].duration_s.values["p99"] == 10.0


def test_readiness_definition(tmp_path):
    t = _trace(tmp_path, [
        # a: planned at -10 (join), download done at 50 -> 60 s
        rec("a", "join", -5, 0, planned=-10), rec("a", "login", 0, 5), rec("a", "download", 5, 50),
        # b: failed download then retried successfully; last successful download ends at 100 -> 100 s
        rec("b", "join", 0, 1), rec("b", "download", 2, 20, ok=False, error="reset"),
        rec("b", "download", 21, 90), rec("b", "download", 91, 100),
        # c: never downloads -> not ready
        rec("c", "join", 0, 1), rec("c", "login", 1, 40, ok=False, error="timeout"),
        # teacher: excluded from the pupil population
        rec("t", "login", -300, -290, kind="teacher"), rec("t", "download", -290, -280, kind="teacher"),
    ])
    rd = readiness(t)
    assert rd.population == 3 and rd.ready == 2 and rd.not_ready == 1
    got = dict(zip(rd.devices.tolist(), rd.time_to_ready_s.tolist()))
    assert got["a"] == 60 and got["b"] == 100 and math.isinf(got["c"])
    assert rd.share_by(50) == pytest.approx(1 / 3)
    assert rd.share_by(100) == pytest.approx(2 / 3)
    p = rd.percentiles()
    assert p.count == 3 and p["p50"] == 100 and math.isinf(p["p95"])


def test_readiness_empty(tmp_path):
    rd = readiness(_trace(tmp_path, []))
    assert rd.population == 0 and math.isnan(rd.share_by(10)) and rd.percentiles().count == 0
