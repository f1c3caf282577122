"""Both directions through the network: a thin school uplink slows autosave, submit and uploads.

Expectations are computed here from the bytes and the link capacity (n flows
sharing C each finish after n·S·8/C; one S-byte body alone needs S·8/C), not
from the model's formulas.
"""

import numpy as np
import pytest

from simulator.analysis.bottleneck import bottlenecks, resource_stats
from simulator.trace import read_resources

from simulator.analysis.summary import analyse

from .helpers import city, mean_duration, profiles_with_test, run

THIN = 64e3  # bit/s up


def test_uploads_share_a_thin_uplink_in_proportion(tmp_path):
    n, size = 8, 20_000
    path = city(tmp_path, rooms=1, chromebooks=n, ipads=0, teacher=None, uplink_up="64 kbit/s",
                arrival="{distribution: list, offsets: [0 s]}",
                exam_extra=f"  transfer: {{upload: {size} B}}\n", name="up")
    _, _, steps = run(path, tmp_path / "run")
    up = steps.where(steps.step == "upload")
    assert len(up) == n and up.ok.all()
    expected = n * size * 8 / THIN  # all n start together and share C: on average each ends at n·S·8/C
    assert np.mean(up.duration_s) == pytest.approx(expected, rel=0.08)
    assert up.duration_s.max() >= expected * 0.99  # the link cannot carry the n bodies any sooner
    # the same uploads on a 1 Gbit/s uplink: the thin link costs them the factor of the capacities
    fat = city(tmp_path, rooms=1, chromebooks=n, ipads=0, teacher=None, uplink_up="1 Gbit/s",
               arrival="{distribution: list, offsets: [0 s]}",
               exam_extra=f"  transfer: {{upload: {size} B}}\n", name="fatup")
    _, _, s_fat = run(fat, tmp_path / "fat")
    assert np.mean(s_fat.duration_s) < 0.01 * expected


def test_thin_uplink_slows_autosave_and_submit(tmp_path):
    fat = city(tmp_path, rooms=1, chromebooks=10, ipads=0, name="fat", test="smoke-test")
    thin = city(tmp_path, rooms=1, chromebooks=10, ipads=0, uplink_up="64 kbit/s", name="thin", test="smoke-test")
    _, _, s_fat = run(fat, tmp_path / "f")
    _, _, s_thin = run(thin, tmp_path / "t")
    autosave_b, submit_b = 2000, 8000  # profiles/tests/smoke-test.yaml
    # every autosave needs at least its own bytes over the link; on 1 Gbit/s they take milliseconds
    alone = autosave_b * 8 / THIN
    assert mean_duration(s_thin, "autosave") >= 0.95 * alone
    assert mean_duration(s_fat, "autosave") < 0.1 * alone
    assert mean_duration(s_thin, "submit") >= 0.95 * submit_b * 8 / THIN
    assert mean_duration(s_thin, "submit") > 10 * mean_duration(s_fat, "submit")


def test_thin_uplink_is_named_as_the_bottleneck_with_its_load(tmp_path):
    path = city(tmp_path, rooms=1, chromebooks=10, ipads=0, uplink_up="64 kbit/s", name="thin", test="smoke-test")
    _, _, steps = run(path, tmp_path / "run")
    res = read_resources(tmp_path / "run")
    up = res.resource == "uplink-up:s01"
    assert up.any()
    # the bits the pupils sent up (autosave and submit bodies) over the link's capacity: its busy seconds
    sent = steps.where(np.isin(steps.step, ["autosave", "submit"]) & steps.ok)
    bodies = {"autosave": 2000, "submit": 8000}
    bits = sum(bodies[s] * 8 for s in sent.step)
    dt = np.diff(np.unique(res.t_s[up]))[0]
    busy_s = float(np.sum(res.utilisation[up]) * dt)
    assert busy_s >= 0.9 * bits / THIN
    b = bottlenecks(resource_stats(res, steps))
    assert b.bottleneck is not None and b.bottleneck.resource == "uplink-up:s01", b.reason


def test_submits_that_cannot_fit_a_thin_uplink_time_out_and_the_ranking_names_the_uplink(tmp_path):
    n, submit_b, rate, timeout_s = 8, 1_000_000, 1e6, 30.0  # chromebook profile: 30 s request timeout
    profiles = profiles_with_test(tmp_path, "bigsubmit", [("q", "100 kB")], duration="2 min",
                                  extra=("autosave: {every: 60 s, size: 1 kB}", f"submit: {{size: {submit_b} B}}"))
    assert submit_b * 8 / rate < timeout_s < n * submit_b * 8 / rate  # one fits in time, n sharing the link do not

    def start(chromebooks: int, name: str):
        path = city(tmp_path, rooms=1, chromebooks=chromebooks, ipads=0, teacher=None, uplink_up="1 Mbit/s",
                    arrival="{distribution: list, offsets: [0 s]}", test="bigsubmit", profiles=profiles, name=name)
        _, _, steps = run(path, tmp_path / name)
        return steps.where(steps.step == "submit"), analyse(tmp_path / name)

    alone, _ = start(1, "alone")
    assert alone.ok.all() and alone.duration_s[0] >= 0.95 * submit_b * 8 / rate
    shared, a = start(n, "shared")
    first = shared.where(shared.attempt == 1)
    assert len(first) == n and set(first.error[~first.ok]) == {"timeout"}
    # the link carries at most rate x (last start + timeout - first start) bits before the last first attempt ends
    window = first.start_s.max() + timeout_s - first.start_s.min()
    assert int(first.ok.sum()) <= window * rate // (submit_b * 8) < n
    assert a.bottleneck.resource == "uplink-up:s01", [w.resource for w in a.attribution.ranking[:3]]
    assert "service:platform" not in {w.resource for w in a.attribution.ranking}
