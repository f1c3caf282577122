import json
import math

import numpy as np
import pytest

from simulator.cli import main
from simulator.plan import load_plan
from simulator.plan_summary import summarise


def test_plan_lists_every_device_with_room_path_and_workload(scenarios):
    plan = load_plan(scenarios / "school-ak9.yaml")
    pupils = list(plan.pupils())
    assert len(pupils) == 139 and len(plan.devices) == 144  # + one teacher per room
    d = pupils[0]
    assert d.id == "ak9/9A/chromebook-1" and d.site == "ak9" and d.ap == "ak9/9A"
    assert [l.id for l in d.room.route.down] == ["dc-down", "core-down", "uplink-down:ak9", "switch:ak9", "ap-port:ak9/9A"]
    assert d.room.workload.download_bytes == pytest.approx(37.02e6)
    assert d.room.workload.autosaves == 120  # 60 min / 30 s
    assert d.eppn.endswith("@ak9.malmo.skola.example")
    teacher = next(x for x in plan.devices if x.role == "teacher")
    assert teacher.start_s == pytest.approx(-180.0)


def test_arrival_spread_matches_median_and_p95(scenarios):
    plan = load_plan(scenarios / "malmo-worst-case.yaml")
    starts = np.array([d.start_s for d in plan.pupils()])
    assert np.median(starts) == pytest.approx(30.0, rel=0.05)
    assert np.percentile(starts, 95) == pytest.approx(120.0, rel=0.05)


def test_same_seed_same_plan_other_seed_other_plan(scenarios):
    a = load_plan(scenarios / "ci-smoke.yaml")
    b = load_plan(scenarios / "ci-smoke.yaml")
    c = load_plan(scenarios / "ci-smoke.yaml", seed=8)
    assert a.digest == b.digest
    assert a.digest != c.digest
    assert [d.start_s for d in a.devices] == [d.start_s for d in b.devices]


def test_overrides_reach_the_plan(scenarios):
    plan = load_plan(scenarios / "ci-smoke.yaml", ["sites[0].uplink.down=50 Mbit/s", "services.idp.workers=2"])
    assert plan.links["uplink-down:ci-school"].capacity_bps == 50e6
    assert plan.services["idp"].workers == 2


def test_templates_override_changes_every_copy(scenarios):
    plan = load_plan(scenarios / "malmo-city.yaml", ["templates.classrooms.year9.devices.chromebook=30"])
    room = next(r for r in plan.rooms if r.name == "9A")
    assert sum(1 for d in plan.devices if d.room is room and d.role == "pupil") == 32


def test_roster_matches_the_plan(scenarios):
    plan = load_plan(scenarios / "ci-smoke.yaml")
    roster = plan.roster()
    assert len(roster.school_units) == 1 and roster.school_units[0].code == "12000001"
    assert len(roster.groups) == 2 and all(len(g.members) == 30 for g in roster.groups)
    assert len(roster.persons) == 62 and len(roster.employments) == 2
    assert {a.test for a in roster.activities} == {"smoke-test"}
    assert len({p.eppn for p in roster.persons}) == 62
    assert roster.by_id[roster.groups[0].members[0]].affiliation == "student"


def test_summary_figures(scenarios):
    s = summarise(load_plan(scenarios / "school-ak9.yaml"))
    assert s["pupils"] == 139 and s["aps"] == 5
    assert s["clients_per_ap"]["max"] == 31  # 9E: 30 pupils + teacher
    assert s["bytes"]["download_total"] == pytest.approx(139 * 37.02e6)
    g = s["guidance"]["sites"][0]
    assert g["down_per_pupil_bps"] == pytest.approx(1e9 / 139) and g["meets_guidance"]
    assert s["guidance"]["download_time_at_guidance_s"]["english-listening-9"] == pytest.approx(37.02e6 * 8 / 500e3)
    assert s["idp_login_rate"]["idp_capacity_per_s"] == pytest.approx(8 / 0.067)


def test_thin_uplink_is_flagged_against_guidance(scenarios):
    s = summarise(load_plan(scenarios / "school-ak9.yaml", ["sites[0].uplink.down=50 Mbit/s"]))
    assert s["guidance"]["sites_below_guidance"] == ["ak9"]


def test_plan_json_is_identical_twice_and_big_enough(scenarios, capsys):
    outs = []
    for _ in range(2):
        assert main(["plan", str(scenarios / "malmo-city.yaml"), "--json"]) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1]
    assert json.loads(outs[0])["devices"] >= 5000
    assert main(["plan", str(scenarios / "malmo-worst-case.yaml"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["devices"] >= 20000


def test_plan_text_and_device_list(scenarios, capsys):
    assert main(["plan", str(scenarios / "ci-smoke.yaml")]) == 0
    out = capsys.readouterr().out
    assert "62 (60 pupils, 2 teachers)" in out and "guidance" in out
    assert main(["plan", str(scenarios / "ci-smoke.yaml"), "--json", "--devices"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["device_list"]) == 62 and not math.isnan(data["device_list"][5]["start_s"])


def test_plan_names_every_site_below_guidance(scenarios, capsys):
    from simulator.cli import main

    low = ["grundskola-03", "grundskola-17b", "gymnasium-12"]  # spread over the list, beyond the first 12 lines
    sets = [x for s in low for x in ("--set", f"sites[name={s}].uplink.down=20 Mbit/s")]
    assert main(["plan", str(scenarios / "malmo-city.yaml"), *sets]) == 0
    out = capsys.readouterr().out
    assert all(f"LOW {s}:" in out for s in low)
    # 20 Mbit/s over each school's pupils is below 500 kbit/s per pupil: named in the guidance line
    assert "guidance  3 of 93 sites below: " in out and all(s in out.split("guidance  3 of 93")[1] for s in low)
