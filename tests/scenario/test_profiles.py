"""Profiles that extend (a scenario's own profiles/ and --profiles DIR over the built-ins, by name),
--set by name and template counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.cli import main
from simulator.errors import UserError
from simulator.plan import load_plan
from simulator.scenario import load_scenario
from simulator.scenario.loader import BUILTIN_PROFILES, profiles_overlay

ROOT = Path(__file__).resolve().parents[2]

IDP = """name: {name}
description: test IdP
kind: idp
workers: {workers}
operations: {{authn_request: 2 ms, credentials: 65 ms}}
"""


def _scenario(tmp: Path, idp: str = "idp-extra") -> Path:
    text = (ROOT / "scenarios" / "malmo-city.yaml").read_text()
    text = text.replace("idp: {profile: idp-broker}", f"idp: {{profile: {idp}}}")
    assert f"profile: {idp}" in text
    path = tmp / "city.yaml"
    path.write_text(text)
    return path


def _profile(folder: Path, kind: str, name: str, text: str) -> None:
    (folder / kind).mkdir(parents=True, exist_ok=True)
    (folder / kind / f"{name}.yaml").write_text(text)


def test_own_profiles_folder_adds_to_and_replaces_builtins(tmp_path, capsys):
    own = tmp_path / "profiles"
    _profile(own, "services", "idp-extra", IDP.format(name="idp-extra", workers=3))
    ap = (BUILTIN_PROFILES / "aps" / "aruba-535.yaml").read_text().replace("max_clients: 64", "max_clients: 40")
    _profile(own, "aps", "aruba-535", ap)
    loaded = load_scenario(_scenario(tmp_path))
    p = loaded.profiles
    assert p.services["idp-extra"].workers == 3
    assert p.aps["aruba-535"].max_clients == 40  # replaced by name
    assert "chromebook" in p.devices and "english-listening-9" in p.tests  # built-ins still there
    assert [(r.kind, r.name, r.builtin) for r in p.replaced] == [("aps", "aruba-535", True)]
    assert main(["validate", str(tmp_path / "city.yaml")]) == 0
    out = capsys.readouterr().out
    assert "replaces the built-in AP profile 'aruba-535'" in out


def test_profiles_option_layers_in_order_relative_to_cwd(tmp_path, monkeypatch, capsys):
    for d, workers in (("one", 2), ("two", 5)):
        _profile(tmp_path / d, "services", "idp-extra", IDP.format(name="idp-extra", workers=workers))
    scen = _scenario(tmp_path)
    monkeypatch.chdir(tmp_path)
    plan = load_plan("city.yaml", [profiles_overlay("one"), profiles_overlay("two")])
    assert plan.services["idp"].workers == 5  # the later folder wins
    plan = load_plan("city.yaml", [profiles_overlay("two"), profiles_overlay("one")])
    assert plan.services["idp"].workers == 2
    assert main(["plan", str(scen), "--profiles", "one", "--json"]) == 0
    capsys.readouterr()
    with pytest.raises(UserError, match="unknown service profile 'idp-extra'"):
        load_scenario(scen)  # without the overlay the profile does not exist
    assert main(["validate", str(scen), "--profiles", "missing-dir"]) == 2
    assert "profiles folder not found" in capsys.readouterr().err


def test_set_by_name_and_template_counts(scenarios, capsys):
    city = scenarios / "malmo-city.yaml"
    base = load_scenario(city).scenario
    target = base.sites[40].name
    s = load_scenario(city, [f"sites[name={target}].uplink.down=50 Mbit/s"]).scenario
    assert s.sites[40].uplink.down == 50e6 and base.sites[40].uplink.down != 50e6
    assert [x.uplink.down for i, x in enumerate(s.sites) if i != 40] == \
           [x.uplink.down for i, x in enumerate(base.sites) if i != 40]
    room = base.sites[3].classrooms[1].name
    s = load_scenario(city, [f"sites[name={base.sites[3].name}].classrooms[name={room}].devices.ipad=9"]).scenario
    assert s.sites[3].classrooms[1].devices["ipad"] == 9
    # counts act on the file as written: a template entry's count, a site template's classroom count
    s = load_scenario(city, ["sites[0].count=5"]).scenario
    assert len(s.sites) == len(base.sites) - _raw_count(city, 0) + 5
    s = load_scenario(city, ["templates.sites.compulsory.classrooms[0].count=4"]).scenario
    rooms = lambda sc: sum(len(x.classrooms) for x in sc.sites if x.kind == "compulsory")  # noqa: E731
    n_comp = sum(x.kind == "compulsory" for x in base.sites)
    assert rooms(s) == rooms(base) + n_comp * (4 - _tpl_room_count(city))
    assert main(["validate", str(city), "--set", "sites[name=no-such-school].uplink.down=1 Gbit/s"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no item with name 'no-such-school'" in err[0], err


def _raw_count(path: Path, i: int) -> int:
    import yaml
    return yaml.safe_load(path.read_text())["sites"][i].get("count", 1)


def _tpl_room_count(path: Path) -> int:
    import yaml
    return yaml.safe_load(path.read_text())["templates"]["sites"]["compulsory"]["classrooms"][0]["count"]
