"""The plain-Python small-array paths of ``mac`` give NumPy's results bit for bit (``flow_cost``, ``lookup``)."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.model import mac
from simulator.model.mac import ContentionTable, MacTiming, Segments, flow_cost

TIMINGS = [MacTiming("ax", 2, 0.8e-6), MacTiming("ac", 1, 0.4e-6, txop_s=2.5e-3),
           MacTiming("g", 1, 0.8e-6, band="2.4 GHz", max_mpdus=1), MacTiming("n", 2, 0.8e-6, band="2.4 GHz")]


def _numpy(monkeypatch, fn):
    with monkeypatch.context() as m:
        m.setattr(mac, "SMALL", -1)  # no size qualifies: NumPy's path
        return fn()


def _same(a, b) -> bool:
    return all(np.array_equal(x, y) and x.dtype == y.dtype and x.shape == y.shape for x, y in zip(a, b))


@pytest.mark.parametrize("tm", TIMINGS, ids=lambda t: f"{t.standard}-txop{t.txop_s:g}")
def test_flow_cost_plain_path_is_numpy_bit_for_bit(monkeypatch, tm):
    rs = np.random.default_rng(5)
    seg = Segments()
    for trial in range(600):
        n = int(rs.integers(1, mac.SMALL + 1))
        rate = float(rs.choice([6e6, 54e6, 286.8e6, 1200.9e6]))
        ws = [rs.uniform(0.2, 200, n), np.full(n, 1e9), rs.integers(1, 90, n).astype(float)][trial % 3]
        over = rs.uniform(0, 3e-4, n) if trial % 2 else float(rs.uniform(0, 3e-4))
        u = rs.uniform(0, 1.2, n)
        u[rs.random(n) < 0.2] = 0.0
        kw = dict(up=rs.random(n) < 0.3 if trial % 5 else None,
                  piggyback=rs.random(n) < 0.3 if trial % 7 == 0 else None,
                  repeat=(np.clip(1 - u, 0, 1) if trial % 3 else rs.choice([0.0, 0.5, 1.0], n)) if trial % 4 else None,
                  window=rs.uniform(1, 300, n) if trial % 6 == 0 else None)
        plain = flow_cost(rate, ws, tm, seg, over, u, **kw)
        assert _same(plain, _numpy(monkeypatch, lambda: flow_cost(rate, ws, tm, seg, over, u, **kw))), trial


@pytest.mark.filterwarnings("ignore:invalid value")  # inf · 0 in NumPy's window_ampdu
def test_flow_cost_falls_back_on_non_finite_windows(monkeypatch):
    tm, seg = TIMINGS[0], Segments()
    args = (300e6, np.array([np.inf, 10.0]), tm, seg, 1e-4, np.array([0.5, 0.5]))
    plain = flow_cost(*args, repeat=np.array([0.5, 0.5]))  # ceil(inf): the plain path hands over to NumPy
    ref = _numpy(monkeypatch, lambda: flow_cost(*args, repeat=np.array([0.5, 0.5])))
    assert all(np.array_equal(x, y, equal_nan=True) for x, y in zip(plain, ref))


@pytest.mark.parametrize("tm", TIMINGS[::2], ids=lambda t: t.standard)
def test_lookup_plain_path_is_numpy_bit_for_bit(monkeypatch, tm):
    rs = np.random.default_rng(3)
    a, b = ContentionTable(tm, 2e-4, t_ack=5e-5), ContentionTable(tm, 2e-4, t_ack=5e-5)
    for t in range(400):
        n = int(rs.integers(1, mac.SMALL + 1))
        m, up = rs.integers(0, 40, n), rs.integers(0, 5, n)
        up[m + up == 0] = 1
        if t % 50 == 0:
            m[0] = 200  # above the table's cap
        t1 = rs.uniform(1e-5, 6e-3, n) if t % 3 else None
        t2 = rs.uniform(1e-5, 6e-3, n) if t % 2 and t1 is not None else None
        assert _same(a.lookup(m, up, t1, t2), _numpy(monkeypatch, lambda: b.lookup(m, up, t1, t2))), t
