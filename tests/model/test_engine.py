"""The engine end to end: determinism, answers that move the right way, bottleneck ranking, trace contents."""

import gzip

import numpy as np
import pytest

from simulator.analysis.bottleneck import bottlenecks, resource_stats
from simulator.trace import read_resources

from .helpers import ROOT, city, mean_duration, mean_ready, run

AK9 = ROOT / "scenarios" / "school-ak9.yaml"


def test_same_seed_gives_an_identical_trace(tmp_path):
    run(AK9, tmp_path / "a")
    run(AK9, tmp_path / "b")
    for name in ("steps.csv.gz", "resources.csv.gz"):
        a = gzip.decompress((tmp_path / "a" / name).read_bytes()).replace(b"/a,", b"/x,")
        b = gzip.decompress((tmp_path / "b" / name).read_bytes()).replace(b"/b,", b"/x,")
        a = a.replace(b"a,model,", b"x,model,")
        b = b.replace(b"b,model,", b"x,model,")
        assert a == b


def test_trace_has_every_step_and_resource(tmp_path):
    plan, res, steps = run(AK9, tmp_path / "r")
    pupils = sum(1 for d in plan.devices if d.role == "pupil")
    for step in ("join", "login", "assertion", "download", "submit"):
        assert (steps.step == step).sum() >= pupils if step != "join" else len(plan.devices)
    assert (steps.step == "autosave").sum() >= pupils
    assert steps.ok.all()
    assert np.all(steps.end_s >= steps.start_s)
    assert np.all(steps.start_s >= steps.planned_s - 1e-6)
    # pupils download only after their teacher opened the session
    teacher_end = {a: e for a, e, s, k in zip(steps.ap, steps.end_s, steps.step, steps.kind)
                   if s == "open" and k == "teacher"}
    assert len(teacher_end) == len(plan.rooms)  # one 'open' row per room, as the live engine writes
    dl = (steps.step == "download")
    assert all(s >= teacher_end[a] for a, s in zip(steps.ap[dl], steps.start_s[dl]))
    r = read_resources(tmp_path / "r")
    names = set(r.resource.tolist())
    assert {"ap:ak9/9A", "uplink-down:ak9", "uplink-up:ak9", "core-down", "service:idp", "service:platform",
            "dhcp:ak9"} <= names
    assert np.all((r.utilisation >= 0) & (r.utilisation <= 1))
    assert res.events > 0 and res.step_rows == len(steps)


def test_until_stops_early(tmp_path):
    _, res, steps = run(AK9, tmp_path / "u", until_s=60.0)
    assert res.sim_end_s <= 60.0
    assert steps.end_s.max() <= 60.0
    assert not (steps.step == "submit").any()


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("base")
    path = city(tmp, rooms=3, name="base")
    _, _, steps = run(path, tmp / "run")
    return path, steps


def _more(tmp_path, base, overrides=(), **kw):
    path = city(tmp_path, rooms=3, name="more", **kw) if kw else base[0]
    _, _, steps = run(path, tmp_path / "run", overrides)
    return steps


def test_more_pupils_per_ap_waits_longer(tmp_path, base):
    steps = _more(tmp_path, base, chromebooks=50)
    assert mean_duration(steps, "download") > 1.2 * mean_duration(base[1], "download")


def test_thinner_uplink_waits_longer(tmp_path, base):
    steps = _more(tmp_path, base, ["sites[0].uplink.down=50 Mbit/s"])
    assert mean_ready(steps) > 2 * mean_ready(base[1])


def test_fewer_idp_workers_waits_longer(tmp_path, base):
    steps = _more(tmp_path, base, ["services.idp.workers=1"])
    assert mean_duration(steps, "login") > mean_duration(base[1], "login")
    m_base = np.nanmean(base[1].queue_s[base[1].step == "login"])
    assert np.nanmean(steps.queue_s[steps.step == "login"]) > m_base


def test_bigger_test_waits_longer(tmp_path, base):
    small = _more(tmp_path, base, ["exam.test=swedish-reading-6"])  # 6 MB against 37 MB
    assert mean_duration(base[1], "download") > 1.5 * mean_duration(small, "download")


def test_tighter_arrival_spread_waits_longer(tmp_path, base):
    steps = _more(tmp_path, base, median="5 s", p95="15 s")
    assert mean_duration(steps, "download") > 1.5 * mean_duration(base[1], "download")
    assert mean_duration(steps, "login") >= mean_duration(base[1], "login")


def _bottleneck(run_dir, steps):
    return bottlenecks(resource_stats(read_resources(run_dir), steps))


def test_undersized_idp_is_the_top_bottleneck(tmp_path):
    path = city(tmp_path, sites=6, rooms=10, idp="idp-broker-small", test="swedish-reading-6",
                median="20 s", p95="60 s", uplink="10 Gbit/s", core="100 Gbit/s", name="idp")
    _, _, steps = run(path, tmp_path / "run")
    b = _bottleneck(tmp_path / "run", steps)
    assert b.bottleneck is not None and b.bottleneck.resource == "service:idp", b.reason
    assert mean_duration(steps, "login") > 5.0  # a login storm: seconds in the IdP queue


def test_50_mbit_uplink_is_the_top_bottleneck(tmp_path):
    _, _, steps = run(AK9, tmp_path / "run", ["sites[0].uplink.down=50 Mbit/s"])
    b = _bottleneck(tmp_path / "run", steps)
    assert b.bottleneck is not None and b.bottleneck.resource == "uplink-down:ak9", b.reason


def test_performance_anomaly_without_airtime_fairness(tmp_path):
    fair = city(tmp_path, rooms=1, median="2 s", p95="4 s", ap="aruba-535", name="fair")
    legacy_profiles = tmp_path / "p"
    import shutil
    shutil.copytree(ROOT / "profiles", legacy_profiles)
    ap = (legacy_profiles / "aps" / "aruba-535.yaml")
    ap.write_text(ap.read_text().replace("airtime_fairness: true", "airtime_fairness: false"))
    unfair = city(tmp_path, rooms=1, median="2 s", p95="4 s", profiles=legacy_profiles, name="unfair")
    _, _, s_fair = run(fair, tmp_path / "f")
    _, _, s_unfair = run(unfair, tmp_path / "u")
    cb = lambda s: mean_duration(s.where(s.kind == "chromebook"), "download")  # noqa: E731
    assert cb(s_unfair) > cb(s_fair)  # the iPads drag the Chromebooks down without airtime fairness


def test_devices_beyond_the_ap_client_limit_cannot_join(tmp_path):
    path = city(tmp_path, rooms=1, chromebooks=70, ipads=0, name="full")  # aruba-535: max 64 clients
    plan, _, steps = run(path, tmp_path / "run")
    failed = (steps.step == "join") & ~steps.ok
    assert failed.sum() == len(plan.devices) - 64
    assert set(steps.error[failed]) == {"ap full: association refused"}


def test_every_autosave_as_a_row_when_asked(tmp_path):
    from simulator.plan import load_plan
    from simulator.model import ModelOptions, simulate
    from simulator.trace import read_steps

    plan = load_plan(str(ROOT / "scenarios" / "ci-smoke.yaml"))
    simulate(plan, tmp_path / "all", options=ModelOptions(autosave_detail=0))
    steps = read_steps(tmp_path / "all")
    pupils = sum(1 for d in plan.devices if d.role == "pupil")
    per_pupil = plan.rooms[0].workload.autosaves
    assert (steps.step == "autosave").sum() == pupils * per_pupil
