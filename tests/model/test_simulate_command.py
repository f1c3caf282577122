"""``examday simulate``: the run folder, the manifest, the summary, --until and bad input."""

import json

from simulator.cli import main
from simulator.results import read_manifest

from .helpers import ROOT

SMOKE = str(ROOT / "scenarios" / "ci-smoke.yaml")


def test_simulate_writes_a_finished_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["simulate", SMOKE, "-q", "-o", str(out), "--set", "sites[0].uplink.down=500 Mbit/s"])
    assert code in (0, 1)  # 1 only if an SLO is breached
    assert capsys.readouterr().out.strip().endswith(str(out))
    m = read_manifest(out)
    assert m["status"] == "finished" and m["engine"] == "model"
    assert m["t0_clock"] == 9 * 3600 and m["seed"] == 7
    assert m["scenario"]["overrides"] == ["sites[0].uplink.down=500 Mbit/s"]
    assert (out / "steps.csv.gz").exists() and (out / "resources.csv.gz").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert "steps" in summary


def test_until_and_json(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["simulate", SMOKE, "--json", "-o", str(out), "--until", "30s"]) in (0, 1)
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert doc["run_dir"] == str(out)
    assert read_manifest(out)["until_s"] == 30.0


def test_bad_until_is_a_user_error(tmp_path, capsys):
    assert main(["simulate", SMOKE, "-q", "-o", str(tmp_path / "r"), "--until", "soon"]) == 2
    assert "--until" in capsys.readouterr().err


def test_simulate_writes_the_summary(tmp_path):
    out = tmp_path / "run"
    main(["simulate", SMOKE, "-q", "-o", str(out)])
    doc = json.loads((out / "summary.json").read_text())
    login = doc["steps"]["login"]
    assert login["count"] == 62 and login["failed"] == 0
    d = login["duration_s"]
    assert d["p50"] <= d["p95"] <= d["p99"] <= d["max"]
    assert doc["ready"]["ready"] == 60
    peaks = [r["peak_utilisation"] for r in doc["resources"]["by_peak_utilisation"]]
    assert peaks == sorted(peaks, reverse=True)
