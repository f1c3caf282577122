"""Wi-Fi per AP radio: PHY rates, Bianchi DCF saturation throughput, A-MPDU aggregation, airtime sharing.

Sources:

- PHY rate = N_SS · N_SD · N_BPSCS · R / (T_DFT + T_GI) (IEEE 802.11-2020 §19/§21,
  802.11ax-2021 §27); the VHT/HE figures of DOMAIN.md are reproduced in tests.
- G. Bianchi, "Performance analysis of the IEEE 802.11 distributed coordination
  function", IEEE JSAC 18(3), 2000: the saturation fixed point
  τ = 2(1−2p)/((1−2p)(W+1) + pW(1−(2p)^m)), p = 1−(1−τ)^(n−1).
- ns-3 ``wifi-bianchi`` example and its reference generators
  (``src/wifi/examples/reference/Bianchi11a.m``, ``bianchi11ax.py``): the
  timing constants, the DIFS/EIFS collision-time variants and A-MPDU
  aggregation (payload × K MPDUs, symbol count padded with ceil).
- M. Heusse et al., "Performance anomaly of 802.11b", INFOCOM 2003: without
  airtime fairness every station gets the same *throughput*, so one slow
  station drags all; T. Høiland-Jørgensen et al., "Ending the anomaly",
  USENIX ATC 2017: with airtime fairness each station gets equal *airtime*.

Downlink and uplink share the same airtime: the AP radio is one shared
medium whose capacity is spent in seconds of airtime, not bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["LinkRadio", "phy_rate", "negotiate", "bianchi_tau", "bianchi_throughput", "ampdu_throughput",
           "mac_efficiency", "efficiency_table", "bianchi_tau_array", "ampdu_frames", "airtime_shares",
           "STANDARD_ORDER"]

STANDARD_ORDER = {"a": 0, "g": 0, "n": 1, "ac": 2, "ax": 3}
_MAX_MCS = {"a": 7, "g": 7, "n": 7, "ac": 9, "ax": 11}
LEGACY = ("a", "g")  # OFDM (clause 17) / ERP-OFDM (clause 18): one rate ladder, no aggregation
# (bits per subcarrier, coding rate) for MCS 0..11 (HT/VHT/HE share the ladder)
_MCS = [(1, 1 / 2), (2, 1 / 2), (2, 3 / 4), (4, 1 / 2), (4, 3 / 4), (6, 2 / 3), (6, 3 / 4), (6, 5 / 6),
        (8, 3 / 4), (8, 5 / 6), (10, 3 / 4), (10, 5 / 6)]
_A_RATES = [6e6, 9e6, 12e6, 18e6, 24e6, 36e6, 48e6, 54e6]  # 802.11a/g "MCS" 0..7
_N_SD = {  # data subcarriers per width
    "n": {20: 52, 40: 108},
    "ac": {20: 52, 40: 108, 80: 234, 160: 468},
    "ax": {20: 234, 40: 468, 80: 980, 160: 1960},
}

# timing (DOMAIN.md; ns-3 reference generators)
SLOT, SIFS, DIFS = 9e-6, 16e-6, 34e-6
CW_MIN, CW_MAX = 15, 1023
DELTA = 1e-7


@dataclass(frozen=True, slots=True)
class LinkRadio:
    """The capability actually used between one station and its AP."""

    standard: str
    streams: int
    mcs: int
    width_mhz: int
    short_gi: bool = True
    gi_s: float | None = None  # explicit guard interval (s); None: from short_gi

    @property
    def rate_bps(self) -> float:
        return phy_rate(self.standard, self.streams, self.mcs, self.width_mhz, self.short_gi, self.gi_s)

    @property
    def guard_s(self) -> float:
        if self.gi_s is not None:
            return self.gi_s
        if self.standard == "ax":
            return 0.8e-6 if self.short_gi else 3.2e-6
        return 0.4e-6 if self.short_gi and self.standard not in LEGACY else 0.8e-6


def phy_rate(standard: str, streams: int, mcs: int, width_mhz: int, short_gi: bool = True,
             gi_s: float | None = None) -> float:
    """PHY data rate in bit/s (``gi_s``, when given, is the guard interval and overrides ``short_gi``)."""
    if standard in LEGACY:
        return _A_RATES[min(mcs, 7)]
    mcs = min(mcs, _MAX_MCS[standard])
    nsd = _N_SD[standard][min(width_mhz, 40 if standard == "n" else 160)]
    bits, r = _MCS[mcs]
    if standard == "ax":
        t_sym = 12.8e-6 + (gi_s if gi_s is not None else (0.8e-6 if short_gi else 3.2e-6))
    else:
        t_sym = 3.2e-6 + (gi_s if gi_s is not None else (0.4e-6 if short_gi else 0.8e-6))
    return streams * nsd * bits * r / t_sym


def negotiate(device, ap) -> LinkRadio:
    """The lower of two capabilities (``scenario.models.Radio``): older standard, fewer streams, lower MCS, narrower."""
    std = min(device.standard, ap.standard, key=STANDARD_ORDER.__getitem__)
    width = min(device.width_mhz, ap.width_mhz, 20 if std in LEGACY else (40 if std == "n" else 160))
    if device.band == "2.4 GHz" or ap.band == "2.4 GHz":
        width = min(width, 40)
    gi = None
    if getattr(device, "gi", None) is not None or getattr(ap, "gi", None) is not None:
        def guard(r):
            if r.standard != std and std != "ax":  # a device's HE GI says nothing of the VHT link
                return 0.4e-6 if r.short_gi else 0.8e-6
            return r.gi_s
        gi = max(guard(device), guard(ap))  # the longer guard interval: what both can use
    return LinkRadio(std, min(device.streams, ap.streams), min(device.max_mcs, ap.max_mcs, _MAX_MCS[std]),
                     width, device.short_gi and ap.short_gi, gi)


def bianchi_tau(n: int, w: int = CW_MIN + 1, m: int | None = None) -> float:
    """Solve Bianchi's fixed point for the per-slot transmission probability τ (bisection on τ)."""
    if m is None:
        m = int(round(math.log2((CW_MAX + 1) / w)))
    if n <= 1:
        return 2.0 / (w + 1)

    def tau_of(tau: float) -> float:
        p = 1.0 - (1.0 - tau) ** (n - 1)
        ps = sum((2 * p) ** i for i in range(m))
        return 2.0 / (1 + w + p * w * ps)

    lo, hi = 0.0, 1.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if tau_of(mid) > mid:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _frame_times(standard: str, data_rate: float, ack_rate: float, k: int, payload_bits: float, eifs: bool):
    if standard == "ax":
        t_sym_d, t_phy_d, l_mac, l_app, mpdu_delim = 13.6e-6, 44e-6, 30 * 8, 8 * 8, 4
    else:  # legacy OFDM framing (ns-3 Bianchi11a.m); also used for HT/VHT
        t_sym_d, t_phy_d, l_mac, l_app, mpdu_delim = 4e-6, 20e-6, 28 * 8, 6 * 8, 0
        if standard in ("n", "ac"):
            t_phy_d, l_mac, mpdu_delim = 36e-6, 30 * 8, 4
    n_dbps = data_rate * t_sym_d
    if k <= 1:
        bits = 16 + l_mac + payload_bits + l_app + 6
    else:
        bits = 16 + k * (l_mac + mpdu_delim + payload_bits + l_app) + 6
    t_data = t_phy_d + t_sym_d * math.ceil(bits / n_dbps - 1e-9)
    t_ack = 20e-6 + 4e-6 * math.ceil((16 + 14 * 8 + 6) / (ack_rate * 4e-6) - 1e-9)
    if eifs:
        t_s = t_data + SIFS + t_ack + DIFS + DELTA
        t_c = t_data + DIFS + SIFS + t_ack + DELTA
    else:
        t_s = t_data + SIFS + t_ack + DIFS
        t_c = t_data + DIFS
    return t_s, t_c


@lru_cache(maxsize=4096)
def bianchi_throughput(n: int, data_rate: float, standard: str = "a", ack_rate: float | None = None,
                       k: int = 1, payload: int = 1500, eifs: bool = False) -> float:
    """Saturation throughput (bit/s, all n stations together) of DCF with K-MPDU aggregation.

    Follows ns-3's reference generators: 802.11a counts the expected payload
    with B = 1/(CWmin+1) (Bianchi11a.m), HE with B = 0 (bianchi11ax.py).
    """
    if ack_rate is None:
        ack_rate = 6e6 if data_rate < 12e6 else (12e6 if data_rate < 24e6 else 24e6)
    b = 1.0 / (CW_MIN + 1) if standard == "a" else 0.0
    ep = payload * 8 / (1 - b)
    t_s, t_c = _frame_times(standard, data_rate, ack_rate, k, payload * 8, eifs)
    t_s = t_s / (1 - b) + SLOT
    n = max(1, int(n))
    tau = bianchi_tau(n)
    ptr = 1 - (1 - tau) ** n
    ps = n * tau * (1 - tau) ** (n - 1) / ptr
    return max(k, 1) * ps * ptr * ep / ((1 - ptr) * SLOT + ptr * ps * t_s + ptr * (1 - ps) * t_c)


def ampdu_frames(data_rate: float, max_k: int = 64, max_ppdu_s: float = 5.484e-3, payload: int = 1500) -> int:
    """How many 1500 B MPDUs fit one PPDU (A-MPDU limited to 64 MPDUs and ~5.484 ms of airtime)."""
    per = (payload + 30 + 4 + 8) * 8 / data_rate
    return int(max(1, min(max_k, max_ppdu_s // per)))


def ampdu_throughput(n: int, data_rate: float, standard: str = "ax", k: int | None = None) -> float:
    """MAC throughput (bit/s) of n contending stations at one PHY rate with A-MPDU aggregation."""
    if k is None:
        k = ampdu_frames(data_rate) if standard not in LEGACY else 1
    return bianchi_throughput(max(1, n), float(data_rate), "ax" if standard == "ax" else standard, None, k)


@lru_cache(maxsize=4096)
def mac_efficiency(n: int, data_rate: float, standard: str) -> float:
    """MAC throughput / PHY rate for n contenders (aggregation on): the share of airtime that moves payload."""
    return ampdu_throughput(n, data_rate, standard) / data_rate


def airtime_shares(rates: np.ndarray, fairness: bool) -> np.ndarray:
    """Per-station throughput (bit/s) when all stations are backlogged on one radio.

    ``rates`` are the stations' effective MAC rates (PHY rate × MAC efficiency).
    With airtime fairness each of n stations gets 1/n of the airtime: r_i/n.
    Without it (the performance anomaly) each gets the same throughput
    x = 1 / Σ(1/r_i), so one slow station sets everyone's rate.
    """
    rates = np.asarray(rates, dtype=float)
    n = len(rates)
    if n == 0:
        return rates
    if fairness:
        return rates / n
    return np.full(n, 1.0 / np.sum(1.0 / rates))


def bianchi_tau_array(ns: np.ndarray, w: int = CW_MIN + 1, m: int | None = None) -> np.ndarray:
    """``bianchi_tau`` for many n at once (vectorised bisection)."""
    if m is None:
        m = int(round(math.log2((CW_MAX + 1) / w)))
    ns = np.asarray(ns, float)
    lo, hi = np.zeros(len(ns)), np.ones(len(ns))
    for _ in range(60):
        mid = (lo + hi) / 2
        p = 1.0 - (1.0 - mid) ** (ns - 1)
        ps = sum((2 * p) ** i for i in range(m))
        up = 2.0 / (1 + w + p * w * ps) > mid
        lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
    return np.where(ns <= 1, 2.0 / (w + 1), (lo + hi) / 2)


@lru_cache(maxsize=256)
def efficiency_table(data_rate: float, standard: str, n_max: int = 256) -> np.ndarray:
    """MAC throughput / PHY rate for n = 0..n_max−1 contenders (A-MPDU on; n=0 taken as 1)."""
    k = ampdu_frames(data_rate) if standard not in LEGACY else 1
    std = "ax" if standard == "ax" else standard
    ack_rate = 6e6 if data_rate < 12e6 else (12e6 if data_rate < 24e6 else 24e6)
    b = 1.0 / (CW_MIN + 1) if std == "a" else 0.0
    t_s, t_c = _frame_times(std, data_rate, ack_rate, k, 1500 * 8, False)
    t_s = t_s / (1 - b) + SLOT
    ns = np.maximum(np.arange(n_max), 1).astype(float)
    tau = bianchi_tau_array(ns)
    ptr = 1 - (1 - tau) ** ns
    ps = ns * tau * (1 - tau) ** (ns - 1) / ptr
    thr = max(k, 1) * ps * ptr * (1500 * 8 / (1 - b)) / ((1 - ptr) * SLOT + ptr * ps * t_s + ptr * (1 - ps) * t_c)
    return thr / data_rate
