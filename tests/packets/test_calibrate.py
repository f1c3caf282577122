"""``calibrate``: a storm against a dnsmasq with a known reply delay, fitted, moves the model onto it.

dnsmasq is started with ``--dhcp-reply-delay 1`` (``storm --server-delay 1``),
so every join waits on the server for about a second or more per exchange
— far from the shipped profile's 2 ms. After ``calibrate`` the model's join
p50 (``simulate --profiles DIR``) must land within 10 % of the storm's
measured p50; without the overlay it must not.
"""

from __future__ import annotations

import numpy as np
import yaml

from simulator.trace import read_steps

from conftest import examday, examday_here, short_scenario


def join_p50(run) -> float:
    s = read_steps(run)
    m = (s.step == "join") & s.ok
    assert m.sum() > 0
    return float(np.median(s.duration_s[m]))


def test_calibrated_model_join_p50_within_10_percent_of_storm(need_root, tmp_path):
    sc = short_scenario(tmp_path, initial=(0.1, 0.5), devices={"chromebook": 12, "ipad": 2})
    storm = tmp_path / "storm"
    examday("storm", sc, "-o", storm, "--server-delay", "1", "--no-dns", "-q", "--no-report")
    fitted = tmp_path / "fitted"
    examday_here("calibrate", storm, "--profiles", fitted, check=0)
    dhcp = yaml.safe_load((fitted / "services" / "city-dhcp.yaml").read_text())
    lease = float(dhcp["operations"]["lease"].split()[0])
    assert lease >= 0.5  # the server's delay, not the shipped 2 ms
    assert (fitted / "devices" / "chromebook.yaml").exists() and (fitted / "calibration.md").exists()
    examday_here("simulate", sc, "-o", tmp_path / "before", "-q", "--until", "1min")
    examday_here("simulate", sc, "--profiles", fitted, "-o", tmp_path / "after", "-q", "--until", "1min")
    measured, before, after = join_p50(storm), join_p50(tmp_path / "before"), join_p50(tmp_path / "after")
    assert abs(after - measured) <= 0.10 * measured, (measured, before, after)
    assert abs(before - measured) > 0.10 * measured
