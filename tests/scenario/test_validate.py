"""Every validation error kind: one line, file:line:col pointing at the right token, exit 2."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.cli import main

BAD = sorted((Path(__file__).resolve().parents[1] / "data" / "bad").glob("*.yaml"))


def _expectation(path: Path) -> tuple[str, str]:
    first = path.read_bytes().split(b"\n", 1)[0].decode()
    assert first.startswith("# expect: ")
    line, col, message = first.removeprefix("# expect: ").split(":", 2)
    return f"{line}:{col}", message.strip()


def test_shipped_scenarios_are_valid(scenarios, capsys):
    files = [str(p) for p in sorted(scenarios.glob("*.yaml"))]
    assert len(files) >= 4
    assert main(["validate", *files]) == 0
    out = capsys.readouterr().out
    assert out.count(": ok") == len(files)


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_broken_scenario_points_at_the_error(path, capsys):
    where, message = _expectation(path)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "no error printed"
    first = err[0]
    assert f"{path.name}:{where}:" in first, first
    assert message.split(" (")[0] in first, first
    assert "Traceback" not in "\n".join(err)


def test_typo_in_profile_name_suggests_the_right_one(capsys):
    path = next(p for p in BAD if p.stem == "typo-device-profile")
    main(["validate", str(path)])
    err = capsys.readouterr().err
    assert "sites[0].classrooms[0].devices.chromebok: unknown device profile 'chromebok' " \
           "(did you mean 'chromebook'?)" in err


def test_all_problems_of_a_file_are_listed(tmp_path, scenarios, capsys):
    text = (scenarios / "ci-smoke.yaml").read_text()
    text = text.replace("teacher_lead: 5 s", "teacher_lead: 5 s\n  colour: red").replace("rtt: 2 ms}", "rtt: 2 parsecs}")
    bad = tmp_path / "two.yaml"
    bad.write_text(text)
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    assert any("exam.colour" in e for e in err) and any("sites[0].uplink.rtt" in e for e in err)


def test_missing_file_is_a_clear_error(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read the file" in capsys.readouterr().err


def test_bad_profile_file_is_reported_with_its_own_location(tmp_path, root, capsys):
    import shutil
    shutil.copytree(root / "profiles", tmp_path / "profiles")
    (tmp_path / "profiles" / "aps" / "aruba-535.yaml").write_text(
        "name: aruba-535\nradio: {standard: ax, streams: 4, max_mcs: 13}\nmax_clients: 64\n")
    scen = tmp_path / "s.yaml"
    scen.write_text((root / "scenarios" / "ci-smoke.yaml").read_text())
    assert main(["validate", str(scen)]) == 2
    err = capsys.readouterr().err
    assert "aruba-535.yaml:2:" in err and "radio.max_mcs" in err


def test_set_override_is_validated_like_the_file(scenarios, capsys):
    assert main(["validate", str(scenarios / "ci-smoke.yaml"), "--set", "sites[0].uplink.down=50 Mbit/s"]) == 0
    capsys.readouterr()
    assert main(["validate", str(scenarios / "ci-smoke.yaml"), "--set", "sites[0].uplink.down=50 Mbps/s"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("<--set>:1:") and "sites[0].uplink.down" in err
    assert main(["validate", str(scenarios / "ci-smoke.yaml"), "--set", "sites[5].uplink.down=1 Gbit/s"]) == 2
    assert "no such place" in capsys.readouterr().err


def test_no_traceback_from_the_real_command(tmp_path):
    bad = tmp_path / "x.yaml"
    bad.write_text("name: [unclosed\n")
    proc = subprocess.run([sys.executable, "-m", "simulator", "validate", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "x.yaml:" in proc.stderr and "malformed YAML" in proc.stderr


def test_json_schema_describes_scenarios(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "examday scenario"
    assert {"exam", "sites", "services", "slo", "templates"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False
