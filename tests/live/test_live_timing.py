"""Step timings agree with an independent measurement (a delay the server adds),
and a stalling server shows as planned-vs-actual lag, not as late arrivals."""

from __future__ import annotations

import numpy as np

from simulator.results import read_manifest
from simulator.trace import read_steps
from conftest import examday, fake_server, fake_targets, write_scenario


def _run(tmp_path, base, **kw):
    scen = write_scenario(tmp_path, fake_targets(base), teacher=None, **kw)
    out = tmp_path / "run"
    r = examday("load", str(scen), "-o", str(out), "--no-provision-load", "--headless")
    return r, out


def test_known_server_delay_shows_in_step_durations(tmp_path):
    delay = 0.150
    with fake_server(f"answers={delay}", "manifest=0.050") as base:
        r, out = _run(tmp_path, base, pupils=4, ipads=1, duration=3, every=1)
    assert r.returncode == 0, r.stderr
    t = read_steps(out)
    save = t.where((t.step == "autosave") & t.ok)
    assert len(save) == 5 * 3
    excess = save.duration_s - delay
    assert excess.min() >= 0.0
    assert float(np.median(excess)) < 0.005  # within a few ms of what the server added
    dl = t.where((t.step == "download") & t.ok)
    assert len(dl) == 5 and (dl.duration_s >= 0.050).all()
    assert (dl.ttfb_s > 0.050).all() and (dl.ttfb_s <= dl.duration_s).all()  # first content byte after the manifest
    assert read_manifest(out)["engine"] == "live"


def test_stalling_server_shows_planned_vs_actual_lag(tmp_path):
    with fake_server("answers=1.6", "sso=1.0") as base:
        r, out = _run(tmp_path, base, pupils=3, ipads=0, duration=4, every=1)
    assert r.returncode in (0, 1), r.stderr
    t = read_steps(out)
    login = t.where(t.step == "login")
    # open arrivals: every device starts its login when planned although the IdP stalls each login for 1 s
    assert len(login) == 3 and ((login.start_s - login.planned_s) < 0.05).all()
    assert (login.duration_s >= 1.0).all()
    save = t.where(t.step == "autosave")
    lag = save.start_s - save.planned_s
    assert lag.max() > 0.5  # autosave k+1 could not start until the stalled autosave k ended
    assert (save.duration_s >= 1.6).all()


def test_rate_limiter_waits_are_start_lag_and_queue_not_service_time(tmp_path):
    """At --max-rps 5 the 4 pupils' ~40 requests need >= 8 s of slots; none of it may count as server time."""
    delay = 0.05
    with fake_server(f"answers={delay}") as base:
        scen = write_scenario(tmp_path, fake_targets(base), teacher=None, pupils=4, ipads=0, duration=2, every=1,
                              median=0.2, p95=0.4)
        out = tmp_path / "run"
        r = examday("load", str(scen), "-o", str(out), "--no-provision-load", "--max-rps", "5")
    assert r.returncode in (0, 1), r.stderr
    t = read_steps(out)
    ok = t.where(t.ok)
    span = float(ok.end_s.max() - ok.start_s.min())
    requests = 4 * (3 + 2 + 3 + 2 + 1)  # login, assertion (+ redirect), manifest + 2 parts, 2 autosaves, submit
    assert span >= (requests - 1) / 5 * 0.9
    assert (ok.queue_s >= 0).all()
    # the slots the limiter imposed (~(requests-1)/rate of waiting) show up as start lag or queue_s ...
    first = ok.where(np.isin(ok.step, ("login", "autosave", "submit")))
    waited = float(ok.queue_s.sum() + (first.start_s - first.planned_s).sum())
    assert waited >= 0.5 * (requests - 1) / 5
    # ... so that what is left of a login is the servers' time: less than its limiter wait on the median
    login = ok.where(ok.step == "login")
    assert float(np.median(login.duration_s - login.queue_s)) < float(np.median(login.queue_s))
    assert float((login.start_s - login.planned_s).max()) > 0.2  # later arrivals waited for a slot before starting
    save = ok.where(ok.step == "autosave")
    assert (save.duration_s - save.queue_s >= delay).all()
