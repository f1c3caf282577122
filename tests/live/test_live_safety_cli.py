"""The load verb refuses targets it may not load, before any traffic or run folder."""

from __future__ import annotations

from conftest import examday, write_scenario


def _targets(host: str, allowed=()):
    t = {"idp": f"http://{host}/idp", "platform": f"http://{host}/platform", "scim": "http://127.0.0.1:9/scim",
         "ss12000": "http://127.0.0.1:9/ss12000"}
    if allowed:
        t["allowed_hosts"] = list(allowed)
    return t


def test_non_loopback_target_refused_without_flag(tmp_path):
    scen = write_scenario(tmp_path, _targets("192.0.2.10", allowed=["192.0.2.10"]), teacher=None)
    r = examday("load", str(scen), "-o", str(tmp_path / "run"))
    assert r.returncode == 2
    assert "refusing to send load to 192.0.2.10" in r.stderr and "--i-own-these-targets" in r.stderr
    assert not (tmp_path / "run").exists()


def test_unlisted_host_refused_even_with_flag(tmp_path):
    scen = write_scenario(tmp_path, _targets("192.0.2.11"), teacher=None)
    r = examday("load", str(scen), "-o", str(tmp_path / "run"), "--i-own-these-targets")
    assert r.returncode == 2 and "not in targets.allowed_hosts" in r.stderr
    assert not (tmp_path / "run").exists()


def test_bad_scenario_is_exit_2(tmp_path):
    r = examday("load", str(tmp_path / "missing.yaml"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
