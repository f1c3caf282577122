"""The engine's fast paths give bit-identical results to the general NumPy code they stand in for.

The expectation is the general path itself, run on the same inputs: ``waterfill`` (NumPy) against
``waterfill_py`` (plain Python, a classroom's few flows), over random demands, weights, costs, groups
and capacities that make zero, one or several groups bind, with ties and zero demands (paused flows).
"""

import gzip

import numpy as np
import pytest

from simulator.model import flows
from simulator.model.flows import NotPlain, waterfill, waterfill_py

from .helpers import city, run


def _case(rng, n, n_groups, ties, with_cost):
    demand = rng.choice([0.0, 1e6, 3e6, 2.5e7], n) if ties else rng.random(n) * 1e7
    demand = np.where(rng.random(n) < 0.15, 0.0, demand)  # paused flows
    weight = rng.choice([1.0, 2.0, 6.0], n)
    cost = rng.random(n) * 1e-7 + 1e-9 if with_cost else None
    group = rng.integers(0, n_groups, n)
    load = np.bincount(group, demand if cost is None else demand * cost, minlength=n_groups)
    capacity = load * rng.choice([0.3, 0.7, 1.0, 1.5], n_groups) + 1e-6  # some groups over, some not
    return demand, weight, cost, group, capacity


@pytest.mark.parametrize("seed", range(40))
def test_python_waterfill_is_bit_identical_to_numpy(seed):
    rng = np.random.default_rng(seed)
    checked = 0
    for _ in range(25):
        n = int(rng.integers(1, 25))
        case = _case(rng, n, int(rng.integers(1, 5)), bool(rng.integers(0, 2)), bool(rng.integers(0, 2)))
        demand, weight, cost, group, capacity = case
        want_rate, want_lim = waterfill(demand, weight, cost, group, capacity)
        try:
            rate, lim = waterfill_py(demand.tolist(), weight.tolist(), None if cost is None else cost.tolist(),
                                     group.tolist(), capacity)
        except NotPlain:
            continue
        mask = np.zeros(n, bool)
        mask[lim] = True
        assert np.array_equal(np.array(rate).view(np.uint64), want_rate.view(np.uint64))
        assert np.array_equal(mask, want_lim)
        checked += 1
    assert checked >= 20


def test_python_waterfill_defers_to_numpy_on_a_zero_weight():
    with pytest.raises(NotPlain):
        waterfill_py([5.0, 5.0], [0.0, 1.0], None, [0, 0], np.array([4.0]))


@pytest.mark.parametrize("seed", range(12))
def test_a_run_of_alike_levels_fills_as_its_levels_in_turn(seed):
    """Single-node levels in a row over the same flows (core, data centre, egress; one node per direction):
    one fill at each node's smallest capacity (``FluidNetwork._level_runs``) gives the rates and the
    limiting level of filling the levels one after the other, the definition of the bottom-up pass."""
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(300, 3000))
    demand = np.where(rng.random(n) < 0.2, 0.0, rng.choice([1e5, 2e6, 7e6], n) * rng.choice([1.0, 1.0, 1.3], n))
    weight = rng.choice([1.0, 2.0, 6.0], n) if seed % 2 else np.ones(n)
    group = (rng.random(n) < 0.1).astype(np.int64)  # most down (node 0), some up (node 1)
    down, up = demand[group == 0].sum(), demand[group == 1].sum()
    # down: the last level is the smallest; up: the first (the later ones find nothing over), then a tie
    caps = [np.array([0.8 * down, 0.5 * up]), np.array([0.5 * down, 0.9 * up]), np.array([0.3 * down, 0.5 * up])]
    want, want_level = demand, np.full(n, -1)
    for lv, cap in enumerate(caps, start=4):
        want, lim = waterfill(want, weight, None, group, cap)
        want_level[lim] = lv
    stack = np.stack(caps)
    got, lim = waterfill(demand, weight, None, group, stack.min(axis=0))
    level = np.full(n, -1)
    level[lim] = np.array([4, 5, 6])[stack.argmin(axis=0)][group[lim]]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0.0)
    assert np.array_equal(level, want_level)
    assert set(want_level[group == 0].tolist()) >= {6} and set(want_level[group == 1].tolist()) >= {4}


def test_a_run_is_bit_identical_without_the_python_fast_paths(tmp_path, monkeypatch):
    """Two small schools (a few flows per recompute, per-site clocks): the trace with the plain-Python
    paths (``flows.SMALL``) equals the one with NumPy everywhere, byte for byte."""
    path = city(tmp_path, sites=2, rooms=2, chromebooks=10, ipads=2)
    run(path, tmp_path / "x")
    monkeypatch.setattr(flows, "SMALL", 0)
    run(path, tmp_path / "y")
    for name in ("steps.csv.gz", "resources.csv.gz"):
        a = gzip.decompress((tmp_path / "x" / name).read_bytes()).replace(b"x,model,", b"r,model,")
        b = gzip.decompress((tmp_path / "y" / name).read_bytes()).replace(b"y,model,", b"r,model,")
        assert a == b
