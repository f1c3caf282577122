"""One egress policy, enforced where connections are made: off-target redirects,
form actions, manifest and autosave URLs are refused before any socket opens;
a DNS answer that changes mid-run is not followed (addresses pinned at start);
a worker refuses a master whose digest or targets are not its own.

Each end-to-end case keeps a listening socket on the off-target address and
asserts that no connection ever reached its backlog."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.live.config import LiveConfig, refusal
from simulator.live.safety import EgressPolicy, OffTarget
from simulator.trace import read_steps
from conftest import (REPO, _env, contacted, examday, fake_server, fake_targets, free_port, off_target_listener,
                      write_scenario)


def _policy(a: int, b: int, allowed=()) -> EgressPolicy:
    return EgressPolicy.pin({"idp": f"http://127.0.0.1:{a}/idp", "platform": f"http://localhost:{b}/platform",
                             "scim": f"http://127.0.0.1:{a}/scim", "ss12000": f"http://127.0.0.1:{a}/ss",
                             "allowed_hosts": list(allowed)})


def test_policy_allows_target_origins_only_and_pins_addresses():
    p = _policy(8401, 8402)
    assert p.endpoint("http://127.0.0.1:8401/idp/sso?x=1") == ("http", "127.0.0.1", 8401, "127.0.0.1")
    scheme, addr, port, host = p.endpoint("http://LOCALHOST:8402/platform/api/manifest")
    assert (host, port) == ("localhost", 8402) and addr in ("127.0.0.1", "::1")
    for url, host in (("http://10.99.0.1/x", "10.99.0.1"), ("http://127.0.0.1:22/", "127.0.0.1:22"),
                      ("http://127.0.0.2:8401/", "127.0.0.2:8401"), ("ftp://127.0.0.1:8401/", "127.0.0.1:8401"),
                      ("http://localhost:8401/", "localhost:8401")):
        with pytest.raises(OffTarget) as err:
            p.endpoint(url)
        assert err.value.reason == f"off-target {host}"
    # credentials only to the IdP target's origin, not to another allowed origin
    assert p.credentials_ok("http://127.0.0.1:8401/idp/login")
    assert not p.credentials_ok("http://localhost:8402/platform/login")
    assert EgressPolicy.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    # an allowed (loopback) host may be reached on any port
    assert _policy(8401, 8402, allowed=["127.0.0.3"]).endpoint("http://127.0.0.3:9/")[1] == "127.0.0.3"


def test_worker_refuses_other_digest_or_targets():
    t = {"idp": "http://127.0.0.1:1/idp", "platform": "http://127.0.0.1:1/platform", "scim": "http://127.0.0.1:1/s",
         "ss12000": "http://127.0.0.1:1/ss", "allowed_hosts": [], "login_form": {"form": "login"}}
    mine = LiveConfig(scenario="s", run_dir="/tmp", run="r", targets=t, digest="abc")
    assert refusal(mine, LiveConfig(scenario="s", run_dir="/x", run="r", targets=dict(t), digest="abc")) == ""
    assert "digest" in refusal(mine, LiveConfig(scenario="s", run_dir="/x", run="r", targets=t, digest=""))
    other = {**t, "platform": "http://10.99.0.1/platform"}
    assert "platform" in refusal(mine, LiveConfig(scenario="s", run_dir="/x", run="r", targets=other, digest="abc"))


def test_off_target_urls_from_the_server_fail_their_step_and_are_never_contacted(tmp_path):
    with off_target_listener() as (sock, port):
        rogue = f"http://127.0.0.2:{port}/idp/login"  # the form is still found: its action ends in /login
        with fake_server(rogue=rogue, modes="redirect,form,manifest,autosave") as base:
            scen = write_scenario(tmp_path, fake_targets(base), teacher=None, pupils=4, ipads=0, duration=2, every=1,
                                  median=0.3, p95=1.0)
            r = examday("load", str(scen), "-o", str(tmp_path / "run"), "--no-provision-load", "-q")
        assert not contacted(sock), "a connection reached the off-target address"
    assert r.returncode in (0, 1), r.stderr
    t = read_steps(tmp_path / "run")
    off = t.where(t.error == f"off-target 127.0.0.2:{port}")
    # redirect and form action: the login fails; manifest part: the download; autosave URL: every autosave
    assert sorted(off.step.tolist()) == ["autosave", "autosave", "download", "login", "login"]
    assert len(set(off.device.tolist())) == 4
    assert (off.attempt == 1).all()  # never retried: off-target is not a transient failure


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare")
def test_dns_rebinding_is_not_followed(tmp_path):
    """The target name resolves to 127.0.0.1 when the run starts and to 127.0.0.2 right after (a hosts file
    bind-mounted over /etc/hosts in a private mount namespace): every connection still goes to 127.0.0.1."""
    import os
    if os.geteuid() != 0:
        pytest.fail("needs root (CAP_SYS_ADMIN) for a private mount namespace; CI runs as root")
    name = f"examday-rebind-{os.getpid()}.test"
    hosts = tmp_path / "hosts"
    hosts.write_text(f"127.0.0.1 localhost\n127.0.0.1 {name}\n")
    port = free_port()
    with off_target_listener("127.0.0.2", port) as (sock, _), fake_server(port=port):
        targets = {k: v.replace("127.0.0.1", name) for k, v in fake_targets(f"http://127.0.0.1:{port}").items()}
        scen = write_scenario(tmp_path, targets, teacher=None, pupils=3, ipads=0, duration=1, every=1,
                              median=1.0, p95=2.0)
        cmd = (f"mount --bind {hosts} /etc/hosts && exec {sys.executable} -m simulator load {scen} "
               f"-o {tmp_path / 'run'} --no-provision-load")
        proc = subprocess.Popen(["unshare", "-m", "sh", "-c", cmd], env=_env(), cwd=str(REPO),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            for line in proc.stderr:
                if line.startswith("running "):  # addresses are pinned; the Locust process is about to start
                    hosts.write_text(f"127.0.0.1 localhost\n127.0.0.2 {name}\n")
                    break
            _, err = proc.communicate(timeout=180)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert not contacted(sock), "a connection followed the rebound name to 127.0.0.2"
    assert proc.returncode in (0, 1), err
    t = read_steps(tmp_path / "run")
    assert ((t.step == "download") & t.ok).sum() == 3


def test_worker_refuses_a_rogue_master_and_sends_nothing(tmp_path):
    with off_target_listener() as (sock, port), fake_server() as base:
        scen = write_scenario(tmp_path, fake_targets(base), teacher=None, pupils=2, ipads=0)
        mport = free_port()
        master = subprocess.Popen([sys.executable, str(Path(__file__).parent / "rogue_master.py"), str(mport),
                                   f"http://127.0.0.2:{port}"], env=_env(), stdout=subprocess.PIPE, text=True)
        try:
            assert master.stdout.readline().strip() == "listening"
            r = examday("load", str(scen), "--worker", "--master-host", "127.0.0.1", "--master-port", str(mport),
                        "-o", str(tmp_path / "w"), "-q", bound_s=120)
            report = json.loads(master.communicate(timeout=60)[0].strip() or "{}")
        finally:
            if master.poll() is None:
                master.kill()
        assert not contacted(sock)
    assert r.returncode == 2
    assert "refused" in report.get("error", "") and "digest" in report["error"]
    assert not list((tmp_path / "w").glob("steps-*.csv.gz"))


def test_two_hop_sign_in_through_an_access_gateway(tmp_path):
    """platform -> gateway -> IdP -> gateway -> platform (two auto-submitting SAML forms), every hop on target."""
    with fake_server(gateway=True) as base:
        scen = write_scenario(tmp_path, fake_targets(base), teacher=None, pupils=3, ipads=0, duration=1, every=1)
        r = examday("load", str(scen), "-o", str(tmp_path / "run"), "--no-provision-load", "-q")
    assert r.returncode == 0, r.stderr
    t = read_steps(tmp_path / "run")
    for step in ("login", "assertion", "download", "submit"):
        assert ((t.step == step) & t.ok).sum() == 3, step
    assert t.ok.all()
