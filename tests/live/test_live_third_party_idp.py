"""The pupil (and teacher) users log in through a third-party SAML IdP (pysaml2)
whose login page differs from the reference one, when the scenario's targets
point at it and ``targets.login_form`` describes its form."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

from simulator.plan import load_plan
from simulator.live import forms
from simulator.stack.egil_client import push_roster
from simulator.stack.process import running_stack
from simulator.trace import read_steps
from conftest import REPO, _env, examday, free_port, wait_http, write_scenario

TOKEN = "examday-egil-token"


def test_pupils_log_in_through_a_pysaml2_idp(tmp_path):
    idp_port, stack_port = free_port(), free_port()
    stack = f"http://127.0.0.1:{stack_port}"
    idp = f"http://127.0.0.1:{idp_port}"
    login_form = {"form": "kc-form-login", "username": "j_username", "password": "j_password"}
    targets = {"idp": f"{idp}/idp", "platform": f"{stack}/platform", "scim": f"{stack}/scim/v2",
               "ss12000": f"{stack}/ss12000", "login_form": login_form}
    scen = write_scenario(tmp_path, targets, name="third-party", pupils=3, ipads=1)
    plan = load_plan(str(scen))
    users = {d.eppn: {"password": d.password, "affiliation": "student" if d.role == "pupil" else "staff"}
             for d in plan.devices}
    (tmp_path / "users.json").write_text(json.dumps(users))
    (tmp_path / "idp").mkdir()
    (tmp_path / "stack").mkdir()
    (tmp_path / "stack" / "scim-token").write_text(TOKEN + "\n")  # the stack keeps a token it finds
    proc = subprocess.Popen([sys.executable, str(Path(__file__).parent / "pysaml2_idp.py"), "--port", str(idp_port),
                             "--dir", str(tmp_path / "idp"), "--users", str(tmp_path / "users.json"),
                             "--sp-metadata", f"{stack}/platform/metadata"], env=_env(), cwd=str(REPO))
    try:
        wait_http(f"{idp}/health", proc)
        with running_stack(tmp_path / "stack", stack_port, trust_metadata=(str(tmp_path / "idp" / "idp-metadata.xml"),),
                           profiles=tmp_path / "profiles" / "tests") as urls:
            assert not push_roster(plan.roster(), urls.scim_url, TOKEN).failed
            r = examday("load", str(scen), "-o", str(tmp_path / "run"), "--headless")
            # the same IdP with the reference form description: a clear reason, not a crash
            with urllib.request.urlopen(f"{stack}/platform/login?idp={idp}/idp", timeout=10) as resp:
                page, url = resp.read(), resp.url
    finally:
        proc.terminate()
        proc.wait(10)
    assert r.returncode == 0, r.stderr
    t = read_steps(tmp_path / "run")
    ok = t.where(t.ok)
    for step in ("login", "assertion", "download", "submit"):
        assert set(ok.device[ok.step == step]) >= {d.id for d in plan.devices if d.role == "pupil"}, step
    assert (ok.step == "open").sum() == 1  # the teacher logged in through the same IdP and opened the session
    assert url.startswith(f"{idp}/idp/SSO/Redirect?SAMLRequest=")
    try:
        forms.login_form(page, url)
        raise AssertionError("the reference form description must not match this IdP")
    except forms.PageMismatch as err:
        assert "login form 'login' not found on IdP page 'Sign in to Test Federation'" in err.reason
