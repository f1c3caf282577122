"""Scenario inputs the model reads: arrival forms, link-quality shares, bad CSV, and the anomaly they make.

Independent expectations: offsets are the ones written; a fifth of a room is
exactly n/5 devices; a slow fifth costs the fast stations more under frame
fairness (equal throughput: Heusse et al. 2003) than under airtime fairness
(equal airtime: Høiland-Jørgensen et al. 2017).
"""

import shutil

import numpy as np
import pytest

from simulator.errors import UserError
from simulator.plan import load_plan

from .helpers import ROOT, city, run


def _starts(plan):
    return sorted(d.start_s for d in plan.devices if d.role == "pupil")


def test_uniform_list_and_csv_arrivals(tmp_path):
    uni = load_plan(str(city(tmp_path, rooms=1, chromebooks=40, ipads=0, name="uni",
                             arrival="{distribution: uniform, window: 10 s}")))
    s = np.array(_starts(uni))
    assert s.min() >= 0 and s.max() < 10 and len(s) == 40 and np.ptp(s) > 5
    lst = load_plan(str(city(tmp_path, rooms=1, chromebooks=3, ipads=0, name="lst",
                             arrival="{distribution: list, offsets: [1 s, 250 ms, 2 min]}")))
    assert _starts(lst) == [0.25, 1.0, 120.0]
    (tmp_path / "starts.csv").write_text("offset_s\n0.5\n3 s\n# a comment\n7\n")
    csv = load_plan(str(city(tmp_path, rooms=1, chromebooks=3, ipads=0, name="csv",
                             arrival="{distribution: csv, csv: starts.csv}")))
    assert _starts(csv) == [0.5, 3.0, 7.0]


def test_a_bad_csv_line_names_file_and_line(tmp_path):
    (tmp_path / "bad.csv").write_text("0.5\nsoon\n")
    with pytest.raises(UserError) as e:
        load_plan(str(city(tmp_path, rooms=1, chromebooks=2, ipads=0, name="bad",
                           arrival="{distribution: csv, csv: bad.csv}")))
    assert "bad.csv:2:1" in str(e.value)


def _room(tmp_path, name, fair: bool, slow_share: str | None):
    prof = tmp_path / f"p-{name}"
    shutil.copytree(ROOT / "profiles", prof)
    ap = prof / "aps" / "aruba-535.yaml"
    ap.write_text(ap.read_text().replace("airtime_fairness: true", f"airtime_fairness: {str(fair).lower()}"))
    path = city(tmp_path, rooms=1, chromebooks=20, ipads=0, teacher=None, profiles=prof, name=name,
                arrival="{distribution: list, offsets: [0 s]}", exam_extra="  transfer: {download: 5 MB}\n")
    if slow_share:
        text = path.read_text().replace("devices: {chromebook: 20}",
                                        f"devices: {{chromebook: 20}}, link: {{mcs: {{9: 80 %, 1: 20 %}}, "
                                        f"streams: {{2: 80 %, 1: 20 %}}}}")
        path.write_text(text)
    return path


def test_link_shares_are_dealt_exactly(tmp_path):
    plan = load_plan(str(_room(tmp_path, "shares", True, "20 %")))
    mcs = [d.mcs for d in plan.devices]
    assert mcs.count(1) == 4 and mcs.count(9) == 16  # a fifth of 20


def test_a_slow_fifth_drags_the_room_more_without_airtime_fairness(tmp_path):
    def fast_median(fair, slow):
        plan, _, steps = run(_room(tmp_path, f"{'f' if fair else 'u'}{'s' if slow else 'n'}", fair, slow),
                             tmp_path / f"r-{fair}-{bool(slow)}")
        fast = {d.id for d in plan.devices if d.mcs != 1}
        m = np.array([dev in fast for dev in steps.device]) & (steps.step == "download")
        return float(np.median(steps.duration_s[m]))
    base = fast_median(False, None)
    frame = fast_median(False, "20 %") / base
    airtime = fast_median(True, "20 %") / fast_median(True, None)
    assert frame > 1.3  # equal throughput: the slow fifth sets the pace
    assert airtime < frame  # equal airtime: the fast stations lose less
