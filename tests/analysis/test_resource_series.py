"""``bottleneck.resource_series``: samples grouped per resource, with numpy's own median of the sample intervals."""

import numpy as np

from simulator.analysis.bottleneck import resource_series
from simulator.trace import ResourceTable


def _table(rng: np.random.Generator, sizes: list[int]) -> ResourceTable:
    names, times = [], []
    for i, n in enumerate(sizes):
        names += [f"ap:s/r{i}"] * n
        times += list(np.round(np.cumsum(rng.choice([1.0, 2.0, 2.5, 5.0], n)), 3))
    order = rng.permutation(len(names))  # shuffled, as shards interleave
    names_a = np.array(names, dtype=object)[order]
    t = np.array(times)[order]
    return ResourceTable(t, names_a, np.full(len(t), "ap", dtype=object), rng.random(len(t)), rng.random(len(t)))


def test_groups_and_median_step_match_numpy():
    rng = np.random.default_rng(7)
    sizes = [1, 2, 3, 4, 7, 8, 50, 1, 2]  # single samples, odd and even interval counts
    r = _table(rng, sizes)
    s = resource_series(r)
    assert len(s.names) == len(sizes)
    for g, name in enumerate(s.names):
        a, b = s.bounds[g], s.bounds[g + 1]
        mine = np.sort(r.t_s[r.resource == name])
        np.testing.assert_array_equal(s.t[a:b], mine)
        expected = float(np.median(np.diff(mine))) if len(mine) > 1 else 1.0
        assert s.step[g] == expected  # bit for bit: the report's figures must not move


def test_nan_time_gives_nan_step_as_numpy_does():
    r = ResourceTable(np.array([0.0, 1.0, np.nan, 0.0, 2.0]), np.array(["a", "a", "a", "b", "b"], dtype=object),
                      np.array(["ap"] * 5, dtype=object), np.zeros(5), np.zeros(5))
    s = resource_series(r)
    steps = dict(zip(s.names.tolist(), s.step.tolist()))
    assert np.isnan(steps["a"]) and np.isnan(np.median(np.diff([0.0, 1.0, np.nan])))
    assert steps["b"] == 2.0


def _same_bits(a, b) -> bool:
    return [float(x).hex() for x in a] == [float(x).hex() for x in b]


def test_resources_sampled_alike_give_the_per_resource_loops_numbers_to_the_bit():
    """Every resource sampled as often (the model's case): the statistics as one 2-D reduction and the
    attribution's utilisation integrals as one 2-D cumulative sum, equal bit for bit to one resource at a
    time (sums of 129+ samples: numpy's pairwise blocks; saturated samples in some groups only)."""
    from simulator.analysis import bottleneck
    from simulator.analysis.attribution import _Integrals

    rng = np.random.default_rng(11)
    for size in (1, 3, 64, 300):
        r = _table(rng, [size] * 9)
        r.utilisation[rng.random(len(r.utilisation)) < 0.3] = 0.97  # saturated samples, some groups
        s = resource_series(r)
        assert bottleneck.equal_rows(s.bounds, len(s.t)) == size
        dt = np.empty(len(s.t))
        dt[:-1] = np.diff(s.t)
        dt[s.bounds[1:] - 1] = s.step
        fast = bottleneck._per_resource(s, dt, s.queue * dt)
        slow = bottleneck._per_resource(s, dt, s.queue * dt, rows=False)
        assert fast[0] == slow[0]
        assert all(_same_bits(f, g) for f, g in zip(fast[1:], slow[1:]))
        integ = _Integrals(r)
        for g, name in enumerate(s.names.tolist()):  # the formula of _Integrals' per-resource loop
            a, b = s.bounds[g], s.bounds[g + 1]
            edges = np.r_[s.t[a] - s.step[g], s.t[a:b]]
            assert _same_bits(integ.t[name], edges)
            assert _same_bits(integ.c[name], np.r_[0.0, np.cumsum(s.util[a:b] * np.diff(edges))])
    uneven = resource_series(_table(rng, [3, 4]))
    assert bottleneck.equal_rows(uneven.bounds, len(uneven.t)) == 0
