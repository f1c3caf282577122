"""Multi-server stations: Erlang C mean wait within a confidence interval; connection limit; PS."""

import math

import numpy as np
import pytest

from simulator.model.services import REFUSED, ServiceTimes, Station, erlang_c, erlang_c_wait


def test_erlang_c_known_value():
    # c = 2, a = 1: C = (a^c/c!)(c/(c-a)) / (sum_{k<c} a^k/k! + that) = 1 / (2 + 1) = 1/3
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert erlang_c_wait(1, 0.5, 1.0) == pytest.approx(1.0)  # M/M/1: rho/(mu - lam)


def test_fifo_station_reproduces_erlang_c_within_ci():
    c, lam, mu = 4, 3.2, 1.0  # rho = 0.8
    rng = np.random.default_rng(2026)
    n, warm, batches = 400_000, 20_000, 40
    arrivals = np.cumsum(rng.exponential(1 / lam, n))
    st = Station("service:test", c, "fifo", 10**9, ServiceTimes(rng, cv=1.0))  # gamma cv=1: exponential
    waits = np.empty(n)
    for i, t in enumerate(arrivals.tolist()):
        start, _ = st.offer(t, st.times.draw(1 / mu))
        waits[i] = start - t
    w = waits[warm:]
    means = w[: len(w) // batches * batches].reshape(batches, -1).mean(axis=1)  # batch means
    centre, se = means.mean(), means.std(ddof=1) / math.sqrt(batches)
    half = 2.708 * se  # t(0.995, 39): a 99 % interval
    want = erlang_c_wait(c, lam, mu)
    assert abs(centre - want) <= half, (centre, half, want)
    assert half < 0.1 * want  # the interval is tight enough to mean something


def test_connection_limit_refuses():
    st = Station("service:x", 1, "fifo", 2, ServiceTimes(np.random.default_rng(1), 0.0))
    assert st.offer(0.0, 10.0)[0] == 0.0
    assert st.offer(0.1, 10.0)[0] == 10.0
    assert st.offer(0.2, 10.0)[0] == REFUSED
    assert st.refused == 1
    assert st.offer(10.5, 1.0)[0] == 20.0  # the first left: room again


def test_processor_sharing_slows_everyone_equally():
    st = Station("service:ps", 1, "ps", 100, ServiceTimes(np.random.default_rng(1), 0.0))
    st.ps_offer(0.0, 1.0, "a")
    st.ps_offer(0.0, 1.0, "b")
    assert st.next_completion() == pytest.approx(2.0)
    done = st.pop_done(2.0)
    assert sorted(tok.token for tok, _ in done) == ["a", "b"]
    assert all(end == pytest.approx(2.0) for _, end in done)


def test_sampling_utilisation_and_queue():
    st = Station("service:x", 2, "fifo", 100, ServiceTimes(np.random.default_rng(1), 0.0))
    for t in (0.0, 0.0, 0.0):
        st.offer(t, 1.0)
    util, queue = st.sample(np.array([0.0, 1.0, 2.0, 3.0]))
    assert util.tolist() == pytest.approx([1.0, 0.5, 0.0])
    assert queue[0] == 0  # at t=1 the third job has just started
