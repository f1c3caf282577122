import math

import pytest

from simulator.analysis.bottleneck import bottlenecks, resource_stats, step_resource
from simulator.trace import ResourceSample, TraceWriter, read_resources, read_steps

from synth import rec


def _write(tmp_path, samples, steps=()):
    with TraceWriter(tmp_path) as w:
        for s in samples:
            w.resource(ResourceSample(*s))
        for r in steps:
            w.step(r)
    return read_resources(tmp_path), read_steps(tmp_path)


def test_rankings_and_bottleneck(tmp_path):
    samples = []
    for k in range(10):  # 1 s samples
        samples.append((float(k), "ap:ak9/9C", "ap", 1.0 if 3 <= k < 7 else 0.5, 0.0))
        samples.append((float(k), "service:idp", "service", 0.9, 2.0))
        samples.append((float(k), "generator:w1", "generator", 1.0, 0.0))
    r, t = _write(tmp_path, samples)
    stats = {s.resource: s for s in resource_stats(r, t)}
    ap = stats["ap:ak9/9C"]
    assert ap.peak_utilisation == 1.0 and ap.saturated_s == pytest.approx(4.0)
    assert ap.mean_utilisation == pytest.approx(0.7) and ap.peak_at_s == 3.0
    idp = stats["service:idp"]
    assert idp.wait_s == pytest.approx(20.0) and idp.wait_source == "samples"  # 2 waiting x 10 s
    b = bottlenecks(list(stats.values()))
    assert b.bottleneck.resource == "ap:ak9/9C"  # generator saturated longer, but never the bottleneck
    assert [s.resource for s in b.by_waiting] == ["service:idp"]
    assert b.by_peak_utilisation[-1].resource == "service:idp"


def test_trace_queue_s_wins_and_attributes(tmp_path):
    samples = [(float(k), "service:idp", "service", 0.5, 1.0) for k in range(5)]
    steps = [rec("a", "login", 0, 10, queue=6.0), rec("b", "login", 0, 10, queue=4.0),
             rec("a", "join", -5, 0, queue=1.5, site="ak9")]
    r, t = _write(tmp_path, samples, steps)
    stats = {s.resource: s for s in resource_stats(r, t)}
    assert stats["service:idp"].wait_s == pytest.approx(10.0) and stats["service:idp"].wait_source == "trace"
    assert stats["dhcp:ak9"].wait_s == pytest.approx(1.5) and stats["dhcp:ak9"].samples == 0
    assert math.isnan(stats["dhcp:ak9"].peak_utilisation)
    b = bottlenecks(list(stats.values()))
    assert b.bottleneck.resource == "service:idp" and "waiting" in b.reason
    assert step_resource("download", "x") == "service:content"


def test_no_resources(tmp_path):
    r, t = _write(tmp_path, [])
    b = bottlenecks(resource_stats(r, t))
    assert b.bottleneck is None and b.by_peak_utilisation == []
