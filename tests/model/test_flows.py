"""Flow-level TCP: max-min shares (C/N), the water-filling tree, and a 5 MB download's slow start."""

import math

import numpy as np
import pytest

from simulator.model.flows import FluidNetwork, waterfill

from .helpers import city, profiles_with_test, run


def _net(caps):
    levels = [np.asarray(c, float) for c in caps]
    offs = list(np.cumsum([0] + [len(c) for c in levels[:-1]]))
    return FluidNetwork(levels, offs, sum(len(c) for c in levels), 1.0, 1000, gap_per_flow=0.0)


@pytest.mark.parametrize("n", [1, 3, 10])
def test_n_equal_long_flows_share_a_bottleneck_equally(n):
    c = 100e6
    net = _net([[1.0], [c]])  # level 0: an ideal radio (airtime cost ~0), level 1: the bottleneck link
    for i in range(n):
        net.add((0, 0), 1e9, 1.0, i)
    net.ap_cost[:] = 1e-12
    net.update(0.0)
    idx = np.flatnonzero(net.active)
    assert np.allclose(net.rate[idx], c / n)
    done = []
    t = 0.0
    while net.n_active:
        t = net.next_time()
        done += net.update(t)
    assert len(done) == n
    assert all(d.end_s == pytest.approx(n * 1e9 / c) for d in done)


def test_maxmin_on_a_tree():
    # two rooms under one uplink of 90: room 0 radio limits its flow to 10, room 1 has two flows
    d = np.array([10.0, np.inf, np.inf])
    w = np.ones(3)
    rate, _ = waterfill(np.minimum(d, 1e15), w, np.ones(3), np.array([0, 0, 0]), np.array([90.0]))
    assert rate.tolist() == pytest.approx([10, 40, 40])
    # weights = parallel connections: 1 vs 3 connections share 80 as 20/60
    rate, _ = waterfill(np.array([1e9, 1e9]), np.array([1.0, 3.0]), np.ones(2), np.array([0, 0]), np.array([80.0]))
    assert rate.tolist() == pytest.approx([20, 60])


def test_single_5mb_download_on_an_idle_path_is_slow_start_plus_serialisation(tmp_path):
    size, uplink = 5e6, 50e6
    profiles = profiles_with_test(tmp_path, "one-file", [("manifest", "20 kB"), ("file", "5 MB")])
    path = city(tmp_path, rooms=1, chromebooks=1, ipads=0, teacher=None, uplink="50 Mbit/s",
                test="one-file", profiles=profiles)
    plan, _, steps = run(path, tmp_path / "run")
    row = np.flatnonzero(steps.step == "download")[0]
    bulk_s = steps.end_s[row] - (steps.start_s[row] + steps.ttfb_s[row])
    # independently: RTT = wired route + the Wi-Fi access (one A-MPDU exchange and its ACK, well under 2 ms);
    # IW = 10 x 1448 B (RFC 6928), the window doubling per RTT in slow start
    rtt = plan.rooms[0].route.rtt_s + 0.002
    iw = 10 * 1448
    bdp = uplink * rtt / 8  # bytes per RTT at the bottleneck rate
    k = 0
    while iw * 2 ** k < bdp:
        k += 1  # rounds until the window covers the path
    sent = iw * (2 ** k - 1)
    expected = k * rtt + (size - sent) * 8 / uplink
    assert bulk_s == pytest.approx(expected, rel=0.01)
    assert expected > size * 8 / uplink  # slow start costs round trips on top of serialisation
    assert math.isfinite(steps.ttfb_s[row])


def test_airtime_freed_by_a_wired_limit_goes_to_the_slow_station():
    # one AP with airtime fairness: a fast station (e=400) and a slow one (e=20) behind a 100 Mbit/s uplink
    net = _net([[1.0], [100.0]])
    net.add((0, 0), 1e6, 1.0, "fast")
    net.add((0, 0), 1e6, 1.0, "slow")
    net.ap_cost[:2] = [1 / 400, 1 / 20]
    net.ap_weight[:2] = [400, 20]
    net.update(0.0)
    fast, slow = net.rate[:2]
    # equal airtime alone would give 200 and 10; the uplink caps the pair at 100, and the air the fast
    # station no longer needs goes to the slow one. Exact max-min: slow/20 + (100 - slow)/400 = 1 -> 15.79;
    # two passes get 15.5 (the second pass freezes the fast station at its first-pass rate).
    assert fast + slow == pytest.approx(100.0)
    assert 15.0 < slow < 15.8
    assert slow / 20 + fast / 400 <= 1.0 + 1e-9


def test_airtime_taken_by_short_exchanges_slows_downloads():
    net = _net([[1.0], [1e9]])
    net.add((0, 0), 1e6, 1.0, "dl")
    net.ap_cost[0], net.ap_weight[0] = 1 / 400.0, 400.0
    net.update(0.0)
    full = net.rate[0]
    net.ap_capacity = np.array([0.75])  # a quarter of the air taken by uploads and short responses
    net.update(0.0)
    assert full == pytest.approx(400.0)
    assert net.rate[0] == pytest.approx(300.0)
