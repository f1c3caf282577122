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
