"""One bottleneck ranking in pupil-seconds: hand-computed attributions on a tiny trace, and a real model run
whose IdP refuses logins (503) is ranked on the IdP even though downloads also wait."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.analysis.summary import analyse
from simulator.trace import ResourceSample, TraceWriter

from modelruns import model_run
from synth import manifest, rec

ROOT = Path(__file__).resolve().parents[2]


def test_hand_computed_attribution(tmp_path):
    run = tmp_path / "r"
    w = TraceWriter(run)
    # a: login refused (0..1), retried at 3 and ok 3..6 with 2 s queued; download 10..11 (the baseline)
    w.step(rec("a", "login", 0, 1, ok=False, error="http 503"))
    w.step(rec("a", "login", 3, 6, queue=2.0, attempt=2))
    w.step(rec("a", "download", 10, 11))
    # b: download 10..15 while the uplink is 90 % busy and the AP 20 %: 4 s slowed by the uplink
    w.step(rec("b", "login", 0, 1, queue=0.0))
    w.step(rec("b", "download", 10, 15))
    # c: refused once and never retried: 1 s refused, then never ready until the trace ends (t = 100)
    w.step(rec("c", "login", 0, 1, ok=False, error="http 503"))
    w.step(rec("d", "autosave", 99, 100, kind="teacher"))  # a teacher row only sets the trace end
    for t in range(0, 101, 2):
        w.resource(ResourceSample(float(t), "uplink-down:ak9", "link", 0.9, 0.0))
        w.resource(ResourceSample(float(t), "ap:ak9/9A", "ap", 0.2, 0.0))
    w.close()
    manifest(run, planned={"devices": 3, "pupils": 3, "rooms": {"ak9/9A": 3}})
    a = analyse(run)
    got = {w.resource: w for w in a.attribution.ranking}
    idp = got["service:idp"]
    assert idp.by_cause == pytest.approx({"queued": 2.0, "refused": 3.0 + 1.0, "never_ready": 99.0})
    assert idp.wait_s == pytest.approx(2 + 4 + 99) and idp.devices == 2
    assert got["uplink-down:ak9"].by_cause == pytest.approx({"slowed": 4.0})
    assert set(got) == {"service:idp", "uplink-down:ak9"}
    assert a.bottleneck.resource == "service:idp"
    assert sum(w.share for w in a.attribution.ranking) == pytest.approx(1.0)
    assert any("failed at login (http 503)" in n for n in a.notes)


def test_a_timeout_on_a_saturated_link_is_the_links_and_a_timeout_elsewhere_the_servers(tmp_path):
    run = tmp_path / "r"
    w = TraceWriter(run)
    for dev in ("a", "b"):
        w.step(rec(dev, "login", 0, 1))
    # a: submit 10..40 times out while uplink-up is 95 % busy, retried at 45 and ok 45..46
    w.step(rec("a", "submit", 10, 40, ok=False, error="timeout"))
    w.step(rec("a", "submit", 45, 46, attempt=2))
    # b: submit 60..90 times out while the path idles at 30 %: the platform never answered
    w.step(rec("b", "submit", 60, 90, ok=False, error="timeout"))
    w.step(rec("b", "submit", 95, 96, attempt=2))
    for t in range(0, 101):
        w.resource(ResourceSample(float(t), "uplink-up:ak9", "link", 0.95 if t <= 42 else 0.3, 0.0))
    w.close()
    manifest(run, planned={"devices": 2, "pupils": 2, "rooms": {"ak9/9A": 2}})
    got = {w.resource: w.by_cause for w in analyse(run).attribution.ranking}
    assert got["uplink-up:ak9"] == pytest.approx({"refused": 45 - 10})  # the failed attempt + the wait to the retry
    assert got["service:platform"] == pytest.approx({"refused": 95 - 60})


def _model_run(tmp: Path, overrides: list[str]) -> Path:
    return model_run(tmp, ROOT / "scenarios" / "ci-smoke.yaml", overrides)


def test_refusing_idp_is_the_bottleneck(tmp_path):
    run = _model_run(tmp_path / "idp", ["services.idp.profile=idp-broker-small", "services.idp.workers=1",
                                        "services.idp.max_connections=1"])
    a = analyse(run)
    login = a.step_stats["login"]
    assert login.errors.get("http 503", 0) > 0  # the scenario does make the IdP refuse
    assert a.bottleneck.resource == "service:idp", [w.resource for w in a.attribution.ranking[:3]]
    assert a.bottleneck.by_cause.get("refused", 0) > 0
    assert "[service:idp]" in a.verdict_line()
    assert any(n.startswith("login: ") and "http 503" in n and "IdP" in n for n in a.notes)


def test_starved_uplink_is_the_bottleneck(tmp_path):
    run = _model_run(tmp_path / "up", ["sites[0].uplink.down=20 Mbit/s"])
    a = analyse(run)
    assert a.bottleneck.resource == "uplink-down:ci-school"
    assert a.bottleneck.label == "uplink, ci-school (down)"
    assert a.bottleneck.by_cause.keys() == {"slowed"}
