"""`examday schema` is editor-valid: the third-party ``jsonschema`` validator accepts every shipped and test
scenario under it, rejects the unit and key mistakes the loader rejects, and every field has a description."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from simulator.cli import main
from simulator.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "scenarios").glob("*.yaml"))
TEST_SCENARIOS = sorted((ROOT / "tests" / "data" / "scenarios").glob("*.yaml"))
#: bad files whose mistake is visible to a schema (units, keys, types, SLO names); the rest need profiles
SCHEMA_VISIBLE = ("wrong-unit", "missing-unit", "unknown-key", "missing-key", "bad-percentage", "bool-count",
                  "negative-count", "unknown-slo")


@pytest.fixture(scope="module")
def validator():
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["schema"]) == 0
    schema = json.loads(buf.getvalue())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _errors(validator, doc) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def _model_helper_scenarios(tmp: Path) -> list[Path]:
    """The scenarios the model tests build (tests/model/helpers.py), in a few shapes."""
    spec = importlib.util.spec_from_file_location("model_helpers", ROOT / "tests" / "model" / "helpers.py")
    helpers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helpers)
    return [helpers.city(tmp, name="a"), helpers.city(tmp, name="b", sites=3, ipads=0, teacher=None),
            helpers.city(tmp, name="c", uplink="100 Mbit/s", median="1 min", p95="4 min")]


def test_every_shipped_and_test_scenario_validates(validator, tmp_path):
    files = SHIPPED + TEST_SCENARIOS + _model_helper_scenarios(tmp_path)
    assert len(SHIPPED) >= 4 and TEST_SCENARIOS
    for f in files:
        load_scenario(f)  # the loader accepts it too
        assert _errors(validator, yaml.safe_load(f.read_text())) == [], f


@pytest.mark.parametrize("name", SCHEMA_VISIBLE)
def test_schema_rejects_what_the_loader_rejects(validator, name):
    doc = yaml.safe_load((ROOT / "tests" / "data" / "bad" / f"{name}.yaml").read_text())
    assert _errors(validator, doc), f"{name}.yaml passed the schema"


def test_units_numbers_templates_and_negative_teacher_lead(validator):
    doc = yaml.safe_load((ROOT / "scenarios" / "ci-smoke.yaml").read_text())
    ok = [("exam", "teacher_lead", "-2 min"), ("exam", "teacher_lead", "90 seconds"), ("core", "rtt", 0),
          ("core", "down", "2.5e3 Mbit/s")]
    bad = [("exam", "teacher_lead", "2 minutes later"), ("core", "rtt", 5), ("core", "down", "1 Gbyte/s"),
           ("exam", "start", "9 o'clock")]
    for section, key, value in ok + bad:
        d = json.loads(json.dumps(doc))
        d[section][key] = value
        assert (not _errors(validator, d)) == ((section, key, value) in ok), (key, value)
    # a template entry needs no uplink/classrooms; a plain entry does
    d = json.loads(json.dumps(doc))
    d["templates"] = {"classrooms": {"r": {"ap": "aruba-535", "devices": {"ipad": 3}}},
                      "sites": {"s": {"uplink": {"down": "1 Gbit/s", "up": "1 Gbit/s"},
                                      "classrooms": [{"template": "r", "count": 2, "name": "R{n}"}]}}}
    d["sites"].append({"template": "s", "count": 3, "name": "extra-{n}"})
    assert _errors(validator, d) == []
    d["sites"].append({"name": "no-uplink", "classrooms": [{"template": "r", "name": "x"}]})
    assert any("uplink" in e for e in _errors(validator, d))


def test_negative_teacher_lead_loads(tmp_path):
    text = (ROOT / "scenarios" / "ci-smoke.yaml").read_text().replace("teacher_lead: 5 s", "teacher_lead: -1 min")
    (tmp_path / "late.yaml").write_text(text.replace("name: ci-smoke", "name: late"))
    (tmp_path / "profiles").symlink_to(ROOT / "profiles")
    assert load_scenario(tmp_path / "late.yaml").scenario.exam.teacher_lead == -60.0


def test_every_field_has_a_description(validator):
    schema = validator.schema
    missing = []
    for where, node in [("scenario", schema), *schema["$defs"].items()]:
        for key, prop in node.get("properties", {}).items():
            if not prop.get("description"):
                missing.append(f"{where}.{key}")
    assert missing == []
