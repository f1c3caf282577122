"""A run that did not walk every planned pupil is never green: summary.json, report.html and junit.xml
all say so first, pupils not walked count as never ready, and the exit code is 1."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from simulator.cli import main
from simulator.report import write_report

import synth

ROOT = Path(__file__).resolve().parents[2]
LOOSE = {"ready_p50": 3600.0, "error_rate": 0.5}  # the walked pupils alone would pass these


def _planned(rooms: dict[str, int]) -> dict:
    return {"devices": sum(rooms.values()), "pupils": sum(rooms.values()), "rooms": rooms}


def _check_not_green(run: Path, reason: str) -> dict:
    res = write_report(run)
    doc = json.loads((run / "summary.json").read_text())
    assert res.exit_code == 1
    assert doc["slo_ok"] is False and doc["run_complete"] is False
    assert reason in doc["incomplete_reasons"][0] and doc["verdict"].startswith("NOT A PASS")
    page = (run / "report.html").read_text()
    body = page[page.index("<body>"):]
    first = re.search(r"<div class='([a-z ]+)'>", body)
    assert first.group(1) == "incomplete" and reason in body[: body.index("<table")]
    assert body.index("Not a pass") < body.index("class='verdict")
    root = ET.fromstring((run / "junit.xml").read_text().split("\n", 1)[1])
    first_case = root.find(".//testcase")
    assert first_case.get("name") == "run_complete" and first_case.find("failure").get("type") == "RunIncomplete"
    assert reason in first_case.find("failure").get("message")
    return doc


def test_capped_run_counts_unwalked_pupils_as_not_ready(tmp_path):
    # 40 pupils walked of 100 planned (30 + 30 in rooms the trace has, 40 in a room it never reached)
    rooms = {"ak9/9A": 30, "ak9/9B": 30, "ak9/9C": 40}
    run = synth.school(tmp_path / "capped", 40, rooms=("9A", "9B"), engine="live", status="capped",
                       planned=_planned(rooms), slo=LOOSE)
    doc = _check_not_green(run, "40 of 100 planned pupils walked")
    assert doc["ready"]["population"] == 100 and doc["run"]["not_walked"] == 60
    walked_ready = 40 - 2  # synth: every 20th pupil never finishes its download
    assert doc["ready"]["ready"] == walked_ready and doc["ready"]["not_ready"] == 100 - walked_ready
    rooms_out = {r["name"]: r for r in doc["rooms"]}
    assert rooms_out["ak9/9C"]["devices"] == 40 and rooms_out["ak9/9C"]["ready"] == 0
    assert doc["rooms"][0]["name"] == "ak9/9C"  # the room nobody reached is the worst
    assert any("never walked by the run" in n for n in doc["notes"])


def test_old_live_manifest_finished_but_capped(tmp_path):
    run = synth.school(tmp_path / "old", 30, engine="live", status="finished",
                       live={"capped": True, "devices": 50, "devices_done": 30},
                       planned=_planned({"ak9/9A": 10, "ak9/9B": 10, "ak9/9C": 30}), slo=LOOSE)
    doc = _check_not_green(run, "stopped by a cap")
    assert doc["run"]["status"] == "capped"


@pytest.mark.parametrize("status", ["interrupted", "failed", "running"])
def test_stopped_runs(tmp_path, status):
    run = synth.school(tmp_path / status, 30, status=status, planned=_planned({"ak9/9A": 10, "ak9/9B": 10,
                                                                                "ak9/9C": 10}), slo=LOOSE)
    _check_not_green(run, "30 of 30 planned pupils walked")


def test_saturated_generator_is_not_green(tmp_path):
    run = synth.school(tmp_path / "gen", 30, engine="live", generator={"saturated": True, "max_cpu": 0.99},
                       planned=_planned({"ak9/9A": 10, "ak9/9B": 10, "ak9/9C": 10}), slo=LOOSE)
    _check_not_green(run, "load generator saturated")


def test_finished_run_missing_pupils_rebuilds_the_plan(tmp_path):
    """No planned count in the manifest: the plan is rebuilt from scenario + seed + overrides (ci-smoke: 60 pupils)."""
    scen = {"name": "ci-smoke", "path": str(ROOT / "scenarios" / "ci-smoke.yaml"), "overrides": []}
    run = synth.school(tmp_path / "rebuilt", 20, sites=("ci-school",), rooms=("9A", "9B"), status="finished",
                       scenario=scen, seed=7, slo=LOOSE)
    doc = _check_not_green(run, "20 of 60 planned pupils walked")
    assert doc["run"]["planned_source"].startswith("rebuilt")
    assert main(["report", str(run), "--quiet"]) == 1


def test_complete_run_is_green(tmp_path):
    run = synth.school(tmp_path / "done", 30, planned=_planned({"ak9/9A": 10, "ak9/9B": 10, "ak9/9C": 10}),
                       slo=LOOSE)
    res = write_report(run)
    assert res.exit_code == 0 and res.summary["run_complete"] is True and res.summary["incomplete_reasons"] == []
    assert "class='incomplete'" not in res.html_path.read_text()
