"""A-MPDU size: ``mac.window_ampdu`` against a simulated window cycle, and the model's mean downlink A-MPDU
against ns-3's (``mean_ampdu_mpdus_dl`` of the committed tables, validation/README.md).

ns-3's AP sends 36–38 MPDUs per A-MPDU under a 42-MPDU byte cap (65,535 B) in every 5 GHz download case,
802.11ac (BlockAck window 64) and 802.11ax (256) alike; the caps alone (K = min(caps, W)) made the model's
7 % larger on average and up to 13 %.
"""

import math
import tempfile
from pathlib import Path

import numpy as np
import pytest

from simulator.model import engine
from simulator.model.mac import MacTiming, collision_terms, contention_terms, repeat_probability, window_ampdu

from .ns3_reference import seed_run, tables

#: per case: |model / ns-3 − 1| of the mean downlink A-MPDU; over the cases: |mean signed error| (measured
#: 2026-12-03 on main 97c1e6b: −12.6 … +12.6 %, mean +4.0 %; the caps alone: −11.9 … +13.5 %, mean +6.9 %)
PER_CASE, BIAS = 0.13, 0.05


def _simulated_cycle(w: int, cap: int, q: float, cycles: int, rng: np.random.Generator) -> float:
    """Mean A-MPDU of a window-bound flow, event by event: the AP's queue holds what the window lets out."""
    sent = ampdus = 0
    for _ in range(cycles):
        queued = w  # the station's ACKs have just returned the whole window
        while True:
            k = min(cap, queued)
            queued -= k
            sent += k
            ampdus += 1
            if queued == 0 or rng.random() >= q:  # the station's ACK A-MPDU comes first
                break
    return sent / ampdus


def test_window_ampdu_by_hand():
    # W = 90, cap 42, q = 1/2: cycles of 1 (42), 2 (84) or 3 (90) A-MPDUs with probability 1/2, 1/4, 1/4
    want = (0.5 * 42 + 0.25 * 84 + 0.25 * 90) / (0.5 * 1 + 0.25 * 2 + 0.25 * 3)
    assert float(window_ampdu(90, 42, 0.5)) == pytest.approx(want, rel=1e-12)
    assert float(window_ampdu(30, 42, 0.5)) == pytest.approx(30.0)  # a window under the cap: one A-MPDU
    assert float(window_ampdu(90, 42, 0.0)) == pytest.approx(42.0)  # never served twice: always the cap
    assert float(window_ampdu(90, 42, 1.0)) == pytest.approx(30.0)  # always served again: 90 in 3
    assert float(window_ampdu(1e9, 42, 0.5)) == pytest.approx(42.0, rel=1e-6)  # no window (not TCP): the cap


@pytest.mark.parametrize("w, cap, q", [(90, 42, 0.5), (90, 28, 0.3), (60, 42, 0.7), (200, 42, 0.2), (90, 8, 0.5)])
def test_window_ampdu_matches_a_simulated_cycle(w, cap, q):
    got = _simulated_cycle(w, cap, q, 40_000, np.random.default_rng(7))
    assert float(window_ampdu(w, cap, q)) == pytest.approx(got, rel=0.01)


def test_a_lone_station_is_served_again_half_the_time():
    # the AP and its one station are the two contenders, each the next to succeed with probability 1/2
    for std in ("ax", "ac", "n"):
        timing = MacTiming(std, 2, 0.8e-6)
        _, _, _, u = contention_terms(1, 0, timing)
        assert float(repeat_probability(u)) == pytest.approx(0.5, abs=1e-9)
        # more backlogged stations: the AP rarely comes back first
        qs = [float(repeat_probability(contention_terms(m, 0, timing)[3])) for m in (2, 5, 10, 20)]
        assert all(a > b for a, b in zip([0.5] + qs, qs)), qs


def test_ack_only_collisions_need_two_ack_holders():
    timing = MacTiming("ax", 2, 0.8e-6)
    _, b1, _, d1, _ = collision_terms(1, 0, timing)
    assert d1 == 0.0 and b1 > 0.0  # one station: every collision has the AP's data PPDU in it
    for m in (3, 10, 30):
        _, b, c, d, _ = collision_terms(m, 0, timing)
        assert 0.0 < d < b and c == 0.0


def _aggregating_downloads() -> list[dict]:
    return [t for t in tables() if t["config"]["ba_buffer_mpdus"] and t["config"]["download_bytes"] > 0
            and not t["config"]["upload_bytes"]]


def _model_mean_ampdu(table: dict, monkeypatch) -> float:
    """The model's mean downlink A-MPDU over the table's seeds: data MPDUs sent / A-MPDUs, from each
    recompute's A-MPDU size (``net.segs``) and the rates allocated until the next one."""
    seen = {"mpdus": 0.0, "ampdus": 0.0, "last": None}
    refresh = engine.Simulation._refresh_ap

    def observed(self, net, idx, changed=None):
        last = seen["last"]
        if last is not None and last[0] is self and self.now > last[1]:
            _, t0, i, k = last
            down = ~net.up[i] & net.tcp[i] & net.active[i]
            mpdus = np.where(down, net.rate[i] * (self.now - t0) / 8.0 / net.mss[i], 0.0)
            seen["mpdus"] += float(mpdus.sum())
            seen["ampdus"] += float((mpdus / np.maximum(k, 1.0)).sum())
        refresh(self, net, idx, changed)
        seen["last"] = (self, self.now, idx.copy(), net.segs[idx].copy())

    monkeypatch.setattr(engine.Simulation, "_refresh_ap", observed)
    per_seed = []
    for row in table["per_seed"]:
        seen.update(mpdus=0.0, ampdus=0.0, last=None)
        with tempfile.TemporaryDirectory(prefix="examday-ampdu-") as d:
            seed_run(table, row, Path(d))
        per_seed.append(seen["mpdus"] / seen["ampdus"])
    return float(np.mean(per_seed))


def test_model_ampdu_matches_ns3(monkeypatch):
    cases = _aggregating_downloads()
    assert len(cases) >= 15, [t["case"] for t in cases]
    errors = {}
    for t in cases:
        want = float(np.mean([row["mean_ampdu_mpdus_dl"] for row in t["per_seed"]]))
        errors[t["case"]] = _model_mean_ampdu(t, monkeypatch) / want - 1
    shown = ", ".join(f"{c} {e:+.1%}" for c, e in errors.items())
    assert all(abs(e) <= PER_CASE for e in errors.values()), shown
    bias = sum(errors.values()) / len(errors)
    assert abs(bias) <= BIAS and not math.isnan(bias), f"mean {bias:+.1%}: {shown}"
