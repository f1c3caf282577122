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


def test_legacy_g_link_rates_and_negotiation():
    """802.11g ERP-OFDM (IEEE 802.11-2020 §18): 6-54 Mbit/s, 20 MHz, 0.8 µs GI; an n AP serves a g client as g."""
    assert [phy_rate("g", 1, m, 20) / 1e6 for m in range(8)] == [6, 9, 12, 18, 24, 36, 48, 54]
    dev = Radio(standard="g", streams=1, max_mcs=7, width="20 MHz", band="2.4 GHz")
    ap = Radio(standard="n", streams=2, max_mcs=7, width="40 MHz", band="2.4 GHz")
    lr = negotiate(dev, ap)
    assert (lr.standard, lr.width_mhz, lr.rate_bps, lr.guard_s) == ("g", 20, 54e6, 0.8e-6)


def test_legacy_g_flow_airtime_from_the_standard_timing():
    """One 54 Mbit/s TCP segment's airtime on a non-aggregating 802.11g link, from §18 constants computed here.

    Data MPDU 1448 + 52 (IP/TCP/timestamps) + 8 LLC + 26 MAC + 4 FCS = 1538 B; TCP ACK MPDU 90 B; Ack 14 B
    at 24 Mbit/s; PPDU = 20 µs preamble/SIGNAL + 4 µs × ⌈(16 + 8L + 6)/N_DBPS⌉ + 6 µs signal extension;
    SIFS 10 µs; delayed ACK: one TCP ACK frame (its own access and Ack) per two data MPDUs.
    """
    from simulator.model.mac import MacTiming, Segments, flow_cost

    def ppdu(psdu, mbps):
        return 20e-6 + 4e-6 * np.ceil((16 + 8 * psdu + 6) / (mbps * 4)) + 6e-6

    ack = ppdu(14, 24)
    assert ack == pytest.approx(34e-6)
    overhead = 28e-6 + 7.5 * 9e-6  # DIFS (SIFS + 2 short slots) + mean backoff of CWmin 15
    expect = (ppdu(1538, 54) + 10e-6 + ack + overhead + 0.5 * (ppdu(90, 54) + 10e-6 + ack + overhead)) / (1448 * 8)
    timing = MacTiming("g", 1, 0.8e-6, "2.4 GHz", aifsn=2, max_ampdu_bytes=2304.0, max_mpdus=1)
    cost, k = flow_cost(54e6, 1e9, timing, Segments(1448.0, 2), overhead, 1.0)
    assert float(k) == 1.0
    assert float(cost) == pytest.approx(expect, rel=1e-9)
    assert 1 / float(cost) == pytest.approx(24.0e6, rel=0.02)  # ns-3 g-54-n10 (validation/tables): 24.0 Mbit/s


def test_legacy_uploads_are_clocked_by_the_aps_tcp_acks():
    """Uploads on an 802.11g link: TCP ACK conservation (RFC 5681 §3, delayed ACK 2) forces the AP to win one
    access per two uploaded segments, whatever the number of uploaders; saturated DCF (Bianchi) would give
    it 1/(n + 1) of the successes. ns-3 g-upload-n10: 8352 AP data PSDUs against 17031 uploaded (0.49)."""
    from simulator.model.mac import MacTiming, contention_terms
    timing = MacTiming("g", 1, 0.8e-6, "2.4 GHz", aifsn=2, max_ampdu_bytes=2304.0, max_mpdus=1)
    for n in (2, 10, 30):
        _, collisions, _, ap_per_upload = contention_terms(0, n, timing)
        assert ap_per_upload == pytest.approx(0.5, rel=0.02)
        assert collisions < 0.2
