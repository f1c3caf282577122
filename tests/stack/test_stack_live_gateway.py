"""A login through the access-gateway role works from the live engine: ``examday
load`` against ``examday stack --gateway`` signs every pupil and the teacher in
along platform → gateway → IdP → gateway → platform (issue 11's bounded
sign-in chain), and the stack's access log shows each of them at the gateway's
ACS."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from simulator.plan import load_plan
from simulator.stack.egil_client import push_roster
from simulator.stack.process import free_port, running_stack
from simulator.trace import read_steps

_spec = importlib.util.spec_from_file_location("live_helpers", Path(__file__).parents[1] / "live" / "conftest.py")
live = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(live)


def test_live_engine_signs_in_through_the_gateway(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    scen = live.write_scenario(tmp_path, {"idp": f"{base}/idp", "platform": f"{base}/platform",
                                          "scim": f"{base}/scim/v2", "ss12000": f"{base}/ss12000"},
                               name="via-gateway", pupils=3, ipads=1)
    plan = load_plan(str(scen))
    log = tmp_path / "stack.log"
    with running_stack(tmp_path / "stack", port, profiles=tmp_path / "profiles" / "tests", mfa_delay="0.2 s",
                       extra=("--gateway",), quiet=False, log_path=log) as urls:
        assert not push_roster(plan.roster(), urls.scim_url, urls.scim_token).failed
        r = live.examday("load", str(scen), "-o", str(tmp_path / "run"), "--headless")
    assert r.returncode == 0, r.stderr[-2000:]
    t = read_steps(tmp_path / "run")
    ok = t.where(t.ok)
    pupils = {d.id for d in plan.devices if d.role == "pupil"}
    for step in ("login", "assertion", "download", "submit"):
        assert set(ok.device[ok.step == step]) >= pupils, step
    assert (ok.step == "open").sum() == 1  # the teacher (LoA 3 through the gateway) opened the session
    text = log.read_text()
    gateway_acs = len(re.findall(r'"POST /gateway/acs HTTP/1.1" 200', text))
    platform_acs = len(re.findall(r'"POST /platform/acs HTTP/1.1" 303', text))
    assert gateway_acs >= len(plan.devices) and platform_acs >= len(plan.devices)
    assert len(re.findall(r'"GET /gateway/sso\?SAMLRequest=[^ ]* HTTP/1.1" 302', text)) >= len(plan.devices)
