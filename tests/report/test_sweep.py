import csv
import json
import math
from pathlib import Path

import pytest

from simulator.analysis.sweep import SweepPoint, curves
from simulator.cli import main
from simulator.report.sweep import sweep_plot

SMOKE = str(Path(__file__).parents[2] / "scenarios" / "ci-smoke.yaml")


def _p(up, ap, rep, p95, bn, ok=True, login_ok=True):
    slo = {"ready_p95": {"observed": p95, "threshold": 300.0, "ok": ok},
           "login_p95": {"observed": 5.0 if login_ok else 40.0, "threshold": 30.0, "ok": login_ok}}
    breached = [n for n, v in slo.items() if not v["ok"]]
    return SweepPoint({"up": up, "ap": ap}, rep, 7 + rep, "", 60, 0, p95 / 2, p95, {}, bn, ok and login_ok, slo,
                      breached)


def test_needed_value_is_the_first_from_which_slos_hold():
    pts = [_p("5", "a", 0, 900, "uplink", False), _p("50", "a", 0, 200, "uplink", True),
           _p("50", "a", 1, 320, "uplink", False), _p("100", "a", 0, 60, "ap", True), _p("1000", "a", 0, 20, "ap", True)]
    c = next(c for c in curves(pts, {"up": ["5", "50", "100", "1000"], "ap": ["a"]}) if c.key == "up")
    assert c.meets_slo == [False, False, True, True]  # one repeat at 50 breached
    assert c.needed == "100" and c.to_json()["needed"] == "100"
    assert c.answer == "up (ap=a): SLOs hold from 100 and above; breached at 5 (ready_p95); 50 (ready_p95)"
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
    fig = sweep_plot("up", [c for c in cs if c.key == "up"], "x", {"ready_p95": 60.0, "login_p95": 30.0})
    assert len(fig.axes) == 2  # one panel per SLO
    assert fig.get_suptitle() and all("(s)" in ax.get_ylabel() for ax in fig.axes) and fig.axes[-1].get_xlabel()


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
    assert curve["breached"][0][:1] == ["ready_p95"] and curve["breached"][1] == []
    rows = list(csv.DictReader(open(out / "sweep.csv", newline="")))
    assert [r["sites[0].uplink.down"] for r in rows] == ["5 Mbit/s", "5 Mbit/s", "1 Gbit/s", "1 Gbit/s"]
    assert [r["slo_ok"] for r in rows] == ["0", "0", "1", "1"] and rows[0]["ready_p95_ok"] == "0"
    assert {"login_p95", "error_rate", "ready_p95"} <= set(rows[0])  # every SLO of the scenario is a column
    # the printed one-liner is the JSON's answer
    main(["sweep", SMOKE, "--vary", "sites[0].uplink.down=5 Mbit/s,1 Gbit/s", "--jobs", "1", "-o", str(out)])
    printed = capsys.readouterr().out.strip().splitlines()
    doc = json.loads((out / "sweep.json").read_text())
    assert printed[-1] == doc["answers"][0] == doc["curves"][0]["answer"]
    assert printed[-1] == "sites[0].uplink.down: SLOs hold from 1 Gbit/s and above; breached at 5 Mbit/s (" + \
        ", ".join(doc["points"][0]["breached"]) + ")"
    assert (out / "points" / "000" / "manifest.json").exists()


@pytest.mark.parametrize("vary", ["nokey", "sites[0].uplink.down=", "sites[0].nothing=3"])
def test_sweep_bad_input(tmp_path, vary):
    assert main(["sweep", SMOKE, "--vary", vary, "-o", str(tmp_path / "x"), "--quiet"]) == 2


def _curve(xs: list[str], oks: list[bool], login_bad: set[str] = frozenset()):
    pts = [_p(x, "a", 0, 60.0 if ok else 900.0, "uplink", ok, x not in login_bad) for x, ok in zip(xs, oks)]
    (c,) = [c for c in curves(pts, {"up": xs}) if c.key == "up"]
    return c


@pytest.mark.parametrize("xs, oks, login_bad, expect", [
    # all pass, values given largest first (an IdP sweep over 8, 2, 1 workers)
    (["8", "2", "1"], [True, True, True], set(), "up: every value tried holds every SLO (1, 2, 8)"),
    # all fail
    (["1", "2"], [False, False], set(), "up: no value tried holds every SLO; breached at 1 (ready_p95); 2 (ready_p95)"),
    # mixed, monotone; login SLO named where it is the one failing
    (["50 Mbit/s", "5 Mbit/s", "1 Gbit/s"], [True, False, True], {"50 Mbit/s"},
     "up: SLOs hold from 1 Gbit/s and above; breached at 5 Mbit/s (ready_p95); 50 Mbit/s (login_p95)"),
    # the last value fails: the old one-liner said no value holds
    (["10", "20", "30", "40", "50"], [True, True, True, True, False], set(),
     "up: not monotone — SLOs hold at 10, 20, 30, 40 but are breached at 50 (ready_p95)"),
    # non-monotone in the middle
    (["1", "2", "3", "4"], [False, True, False, True], set(),
     "up: not monotone — SLOs hold at 2, 4 but are breached at 1 (ready_p95); 3 (ready_p95); they hold from 4 up"),
])
def test_one_liner_matches_the_json(xs, oks, login_bad, expect):
    c = _curve(xs, oks, login_bad)
    doc = c.to_json()
    assert c.answer == doc["answer"] == expect
    # the one-liner is derived from meets_slo as stored in the JSON: recompute the claim independently
    held = {x for x, ok in zip(doc["x"], doc["meets_slo"]) if ok}
    assert held == {x for x, ok in zip(xs, [o and x not in login_bad for x, o in zip(xs, oks)]) if ok}
    for x in set(xs) - held:
        assert f"{x} (" in c.answer
    for x in held:
        assert f"{x} (" not in c.answer


def test_numeric_axis_is_proportional_and_log_over_decades():
    from simulator.report.sweep import axis_positions

    xs, log = axis_positions(_curve(["5 Mbit/s", "50 Mbit/s", "1 Gbit/s"], [False, True, True]))
    assert list(xs) == [5e6, 50e6, 1e9] and log
    xs, log = axis_positions(_curve(["8", "2", "1"], [True, True, True]))
    assert list(xs) == [8, 2, 1] and not log
    xs, log = axis_positions(_curve(["small", "big"], [True, True]))
    assert list(xs) == [0, 1] and not log
    fig = sweep_plot("up", [_curve(["5 Mbit/s", "50 Mbit/s", "1 Gbit/s"], [False, True, True])], "x", {"ready_p95": 300})
    assert fig.axes[-1].get_xscale() == "log"
