"""``load --capture`` then ``capture analyse``: two independent measurements of one live run agree.

The live engine times each step with its own clock (Locust process); the
capture's timings come from the kernel's packet timestamps (dumpcap) and
only the URLs, form fields and cookies on the wire. Tolerance: every step
attempt of every pupil and teacher is found in both; the median start and
end differences are under 5 ms and none exceeds 250 ms (a loaded 2-core
machine can delay the Locust process's clock reading by ~0.1 s; pairing a
step with the wrong attempt would be off by the 2 s autosave period).
"""

from __future__ import annotations

import collections
import json
import shutil

import numpy as np
import pytest

from simulator.trace import read_steps

from packets_helpers import examday, examday_here, short_scenario

MEDIAN_S, MAX_S = 0.005, 0.250


def _by_step(table):
    d = collections.defaultdict(list)
    for r in table.records():
        if r.step != "provision" and r.ok:
            d[(r.device, r.step)].append((r.start_s, r.end_s))
    return {k: sorted(v) for k, v in d.items()}


def test_load_capture_analyse_agrees_with_live_trace(tmp_path):
    if shutil.which("dumpcap") is None:
        pytest.fail("dumpcap is missing: run scripts/system-packages.sh")
    sc = short_scenario(tmp_path, devices={"chromebook": 1, "ipad": 1})  # 4 pupils, 2 teachers
    test = tmp_path / "profiles" / "tests" / "smoke-test.yaml"  # a 4 s sitting: two autosaves and a submit
    test.write_text(test.read_text().replace("duration: 20 s", "duration: 4 s").replace("every: 5 s", "every: 2 s"))
    live = tmp_path / "live"
    examday("load", sc, "--stack", "--headless", "--capture", "--no-provision-load", "-q", "-o", live, check=0,
            timeout=600)
    pcap = live / "capture.pcapng"
    assert pcap.exists()
    assert "examday run live" in json.loads((live / "capture.json").read_text())["comment"]
    out = tmp_path / "analysed"
    examday_here("capture", "analyse", pcap, "-o", out, check=0)
    cap, ref = _by_step(read_steps(out)), _by_step(read_steps(live))
    assert set(ref) == set(cap), (set(ref) ^ set(cap))
    assert {s for _, s in ref} >= {"login", "assertion", "open", "download", "autosave", "submit"}
    ds, de = [], []
    for k, spans in ref.items():
        assert len(cap[k]) == len(spans), k
        for (s1, e1), (s2, e2) in zip(cap[k], spans):
            ds.append(s1 - s2)
            de.append(e1 - e2)
    ds, de = np.abs(ds), np.abs(de)
    assert np.median(ds) <= MEDIAN_S and np.median(de) <= MEDIAN_S, (np.median(ds), np.median(de))
    assert ds.max() <= MAX_S and de.max() <= MAX_S, (ds.max(), de.max())
