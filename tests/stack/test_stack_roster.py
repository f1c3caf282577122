"""Real rosters in place of the generated one: a student-register CSV export and
an SS 12000 JSON dump, for ``examday provision`` and ``examday plan``, with
passwords from a file or a command (and never printed or stored)."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from simulator.plan import load_plan
from simulator.roster import RosterError, read_passwords, read_roster
from simulator.stack.egil_client import push_roster
from simulator.stack.process import REPO, running_stack
from simulator.stack.walk import login
from stack_helpers import NO_RATE_LIMIT, SMOKE

SCENARIO = REPO / "scenarios" / "ci-smoke.yaml"


def _csv_for_ci_smoke(tmp_path):
    """A register export with as many pupils and teachers per school unit as ci-smoke plans there."""
    plan = load_plan(SCENARIO)
    rows = ["Skolenhetskod;Skolenhet;Klass;EPPN;Förnamn;Efternamn;Roll;Prov"]
    passwords = []
    for d in plan.devices:
        eppn = f"{'lar' if d.role == 'teacher' else 'elev'}{len(rows):04d}@stad.example"
        rows.append(f"{d.room.school_code};{d.site};{d.room.name};{eppn};Test;{len(rows)};"
                    f"{'Lärare' if d.role == 'teacher' else 'Elev'};{d.room.workload.test}")
        passwords.append(f"{eppn}\tpw-{len(rows)}-secret")
    (tmp_path / "export.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "passwords.tsv").write_text("\n".join(passwords) + "\n")
    return tmp_path / "export.csv", tmp_path / "passwords.tsv", plan


def test_csv_export_is_provisioned_and_its_pupil_logs_in(tmp_path):
    csv_path, pw_path, plan = _csv_for_ci_smoke(tmp_path)
    roster = read_roster(str(csv_path), read_passwords(str(pw_path)))
    pupils = [p for p in roster.persons if p.affiliation == "student"]
    assert len(pupils) == sum(d.role == "pupil" for d in plan.devices)
    assert {su.code for su in roster.school_units} == {r.school_code for r in plan.rooms}
    assert all(a.groups and a.test for a in roster.activities)
    with running_stack(tmp_path / "s", extra=NO_RATE_LIMIT) as s:
        cmd = [sys.executable, "-m", "simulator", "provision", "--roster", str(csv_path), "--password-command",
               f"cat {pw_path}", "--url", s.scim_url, "--token", s.scim_token, "--json"]
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["objects"] == len(roster) and "secret" not in done.stdout + done.stderr
        with httpx.Client() as c:
            login(c, s.base, pupils[0].eppn, pupils[0].password)
            assert c.get(f"{s.base}/platform/api/me").json()["eppn"] == pupils[0].eppn


def test_plan_takes_the_rosters_eppns_and_never_prints_passwords(tmp_path):
    csv_path, pw_path, plan = _csv_for_ci_smoke(tmp_path)
    cmd = [sys.executable, "-m", "simulator", "plan", str(SCENARIO), "--roster", str(csv_path), "--passwords",
           str(pw_path), "--devices"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    devices = json.loads(done.stdout)["device_list"]
    eppns = {line.split("\t")[0] for line in pw_path.read_text().splitlines()}
    assert len(devices) == len(plan.devices) and {d["eppn"] for d in devices} == eppns
    assert all(d["password"] is None for d in devices) and "secret" not in done.stdout


def test_ss12000_dump_round_trip(tmp_path):
    """A dump in the shape the SS 12000 API serves (here: fetched from the stack's own /ss12000)."""
    with running_stack(tmp_path / "s", extra=NO_RATE_LIMIT) as s:
        assert not push_roster(SMOKE, s.scim_url, s.scim_token).failed
        auth = {"Authorization": f"Bearer {s.scim_token}"}
        dump = {name: httpx.get(f"{s.ss12000_url}/{name}?limit=1000", headers=auth).json()
                for name in ("organisations", "persons", "groups", "activities", "duties")}
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(dump))
    roster = read_roster(str(path))
    assert {p.eppn: p.affiliation for p in roster.persons} == {p.eppn: p.affiliation for p in SMOKE.persons}
    assert {g.id: set(g.members) for g in roster.groups} == {g.id: set(g.members) for g in SMOKE.groups}
    assert {a.id: (a.groups, a.teachers, a.test) for a in roster.activities} == \
        {a.id: (a.groups, a.teachers, a.test) for a in SMOKE.activities}
    assert [su.code for su in roster.school_units] == [su.code for su in SMOKE.school_units]


@pytest.mark.parametrize("content, where", [
    ("Skolenhetskod;Klass;EPPN;Roll\n1234;9A;a@b.se;Elev\n", "export.csv:2:1: skolenhetskod"),
    ("Skolenhetskod;Klass;EPPN;Roll\n12345678;9A;not-an-eppn;Elev\n", "export.csv:2:3: eppn"),
    ("Skolenhetskod;Klass;EPPN;Roll\n12345678;9A;a@b.se;Rektor\n", "export.csv:2:4: roll"),
    ("Skolenhetskod;EPPN\n", "export.csv:1:1: roster: no column for group"),
    ('{"persons": [}', "export.csv:1:14: roster: not JSON"),
])
def test_bad_roster_files_are_one_line_errors(tmp_path, content, where):
    (tmp_path / "export.csv").write_text(content)
    with pytest.raises(RosterError) as err:
        read_roster(str(tmp_path / "export.csv"))
    assert str(err.value).startswith(str(tmp_path / where.split(":")[0]) + where[len(where.split(":")[0]):])
    done = subprocess.run([sys.executable, "-m", "simulator", "provision", "--roster", str(tmp_path / "export.csv"),
                           "--token", "x", "--url", "http://127.0.0.1:9/scim/v2"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith(str(tmp_path / "export.csv")), done.stderr  # the roster, not the URL
