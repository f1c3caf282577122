"""PHY rates (DOMAIN.md), Bianchi vs ns-3 wifi-bianchi reference values, A-MPDU, airtime fairness."""

import numpy as np
import pytest

from simulator.model.wifi import (airtime_shares, ampdu_throughput, bianchi_tau, bianchi_throughput,
                                  efficiency_table, negotiate, phy_rate)
from simulator.scenario.models import Radio

# ns-3 src/wifi/examples/wifi-bianchi.cc reference tables (DOMAIN.md), Mbit/s: n -> (DIFS, EIFS)
NS3_11A_54 = {5: (29.8324, 29.2861), 30: (25.1434, 24.0944), 50: (23.5618, 22.4162)}
NS3_HE_MCS11_80 = {5: (60.3411, 58.0092), 30: (54.0128, 49.1091), 50: (51.2922, 45.8436)}


@pytest.mark.parametrize("n", [5, 30, 50])
@pytest.mark.parametrize("eifs", [False, True])
def test_bianchi_11a_54_matches_ns3(n, eifs):
    got = bianchi_throughput(n, 54e6, "a", 24e6, 1, eifs=eifs) / 1e6
    want = NS3_11A_54[n][eifs]
    assert got == pytest.approx(want, rel=0.01)


@pytest.mark.parametrize("n", [5, 30, 50])
@pytest.mark.parametrize("eifs", [False, True])
def test_bianchi_he_mcs11_80_matches_ns3(n, eifs):
    got = bianchi_throughput(n, phy_rate("ax", 1, 11, 80), "ax", 24e6, 1, eifs=eifs) / 1e6
    want = NS3_HE_MCS11_80[n][eifs]
    assert got == pytest.approx(want, rel=0.01)


def test_tau_is_the_fixed_point():
    n, w, m = 20, 16, 6
    tau = bianchi_tau(n)
    p = 1 - (1 - tau) ** (n - 1)
    rhs = 2 * (1 - 2 * p) / ((1 - 2 * p) * (w + 1) + p * w * (1 - (2 * p) ** m))
    assert tau == pytest.approx(rhs, rel=1e-6)


def test_vht_rates():
    assert phy_rate("ac", 1, 9, 80, short_gi=False) / 1e6 == pytest.approx(390.0, abs=0.05)
    assert phy_rate("ac", 1, 9, 80, short_gi=True) / 1e6 == pytest.approx(433.3, abs=0.05)
    assert phy_rate("ac", 2, 9, 80) == pytest.approx(2 * phy_rate("ac", 1, 9, 80))


def test_he_rates_mcs0_to_11():
    want = [36.0, 72.1, 108.1, 144.1, 216.2, 288.2, 324.3, 360.3, 432.4, 480.4, 540.4, 600.5]
    got = [phy_rate("ax", 1, m, 80) / 1e6 for m in range(12)]
    assert got == pytest.approx(want, abs=0.06)


def test_negotiate_takes_the_lower_capability():
    dev = Radio(standard="ac", streams=2, max_mcs=9, width="80 MHz")
    ap = Radio(standard="ax", streams=4, max_mcs=11, width="40 MHz")
    lr = negotiate(dev, ap)
    assert (lr.standard, lr.streams, lr.mcs, lr.width_mhz) == ("ac", 2, 9, 40)
    old = Radio(standard="n", streams=1, max_mcs=7, width="40 MHz")
    assert negotiate(old, ap).rate_bps == pytest.approx(phy_rate("n", 1, 7, 40))


def test_aggregation_gives_several_hundred_mbit():
    rate = phy_rate("ax", 1, 11, 80)
    plain = bianchi_throughput(30, rate, "ax", 24e6, 1) / 1e6
    agg = ampdu_throughput(30, rate, "ax") / 1e6
    assert 40 < plain < 60  # DOMAIN.md: ~50 Mbit/s without aggregation
    assert agg > 300  # several hundred with A-MPDU
    assert ampdu_throughput(5, rate, "ax") / 1e6 > 400
    table = efficiency_table(rate, "ax")
    assert table[30] * rate / 1e6 == pytest.approx(agg, rel=1e-6)
    assert np.all(np.diff(table[1:]) <= 1e-12)  # more contenders, less efficiency


def test_airtime_fairness_vs_performance_anomaly():
    rates = np.array([400e6] * 9 + [20e6])  # nine fast Chromebooks, one slow iPad
    fair = airtime_shares(rates, fairness=True)
    anomaly = airtime_shares(rates, fairness=False)
    assert fair[0] == pytest.approx(40e6) and fair[-1] == pytest.approx(2e6)
    assert np.allclose(anomaly, anomaly[0])  # equal throughput ...
    assert anomaly[0] < 0.4 * fair[0]  # ... so the slow station drags everyone (13.8 vs 40 Mbit/s)
    assert np.sum(anomaly / rates) == pytest.approx(1.0)  # all airtime used
