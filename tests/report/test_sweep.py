import json
import math
from pathlib import Path

import pytest

from simulator.analysis.sweep import SweepPoint, curves
from simulator.cli import main
from simulator.report.sweep import sweep_plot

SMOKE = str(Path(__file__).parents[2] / "scenarios" / "ci-smoke.yaml")


def _p(up, ap, rep, p95, bn, ok=True):
    return SweepPoint({"up": up, "ap": ap}, rep, 7 + rep, "", 60, 0, p95 / 2, p95, {}, bn, ok)


def test_needed_value_is_the_first_from_which_slos_hold():
    pts = [_p("5", "a", 0, 900, "uplink", False), _p("50", "a", 0, 200, "uplink", True),
           _p("50", "a", 1, 320, "uplink", False), _p("100", "a", 0, 60, "ap", True), _p("1000", "a", 0, 20, "ap", True)]
    c = next(c for c in curves(pts, {"up": ["5", "50", "100", "1000"], "ap": ["a"]}) if c.key == "up")
    assert c.meets_slo == [False, False, True, True]  # one repeat at 50 breached
    assert c.needed == "100" and c.to_json()["needed"] == "100"
    c = next(c for c in curves([_p("5", "a", 0, 900, "uplink", False)], {"up": ["5"], "ap": ["a"]}) if c.key == "up")
    assert c.needed is None


def test_curves_fold_repeats_and_series():
    pts = [_p("5", "a", 0, 200, "uplink"), _p("5", "a", 1, 220, "uplink"), _p("50", "a", 0, 20, "ap"),
           _p("50", "a", 1, 22, "uplink"), _p("5", "b", 0, math.inf, "uplink"), _p("50", "b", 0, 30, "ap")]
    cs = curves(pts, {"up": ["5", "50"], "ap": ["a", "b"]})
    up_a = next(c for c in cs if c.key == "up" and c.series == "ap=a")
    assert up_a.x == ["5", "50"] and up_a.p95_mean == [210, 21] and up_a.p95_min == [200, 20]
    assert up_a.p95_max == [220, 22] and up_a.bottleneck[0] == "uplink" and up_a.points == [2, 2]
    up_b = next(c for c in cs if c.key == "up" and c.series == "ap=b")
    assert math.isinf(up_b.p95_mean[0]) and up_b.to_json()["ready_p95_mean_s"][0] == "inf"
    assert {c.series for c in cs if c.key == "ap"} == {"up=5", "up=50"}
    fig = sweep_plot("up", [c for c in cs if c.key == "up"], "x", 60.0)
    ax = fig.axes[0]
    assert ax.get_title() and "(s)" in ax.get_ylabel() and ax.get_xlabel()


def test_sweep_cli_runs_the_model(tmp_path, capsys):
    out = tmp_path / "sw"
    code = main(["sweep", SMOKE, "--vary", "sites[0].uplink.down=5 Mbit/s,1 Gbit/s", "--repeat", "2",
                 "--jobs", "1", "-o", str(out), "--quiet"])
    assert code == 0
    doc = json.loads((out / "sweep.json").read_text())
    assert len(doc["points"]) == 4 and [p["seed"] for p in doc["points"]] == [7, 8, 7, 8]
    (curve,) = doc["curves"]
    assert curve["x"] == ["5 Mbit/s", "1 Gbit/s"] and curve["repeats"] == [2, 2]
    slow, fast = curve["ready_p95_mean_s"]
    assert slow > fast  # a 5 Mbit/s uplink is slower than 1 Gbit/s
    assert curve["bottleneck"][0] == "uplink-down:ci-school"
    assert curve["meets_slo"] == [False, True] and curve["needed"] == "1 Gbit/s"
    assert all(Path(p).exists() for p in doc["plots"])
    assert (out / "points" / "000" / "manifest.json").exists()


@pytest.mark.parametrize("vary", ["nokey", "sites[0].uplink.down=", "sites[0].nothing=3"])
def test_sweep_bad_input(tmp_path, vary):
    assert main(["sweep", SMOKE, "--vary", vary, "-o", str(tmp_path / "x"), "--quiet"]) == 2
