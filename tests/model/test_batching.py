"""Per-site recompute batching: a small school's flows do not wait on the city's flow count.

The fluid network batches recomputes in a window of 2e-4 s per flow. Over the
whole city (the old behaviour) a flow arriving at a school with one download
waits for a window sized by every flow in the city; per site it waits for a
window sized by its own site's flows. Expected completion times are computed
here (S·8/C after the arrival), not taken from the model.
"""

import numpy as np
import pytest

from simulator.model.flows import FluidNetwork

from .helpers import city, run

GAP = 2e-4


def _two_sites(n_busy: int) -> FluidNetwork:
    # levels: radio (2 rooms), port, switch, uplink (one per site), core: the tree of the model (down only)
    caps = [np.ones(2), np.full(2, 1e9), np.full(2, 1e9), np.full(2, 100e6), np.array([100e9])]
    offs = list(np.cumsum([0] + [len(c) for c in caps[:-1]]))
    net = FluidNetwork(caps, offs, sum(len(c) for c in caps), 1.0, 100, gap_per_flow=GAP, max_gap=2.0,
                       n_sites=2, site_level=2)
    net.ap_cost[:] = 1e-12
    for k in range(n_busy):  # the big school: long downloads on its own uplink
        net.add((1, 1, 1, 1, 0), 1e12, 1.0, f"busy{k}")
    net.update(0.0, sites=[1])
    return net


def _lone_completion(net: FluidNetwork, per_site: bool, t_arrive: float, bits: float) -> float:
    """Drive the network as the engine does: one flow arrives at the small school at t_arrive."""
    net.update(t_arrive - 0.01, sites=[1] if per_site else None)
    net.add((0, 0, 0, 0, 0), bits, 1.0, "lone")
    t = max(t_arrive, net.next_time(0) if per_site else net.next_time())
    while True:
        done = net.update(t, sites=[0] if per_site else None)
        for c in done:
            if c.token == "lone":
                return c.end_s - t_arrive
        t = net.next_time(0) if per_site else net.next_time()


@pytest.mark.parametrize("n_busy", [10, 1000])
def test_small_school_flow_is_not_delayed_by_the_city(n_busy):
    bits, cap = 8e6, 100e6  # 1 MB over the small school's 100 Mbit/s uplink
    want = bits / cap
    per_site = _lone_completion(_two_sites(n_busy), True, 1.0, bits)
    assert per_site == pytest.approx(want, abs=2 * GAP)  # its own window: one flow × 2e-4 s
    whole = _lone_completion(_two_sites(n_busy), False, 1.0, bits)
    assert whole >= want + 0.9 * GAP * (n_busy - 1) - 0.011  # city-wide window: every flow's 2e-4 s


def test_a_school_alone_and_inside_a_city_has_the_same_downloads(tmp_path):
    """End to end: one school alone and as the first of 8 schools (same arrivals, services sized not to queue).

    Only the shared random streams (service times, drop draws) differ, so the
    school's median download agrees within 2 % and its mean within 15 %.
    """
    kw = dict(rooms=1, test="swedish-reading-6", median="20 s", p95="60 s", core="100 Gbit/s")
    over = ["services.idp.workers=200", "services.content.workers=200"]
    _, _, alone = run(city(tmp_path, sites=1, name="alone", **kw), tmp_path / "a", over)
    _, _, inside = run(city(tmp_path, sites=8, name="inside", **kw), tmp_path / "c", over)

    def school(steps):
        m = (steps.site == "s01") & (steps.step == "download") & steps.ok & (steps.kind != "teacher")
        return steps.duration_s[m]
    a, c = school(alone), school(inside)
    assert len(a) == len(c) == 28
    assert np.median(c) == pytest.approx(np.median(a), rel=0.02)
    assert np.mean(c) == pytest.approx(np.mean(a), rel=0.15)
