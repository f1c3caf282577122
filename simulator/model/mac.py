"""Wi-Fi MAC airtime per delivered bit: who contends, how big each A-MPDU is, what every exchange costs.

Sources:

- G. Bianchi, "Performance analysis of the IEEE 802.11 distributed coordination
  function", IEEE JSAC 18(3), 2000: per-slot transmission probability τ(N)
  of N contenders (``wifi.bianchi_tau_array``), P_tr = 1−(1−τ)^N,
  P_s = Nτ(1−τ)^(N−1)/P_tr; the mean time per successful exchange is
  [(1−P_tr)σ + P_tr·P_s·T_s + P_tr(1−P_s)·T_c] / (P_tr·P_s).
- ns-3 ``bianchi11ax.py`` / ``wifi-bianchi``: A-MPDU aggregation (payload
  × K MPDUs with 4-byte delimiters, symbol count padded with ceil).
- IEEE 802.11-2020 §10.2.3 (EDCA: AIFS[AC] = SIFS + AIFSN·slot, AIFSN[BE]
  = 3 → 43 µs at 5 GHz; TXOP limit), §10.25 (BlockAck: compressed BA of 32 B
  for a 64-MPDU bitmap, 56 B for 256), §19.3.2/§21.3.8/§27.3.11 (HT/VHT/HE
  PPDU formats: legacy fields 20 µs, one HT/VHT-LTF of 4 µs, one HE-LTF of
  8 µs per space-time stream group; aPPDUMaxTime 5.484 ms), §9.4.2.56/§9.4.2.158
  (the advertised maximum A-MPDU length: 65,535 B is the common value).
- RFC 1122 §4.2.3.2 / RFC 5681 §4.2: delayed ACK, one ACK per second full
  segment, so a downlink A-MPDU of K segments returns ⌈K/2⌉ TCP ACKs, which
  the station aggregates into one uplink A-MPDU and must win the channel for;
  on a non-aggregating 802.11a/g link one TCP ACK frame (own access, own Ack)
  per two data MPDUs.
- IEEE 802.11-2020 §18 (ERP-OFDM, 802.11g): OFDM timing with SIFS 10 µs, the
  short slot 9 µs (all stations ERP; the 20 µs long slot of a BSS with 802.11b
  members is not modelled), a 6 µs signal extension after every PPDU
  (Table 18-5; also HT/HE in 2.4 GHz), no A-MPDU; a non-QoS (DCF) station
  waits DIFS = SIFS + 2 slots, which is the ``aifsn: 2`` of a profile.
- M. Heusse et al., "Performance anomaly of 802.11b", INFOCOM 2003 (frame
  fairness: equal throughput, so a slow station sets everyone's rate);
  T. Høiland-Jørgensen et al., "Ending the anomaly", USENIX ATC 2017
  (airtime fairness: equal airtime).

Who contends (beyond Bianchi's "everyone saturated"): the AP is the one
downlink sender and contends whenever it holds data; a station contends only
while it holds uplink frames — its TCP ACKs, or an upload. The number k of
stations holding TCP ACKs is a birth-death chain on the successful
exchanges: the AP's success gives one more station ACKs to send (k+1) when
it serves one of the m − k stations not already waiting (it picks among its m
backlogged stations regardless of their ACKs: probability 1 − k/m), a waiting
station's success sends its batch (k−1). Its stationary law weights Bianchi's per-success overhead
O(N = 1 + k + n_up) and gives u, the uplink ACK exchanges per downlink
A-MPDU (≈ 1: "about as many ACK A-MPDUs as data A-MPDUs"). An inference in
the spirit of Bianchi's model, not a published formula; DL/UL multi-user
analyses (Bellalta & Kosek-Szott, Ad Hoc Networks 2019) treat OFDMA, which
this single-user model does not.

How big a downlink A-MPDU is: the caps (byte cap, BlockAck window, PPDU
duration) bound it, and so does the flow's window: the AP holds only what the
sender has released, W less what the station has received but not yet
acknowledged. Over a window cycle (``window_ampdu``, renewal-reward) the AP
sends j A-MPDUs to the station before its ACK A-MPDU returns the window, one
more with probability q = 1 − u (``repeat_probability``: the same chain). A
station alone: q = 1/2, 36.9 MPDUs of a 90-segment window under a 42-MPDU
cap; ns-3 36.5 (``validation/tables``, ``mean_ampdu_mpdus_dl``). A collision
of TCP-ACK PPDUs alone (two of the k stations, neither the AP nor an upload)
lasts an ACK exchange, not a data PPDU (``collision_terms``' T_c0).

Every flow then has an airtime cost per delivered bit: its exchange, its
share of contention, and the reverse exchange carrying its TCP ACKs. For an
upload that reverse exchange is the AP's: a single-user PPDU carries one
receiver's ACKs, and a station cannot send more than its window before they
return (RFC 5681 §3: the sender is window-bound), hence at least K/W of them
per uploaded A-MPDU. A station moving data both ways aggregates its TCP ACKs
with its data (IEEE 802.11-2020, A-MPDU operation: an A-MPDU holds MPDUs of one
receiver and TID), so they cost subframes, not accesses. Checked against the
ns-3 tables (``validation/``), not derived from a published model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .plain import SMALL, NotPlain
from .wifi import bianchi_tau_array

__all__ = ["MacTiming", "Segments", "ppdu_time", "mpdus_per_ampdu", "contention", "contention_terms", "ContentionTable",
           "flow_cost", "block_ack_time", "window_ampdu", "collision_terms", "repeat_probability", "N_LTF"]

SLOT = 9e-6
#: HT/VHT/HE long training fields per number of spatial streams (IEEE 802.11-2020 Table 19-13)
N_LTF = {1: 1, 2: 2, 3: 4, 4: 4, 5: 6, 6: 6, 7: 8, 8: 8}
LLC, MAC_HDR, FCS, DELIM = 8, 26, 4, 4  # LLC/SNAP, QoS data header, FCS, A-MPDU delimiter (bytes)
IP_TCP = 52  # IPv4 20 + TCP 20 + timestamps 12 (RFC 7323)
DELAYED_ACK = 2  # segments per TCP ACK in the contention chain of a non-aggregating link (RFC 1122 §4.2.3.2)


@dataclass(frozen=True, slots=True)
class MacTiming:
    """The timing of one link's exchanges (AP ↔ station), from the negotiated radio and the EDCA set."""

    standard: str
    streams: int
    gi_s: float
    band: str = "5 GHz"
    aifsn: int = 3
    cw_min: int = 15
    cw_max: int = 1023
    txop_s: float = 0.0
    max_ampdu_bytes: float = 65535.0
    max_mpdus: int = 64
    max_ppdu_s: float = 5.484e-3

    @property
    def sifs(self) -> float:
        return 10e-6 if self.band == "2.4 GHz" else 16e-6

    @property
    def aifs(self) -> float:
        return self.sifs + self.aifsn * SLOT

    @property
    def aggregates(self) -> bool:
        """A-MPDU in use (HT/VHT/HE with a BlockAck agreement); a/g send one MPDU per PPDU, each with its Ack."""
        return self.max_mpdus > 1

    @property
    def signal_extension(self) -> float:
        """6 µs of silence after every OFDM PPDU in 2.4 GHz (802.11-2020 Table 18-5 aSignalExtension, ERP;
        §19.3.2 for HT): part of the PPDU's duration, SIFS counts from its end (ns-3 includes it as well)."""
        return 6e-6 if self.band == "2.4 GHz" else 0.0

    @property
    def t_sym(self) -> float:
        if self.standard == "ax":
            return 12.8e-6 + self.gi_s
        if self.standard in ("a", "g"):
            return 4e-6
        return 3.2e-6 + self.gi_s

    @property
    def preamble(self) -> float:
        ltf = N_LTF.get(self.streams, 8)
        if self.standard == "ax":  # L-STF, L-LTF, L-SIG, RL-SIG, HE-SIG-A, HE-STF + HE-LTFs
            return 36e-6 + 8e-6 * ltf
        if self.standard == "ac":  # L-STF, L-LTF, L-SIG, VHT-SIG-A, VHT-STF, VHT-LTFs, VHT-SIG-B
            return 40e-6 + 4e-6 * ltf
        if self.standard == "n":  # HT-mixed: legacy 20, HT-SIG 8, HT-STF 4, HT-LTFs
            return 32e-6 + 4e-6 * ltf
        return 20e-6


@dataclass(frozen=True, slots=True)
class Segments:
    """TCP segment sizes on the air (bytes): an MSS data MPDU and an ACK MPDU as A-MPDU subframes."""

    mss: float = 1448.0
    delayed_ack: int = 2

    @property
    def data_subframe(self) -> float:
        return _pad4(self.mss + IP_TCP + LLC + MAC_HDR + FCS) + DELIM

    @property
    def ack_subframe(self) -> float:
        return _pad4(IP_TCP + LLC + MAC_HDR + FCS) + DELIM


def _pad4(x: float) -> float:
    return 4.0 * math.ceil(x / 4.0)


def ppdu_time(psdu_bytes, rate_bps, timing: MacTiming):
    """PPDU duration (s) of a PSDU at ``rate_bps``: preamble + ⌈(16 + 8L + 6)/N_DBPS⌉ symbols (numpy-friendly)."""
    n_dbps = np.asarray(rate_bps, float) * timing.t_sym
    sym = np.ceil((22.0 + 8.0 * np.asarray(psdu_bytes, float)) / n_dbps - 1e-9)
    return timing.preamble + timing.t_sym * sym + timing.signal_extension


def block_ack_time(timing: MacTiming, basic_bps: float = 24e6) -> float:
    """The response to a data PPDU at a legacy basic rate: a compressed BlockAck (32 B with a 64-bit bitmap,
    56 B with 256), or without aggregation the 14 B Ack of one MPDU (802.11-2020 §9.3.1.3, §10.3.2.9)."""
    size = 14 if not timing.aggregates else (32 if timing.max_mpdus <= 64 else 56)
    return 20e-6 + 4e-6 * math.ceil((22 + 8 * size) / (basic_bps * 4e-6)) + timing.signal_extension


def mpdus_per_ampdu(rate_bps, timing: MacTiming, subframe: float):
    """Most MPDUs one A-MPDU can carry: byte cap, MPDU (BlockAck window) cap, PPDU duration cap."""
    by_bytes = np.floor(timing.max_ampdu_bytes / subframe)
    payload_time = timing.max_ppdu_s - timing.preamble
    by_time = np.floor(np.asarray(rate_bps, float) * payload_time / 8.0 / subframe)
    return np.maximum(1.0, np.minimum(np.minimum(by_bytes, timing.max_mpdus), by_time))


def window_ampdu(window, cap, repeat):
    """Mean MPDUs per A-MPDU of a window-bound downlink flow: W segments in flight, at most ``cap`` per A-MPDU.

    The AP's queue for the station holds what the window lets the sender
    release, W less what the station has received and not yet acknowledged
    (RFC 5681 §3: the sender is window-bound; all of it is released when the
    station's aggregated TCP ACKs return). After each A-MPDU to the station the
    next event of that flow is either another A-MPDU to it (probability q,
    ``repeat``) or the station's ACK A-MPDU, which gives the whole window back.
    A window cycle therefore carries j A-MPDUs of ``cap`` with probability
    q^(j−1)(1−q) for j < J = ⌈W/cap⌉, and with probability q^(J−1) all J of
    them, the last holding the rest (after that the queue is empty until the
    ACKs come). Mean A-MPDU = E[segments per cycle] / E[A-MPDUs per cycle]
    (renewal-reward theorem), in closed form: E[A-MPDUs] = Σ_{i<J} q^i =
    (1 − q^J)/(1 − q), E[segments] = cap·(E[A-MPDUs] − J·q^(J−1)) +
    W·q^(J−1). W = 90, cap = 42, q = 1/2: 36.9 MPDUs, ns-3
    ``ax80-spread10-*`` 36.5 (flows mostly alone). W ≤ cap: W.
    """
    w = np.maximum(1.0, np.asarray(window, float))
    c = max(1.0, cap) if isinstance(cap, float) else np.maximum(1.0, np.asarray(cap, float))  # a class's scalar
    q = np.minimum(np.maximum(np.asarray(repeat, float), 0.0), 1.0)  # np.clip, without its wrapper's cost
    j = np.ceil(w / c - 1e-9)  # J ≥ 1
    # no np.errstate (a hot path): q ∈ [0, 1] and J ≥ 1 keep every step finite, count ≥ 1 − q > 0 or = J;
    # q^(J−1) is the cycle reaching its J-th A-MPDU, exactly 1 at J = 1 (IEEE 754 pow(x, 0) = 1)
    last = q ** (j - 1.0)
    count = np.where(q < 1.0, (1.0 - q * last) / np.maximum(1.0 - q, 1e-300), j)  # Σ_{i<J} q^i
    segs = c * (count - j * last) + w * last  # Σ_{i<J} i·c·P_i + W·q^(J−1)
    return segs / count


def repeat_probability(u):
    """q of ``window_ampdu`` from the contention chain's ``u`` (uplink ACK exchanges per downlink A-MPDU): 1 − u.

    In the chain (``contention_terms``) a station's ACK batch ends when it wins
    an access, and grows when the AP serves it again first; per downlink
    A-MPDU there are u ACK exchanges, so an A-MPDU is followed by another to
    the same station before its ACKs with probability 1 − u (a geometric
    window cycle: 1/(1 − q) A-MPDUs per ACK exchange). One station alone: the
    AP and it are the two contenders, each next with probability 1/2 (Bianchi
    2000), u = q = 1/2; many backlogged stations: the AP rarely comes back
    first, u → 1, q → 0. ns-3's ACK/data A-MPDU ratio grows the same way
    with n: 0.69–0.77 at n = 10, 0.83–0.85 at 20, 0.91–0.97 at 30
    (``ampdus_ul``/``ampdus_dl``, validation/tables).
    """
    return np.clip(1.0 - np.asarray(u, float), 0.0, 1.0)


def contention_terms(m_down: int, n_up: int, timing: MacTiming) -> tuple[float, float, float, float]:
    """(a, b, c, u) of ``collision_terms`` (d left out: the overhead with every ACK-only collision at T_c1)."""
    a, b, c, _, u = collision_terms(m_down, n_up, timing)
    return a, b, c, u


@lru_cache(maxsize=65536)
def collision_terms(m_down: int, n_up: int, timing: MacTiming) -> tuple[float, float, float, float, float]:
    """(a, b, c, d, u): the overhead per successful exchange is a + b·T_c1 + c·(T_c2 − T_c1) + d·(T_c0 − T_c1).

    ``m_down`` stations with downlink data (the AP contends for them),
    ``n_up`` stations with an upload (always contending); the chain of k
    stations holding TCP ACKs is described in the module docstring. The
    overhead is AIFS + idle backoff slots + collisions, per success; it is
    linear in the collision durations, so the table holds the terms and the
    durations can follow who is on the air. A collision lasts as long as its
    longest PPDU (Bianchi 2000, T_c with the largest payload E[P*]): T_c1 when
    one data PPDU is in it (the AP's, or an upload's, against TCP ACKs), T_c2
    when two uploads collide — the share n_up(n_up − 1) / (N(N − 1)) of the
    pairs of the N contenders; T_c0 when only TCP-ACK PPDUs collide (two of
    the k stations holding ACKs, neither the AP nor an upload sending): the
    share k(k − 1)/(N(N − 1)) of the pairs, ``d``. Over a quarter of a busy
    downlink room's collisions are of that kind (k grows with m_down: d/b is
    0.19 at 3 stations, 0.27 at 10, ~0.3 from 20), and an ACK PPDU is a tenth
    of a data PPDU. ``u``: uplink ACK exchanges per downlink A-MPDU.
    """
    if m_down == 0 and n_up > 0 and not timing.aggregates:
        a, b, c, u = _ack_clocked_uploads(n_up, timing)
        return a, b, c, 0.0, u
    ap = 1 if (m_down > 0 or n_up > 0) else 0
    k_max = max(0, m_down)
    ks = np.arange(k_max + 1, dtype=float)
    n = ap + ks + n_up
    n = np.maximum(n, 1.0)
    # embedded success chain: birth (AP success) a/N, death k/N -> detailed balance
    w = np.ones(k_max + 1)
    # without aggregation one data MPDU is one segment: a station has a TCP ACK to send after every
    # DELAYED_ACK-th of them (RFC 1122 §4.2.3.2), not after every access
    per_access = 1.0 if timing.aggregates else 1.0 / DELAYED_ACK
    for k in range(1, k_max + 1):
        birth = ap / n[k - 1] * (1.0 - (k - 1) / m_down) * per_access  # the AP serves a station without ACKs
        death = k / n[k]
        w[k] = w[k - 1] * birth / death if death > 0 else 0.0
    pi = w / w.sum()
    m = int(round(math.log2((timing.cw_max + 1) / (timing.cw_min + 1))))
    tau = bianchi_tau_array(n, timing.cw_min + 1, m)
    p_tr = 1.0 - (1.0 - tau) ** n
    p_s = n * tau * (1.0 - tau) ** (n - 1) / p_tr
    coll = p_tr * (1.0 - p_s) / (p_tr * p_s)  # collisions per success
    both_up = n_up * max(0, n_up - 1) / np.maximum(1.0, n * (n - 1))
    a = float(np.sum(pi * ((1.0 - p_tr) * SLOT / (p_tr * p_s) + coll * timing.aifs))) + timing.aifs
    b = float(np.sum(pi * coll))
    c = float(np.sum(pi * coll * both_up))
    d = float(np.sum(pi * coll * ks * np.maximum(0.0, ks - 1) / np.maximum(1.0, n * (n - 1))))
    ap_wins = float(np.sum(pi * ap / n))  # downlink share of successes (some go to a station already holding
    # ACKs: its batch grows instead, so u < 1)
    ack_wins = float(np.sum(pi * ks / n))
    u = ack_wins / ap_wins if ap_wins > 0 else 0.0
    return a, b, c, d, u


def _ack_clocked_uploads(n_up: int, timing: MacTiming) -> tuple[float, float, float, float]:
    """``contention_terms`` of uploads on a non-aggregating link: the uploaders are clocked by the AP's TCP ACKs.

    A TCP sender cannot run ahead of its ACKs by more than its window (RFC 5681 §3), and on an a/g link
    the AP must win one access per DELAYED_ACK uploaded segments to return them. With every uploader
    saturated (Bianchi's N = n_up + 1) the AP would get 1/N of the successes, far below the 1/(1 + b) it
    needs, so the uploaders' windows fill and they stall until the AP's ACK frame comes: the contenders are
    the AP plus the uploaders not waiting. Chain on j waiting stations (successes of the embedded chain,
    each contender equally likely to win as in Bianchi): a sending station's success makes it wait with
    probability 1/b, the AP's success releases one. ns-3 ``g-upload-n10``: the AP sends 0.33 of the data
    PSDUs (0.09 if all were saturated) and ~0.11 collisions per success (its failed PSDUs / 2 over the
    successes), the chain 0.33 and 0.13, Bianchi's N = 11 0.31. Not used with aggregation: there the same
    chain (window = ⌈W/cap⌉ A-MPDUs) predicts ns-3's AP share (0.25 vs 0.26-0.27 at n = 20/30) but made
    the ``ax80-upload`` goodput 15-20 % optimistic, so a cost is still missing there (validation/README.md).
    """
    js = np.arange(n_up + 1, dtype=float)
    n = np.maximum((js > 0) + (n_up - js), 1.0)
    w = np.ones(n_up + 1)
    for j in range(1, n_up + 1):
        w[j] = w[j - 1] * ((n_up - (j - 1)) / n[j - 1] / DELAYED_ACK) / (1.0 / n[j])
    pi = w / w.sum()
    m = int(round(math.log2((timing.cw_max + 1) / (timing.cw_min + 1))))
    tau = bianchi_tau_array(n, timing.cw_min + 1, m)
    p_tr = 1.0 - (1.0 - tau) ** n
    p_s = n * tau * (1.0 - tau) ** (n - 1) / p_tr
    coll = p_tr * (1.0 - p_s) / (p_tr * p_s)
    busy = n_up - js
    both_up = busy * np.maximum(0.0, busy - 1) / np.maximum(1.0, n * (n - 1))
    a = float(np.sum(pi * ((1.0 - p_tr) * SLOT / (p_tr * p_s) + coll * timing.aifs))) + timing.aifs
    b = float(np.sum(pi * coll))
    c = float(np.sum(pi * coll * both_up))
    ap_wins, up_wins = float(np.sum(pi * (js > 0) / n)), float(np.sum(pi * busy / n))
    return a, b, c, ap_wins / up_wins if up_wins > 0 else 0.0


def contention(m_down: int, n_up: int, t_collision: float, timing: MacTiming,
               t_collision_data: float | None = None, t_collision_ack: float | None = None) -> tuple[float, float]:
    """(mean contention overhead per successful exchange (s), uplink ACK exchanges per downlink A-MPDU).

    ``t_collision``: a collision with one data PPDU in it; ``t_collision_data``
    (default the same): two uploads colliding; ``t_collision_ack`` (default
    the same): TCP-ACK PPDUs alone (``collision_terms``).
    """
    a, b, c, d, u = collision_terms(m_down, n_up, timing)
    t2 = t_collision if t_collision_data is None else t_collision_data
    t0 = t_collision if t_collision_ack is None else t_collision_ack
    return a + b * t_collision + c * (t2 - t_collision) + d * (t0 - t_collision), u


class ContentionTable:
    """``collision_terms`` for one AP's timing on a dense grid of (m_down, n_up), filled lazily.

    The engine looks up every radio at every recompute with the collision
    durations of who is on the air there; counts above ``cap`` use the cap
    (the overhead has long saturated there). ``t_ack``: T_c0, a collision of
    TCP-ACK PPDUs alone (default ``t_collision``).
    """

    def __init__(self, timing: MacTiming, t_collision: float, cap: int = 128, t_ack: float | None = None):
        self.timing, self.tc, self.cap = timing, t_collision, cap
        self.tc0 = t_collision if t_ack is None else t_ack
        self.terms = np.full((cap + 1, cap + 1, 5), np.nan)

    def lookup(self, m_down: np.ndarray, n_up: np.ndarray, tc1=None, tc2=None) -> tuple[np.ndarray, np.ndarray]:
        """(overhead, u) per room; ``tc1``/``tc2`` the collision durations (default: the table's ``t_collision``)."""
        if type(m_down) is np.ndarray and m_down.ndim == 1 and len(m_down) <= SMALL:
            try:
                return self._lookup_py(m_down, n_up, tc1, tc2)
            except NotPlain:
                pass
        m = np.minimum(m_down, self.cap)
        n = np.minimum(n_up, self.cap)
        miss = np.isnan(self.terms[m, n, 0])
        if miss.any():
            for a, b in set(zip(m[miss].tolist(), n[miss].tolist())):
                self.terms[a, b] = collision_terms(a, b, self.timing)
        t = self.terms[m, n]
        t1 = self.tc if tc1 is None else tc1
        t2 = t1 if tc2 is None else tc2
        return t[:, 0] + t[:, 1] * t1 + t[:, 2] * (t2 - t1) + t[:, 3] * (self.tc0 - t1), t[:, 4]

    def _lookup_py(self, m_down: np.ndarray, n_up: np.ndarray, tc1, tc2) -> tuple[np.ndarray, np.ndarray]:
        """``lookup`` for a few rooms in plain Python (the same terms, the same elementwise sums: bit-identical)."""
        n = len(m_down)
        cap, terms = self.cap, self.terms
        ml, nl = m_down.tolist(), n_up.tolist()
        if len(nl) != n:
            raise NotPlain
        t1 = [self.tc] * n if tc1 is None else _plain(tc1, n)
        t2 = t1 if tc2 is None else _plain(tc2, n)
        tc0 = self.tc0
        over, uu = [], []
        for a, b, x1, x2 in zip(ml, nl, t1, t2):
            a, b = min(a, cap), min(b, cap)
            if a < 0 or b < 0:
                raise NotPlain
            row = terms[a, b]
            if row[0] != row[0]:
                terms[a, b] = collision_terms(a, b, self.timing)
            ta, tb, tc, td, tu = terms[a, b].tolist()
            over.append(ta + tb * x1 + tc * (x2 - x1) + td * (tc0 - x1))
            uu.append(tu)
        return np.array(over), np.array(uu)


def flow_cost(rate_bps, window_segments, timing: MacTiming, seg: Segments, overhead: float, u: float,
              reverse_rate_bps=None, up=None, piggyback=None, repeat=None, window=None) -> tuple[np.ndarray, np.ndarray]:
    """Airtime seconds per delivered goodput bit, and MPDUs per A-MPDU, of flows on one radio.

    A flow sends A-MPDUs of K = min(caps, window) segments at ``rate_bps``;
    the receiver returns ⌈K/(b·u)⌉·u TCP ACKs per A-MPDU (delayed ACK b,
    u reverse exchanges per data A-MPDU) at ``reverse_rate_bps``. Each
    exchange: PPDU + SIFS + BlockAck, plus the contention overhead (shared by
    the PPDUs of one TXOP when a TXOP limit is set). An upload (``up``) is
    acknowledged by the AP, which sends one receiver's ACKs per access: a
    station can send at most its window W before they come back, so it sends
    W in ⌈W/cap⌉ A-MPDUs per round trip (K = W/⌈W/cap⌉: 30 of a 90-segment
    window under a 42-MPDU cap, as ns-3 shows) and the AP spends at least
    K/W ACK exchanges per uploaded A-MPDU (``u`` for the downlink's stations
    does not apply to it). A flow whose station also sends the other way
    (``piggyback``) has its TCP ACKs aggregated into that direction's
    A-MPDUs (same receiver, same AC): they cost their subframes' airtime,
    not an exchange of their own. Without aggregation (802.11a/g, K = 1)
    every TCP ACK is a frame of its own: 1/b of them per data MPDU, each
    with its own access, Ack and contention overhead. ``repeat`` (q, per
    flow): a downlink's K is the mean over its window cycle (``window_ampdu``
    of ``window``, default ``window_segments``) instead of min(caps, W), and
    at most ``window_segments`` (its share of a shared FIFO, if that is less).
    """
    if np.ndim(rate_bps) or (reverse_rate_bps is not None and np.ndim(reverse_rate_bps)):
        return _flow_cost_arrays(rate_bps, window_segments, timing, seg, overhead, u, reverse_rate_bps, up,
                                 piggyback, repeat, window)
    rate = float(rate_bps)
    rev = rate if reverse_rate_bps is None else float(reverse_rate_bps)
    consts = _link_constants(rate, rev, timing, seg)
    if type(window_segments) is np.ndarray and 0 < len(window_segments) <= SMALL and window_segments.ndim == 1:
        try:
            return _flow_cost_py(rev, consts, window_segments, timing, seg, overhead, u, up, piggyback, repeat, window)
        except (NotPlain, OverflowError):  # OverflowError: ceil of ±inf
            pass
    cap, ba, n_dbps, n_dbps_rev, data_sub, lone = consts
    w = np.maximum(1.0, window_segments)
    if repeat is None or not timing.aggregates:
        k = np.minimum(cap, w)
    else:
        k = np.minimum(window_ampdu(w if window is None else window, cap, repeat), w)
    u = np.asarray(u, float)
    if up is not None and up.any():  # the station's own queue holds its window: ⌈W/cap⌉ A-MPDUs per round trip
        k = np.where(up, w / np.ceil(w / cap - 1e-9), k)
        u = np.where(up, np.minimum(1.0, k / w), u)
    t_sym, pre_ext = timing.t_sym, timing.signal_extension
    # ppdu_time with the class's N_DBPS: preamble + t_sym·⌈(22 + 8L)/N_DBPS⌉ + signal extension
    t_data = (timing.preamble + t_sym * np.ceil((22.0 + 8.0 * (k * data_sub - lone)) / n_dbps - 1e-9) + pre_ext) \
        + timing.sifs + ba
    overhead = np.asarray(overhead, float)
    if timing.txop_s > 0:
        t = t_data + overhead / np.maximum(1.0, np.floor(timing.txop_s / t_data))
    else:
        t = t_data + overhead  # overhead / 1.0
    acks = np.ceil(k / seg.delayed_ack)
    if timing.aggregates:
        per_batch = np.ceil(acks / np.maximum(u, 1e-6))
        t_ack = (timing.preamble + t_sym * np.ceil((22.0 + 8.0 * (per_batch * seg.ack_subframe)) / n_dbps_rev - 1e-9)
                 + pre_ext) + timing.sifs + ba
        reverse = np.where(u > 0, u * (t_ack + overhead), 0.0)
        if piggyback is not None:
            reverse = np.where(piggyback, acks * seg.ack_subframe * 8.0 / rev, reverse)
    else:  # a/g: every TCP ACK is an MPDU with its own access and Ack, one per b segments
        t_ack1 = ppdu_time(seg.ack_subframe - DELIM, rev, timing) + timing.sifs + ba
        reverse = (k / seg.delayed_ack) * (t_ack1 + overhead)
    t = t + reverse
    return t / (k * seg.mss * 8.0), k


def _plain(v, n: int) -> list:
    """``v`` (a scalar or an array of ``n``) as a list of ``n`` Python floats, NaN-free (else ``NotPlain``)."""
    if np.ndim(v) == 0:
        x = float(v)
        if x != x:
            raise NotPlain
        return [x] * n
    if len(v) != n or np.ndim(v) != 1:
        raise NotPlain
    out = np.asarray(v, float).tolist()
    for x in out:
        if x != x:
            raise NotPlain
    return out


def _flow_cost_py(rev: float, consts: tuple, window_segments: np.ndarray, timing: MacTiming, seg: Segments,
                  overhead, u, up, piggyback, repeat, window) -> tuple[np.ndarray, np.ndarray]:
    """``flow_cost``'s one-class path for a few flows in plain Python, bit-identical: NumPy's per-call cost
    dominates there. Elementwise IEEE operations (+ − × ÷, ceil, floor, min/max in NumPy's argument order,
    NaN-free) are the same on Python floats; the one power (``window_ampdu``'s q^(J−1)) stays NumPy's,
    whose vector pow may differ from ``math.pow`` in the last bit. ``NotPlain``: the caller uses NumPy."""
    ceil, floor = math.ceil, math.floor
    cap, ba, n_dbps, n_dbps_rev, data_sub, lone = consts
    n = len(window_segments)
    w = [max(1.0, x) for x in _plain(window_segments, n)]
    if repeat is None or not timing.aggregates:
        k = [min(cap, x) for x in w]
    else:
        ww = w if window is None else _plain(window, n)
        c = max(1.0, cap)
        w2 = [max(1.0, x) for x in ww]
        q = [min(max(x, 0.0), 1.0) for x in _plain(repeat, n)]
        j = [float(ceil(x / c - 1e-9)) for x in w2]
        last = (np.array(q) ** (np.array(j) - 1.0)).tolist()
        k = []
        for wi, w2i, qi, ji, li in zip(w, w2, q, j, last):
            count = (1.0 - qi * li) / max(1.0 - qi, 1e-300) if qi < 1.0 else ji
            k.append(min((c * (count - ji * li) + w2i * li) / count, wi))
    uu = _plain(u, n)
    if up is not None and up.any():
        for i, flag in enumerate(up.tolist()):
            if flag:
                k[i] = w[i] / float(ceil(w[i] / cap - 1e-9))
                uu[i] = min(1.0, k[i] / w[i])
    ov = _plain(overhead, n)
    pre, t_sym, pre_ext, sifs = timing.preamble, timing.t_sym, timing.signal_extension, timing.sifs
    txop = timing.txop_s
    b, ack_sub, mss = seg.delayed_ack, seg.ack_subframe, seg.mss
    agg = timing.aggregates
    pig = None if piggyback is None or not agg else piggyback.tolist()
    if not agg:
        t_ack1 = float(ppdu_time(ack_sub - DELIM, rev, timing) + timing.sifs + ba)
    cost = []
    for i in range(n):
        ki, oi, ui = k[i], ov[i], uu[i]
        t_data = (pre + t_sym * float(ceil((22.0 + 8.0 * (ki * data_sub - lone)) / n_dbps - 1e-9)) + pre_ext) + sifs + ba
        if txop > 0:
            t = t_data + oi / max(1.0, float(floor(txop / t_data)))
        else:
            t = t_data + oi
        acks = float(ceil(ki / b))
        if agg:
            per_batch = float(ceil(acks / max(ui, 1e-6)))
            t_ack = (pre + t_sym * float(ceil((22.0 + 8.0 * (per_batch * ack_sub)) / n_dbps_rev - 1e-9))
                     + pre_ext) + sifs + ba
            reverse = ui * (t_ack + oi) if ui > 0 else 0.0
            if pig is not None and pig[i]:
                reverse = acks * ack_sub * 8.0 / rev
        else:
            reverse = (ki / b) * (t_ack1 + oi)
        cost.append((t + reverse) / (ki * mss * 8.0))
    return np.array(cost), np.array(k)


@lru_cache(maxsize=4096)
def _link_constants(rate: float, rev: float, timing: MacTiming, seg: Segments) -> tuple[float, ...]:
    """Per radio class (hoisted out of ``flow_cost``'s hot path): MPDU cap, BlockAck time, N_DBPS both ways, the
    data subframe, and the delimiter a lone MPDU does not carry (0 with aggregation)."""
    cap = float(mpdus_per_ampdu(rate, timing, seg.data_subframe))
    lone = 0.0 if timing.aggregates else float(DELIM)
    return cap, block_ack_time(timing), rate * timing.t_sym, rev * timing.t_sym, seg.data_subframe, lone


def _flow_cost_arrays(rate_bps, window_segments, timing: MacTiming, seg: Segments, overhead, u,
                      reverse_rate_bps=None, up=None, piggyback=None, repeat=None, window=None):
    """``flow_cost`` with per-flow PHY rates (no per-class constants)."""
    rate = np.asarray(rate_bps, float)
    rev = rate if reverse_rate_bps is None else np.asarray(reverse_rate_bps, float)
    cap = mpdus_per_ampdu(rate, timing, seg.data_subframe)
    w = np.maximum(1.0, window_segments)
    if repeat is None or not timing.aggregates:
        k = np.minimum(cap, w)
    else:
        k = np.minimum(window_ampdu(w if window is None else window, cap, repeat), w)
    if up is not None:  # the station's own queue holds its window: sent as ⌈W/cap⌉ A-MPDUs per round trip
        k = np.where(up, w / np.ceil(w / cap - 1e-9), k)
        u = np.where(up, np.minimum(1.0, k / w), u)
    ba = block_ack_time(timing)
    lone = 0.0 if timing.aggregates else DELIM  # a single MPDU carries no A-MPDU delimiter
    t_data = ppdu_time(k * seg.data_subframe - lone, rate, timing) + timing.sifs + ba
    if timing.txop_s > 0:
        per_access = np.maximum(1.0, np.floor(timing.txop_s / t_data))
    else:
        per_access = 1.0
    acks = np.ceil(k / seg.delayed_ack)
    overhead = np.asarray(overhead, float)
    u = np.asarray(u, float)
    t = t_data + overhead / per_access
    per_batch = np.ceil(acks / np.maximum(u, 1e-6))
    t_ack = ppdu_time(per_batch * seg.ack_subframe, rev, timing) + timing.sifs + ba
    reverse = np.where(u > 0, u * (t_ack + overhead), 0.0)
    if piggyback is not None:
        reverse = np.where(piggyback, acks * seg.ack_subframe * 8.0 / rev, reverse)
    if not timing.aggregates:  # a/g: every TCP ACK is an MPDU with its own access and Ack, one per b segments
        t_ack1 = ppdu_time(seg.ack_subframe - DELIM, rev, timing) + timing.sifs + ba
        reverse = (k / seg.delayed_ack) * (t_ack1 + overhead)
    t = t + reverse
    return t / (k * seg.mss * 8.0), k
