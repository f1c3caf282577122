"""The model against the held-out ns-3 cases (``validation/tables/holdout``, README "Held-out cases").

These cases differ from the main grid in the ways an outside harness would plausibly try (other n, a third of
the room slow at another MCS, uploads at n = 15, 802.11n 2.4 GHz uploads, 802.11g at 54/24 Mbit/s ...) and
were simulated after the model was written, so they measure how it generalises. Same comparison and goal as
``test_ns3_reference`` (p50 and p95 within 15 %, goodput within 10 %, mean over the table's seeds, each seed
run with its own start offsets). Cases that miss the goal are listed in ``MISSES`` with their measured error
(and in validation/README.md), not given a wider tolerance; every held-out table must be in one of the two.
"""

import pytest

from .ns3_reference import HOLDOUT, model_figures, tables

GOAL = (0.15, 0.15, 0.10)  # p50, p95, goodput: relative error, as test_ns3_reference.GOAL
#: held-out cases that meet the goal (validation/compare.py --holdout, 2026-12-03)
MEETS = {
    "ho-ac80-mcs9-n25",
    "ho-ax40-mcs7-n15",
    "ho-ax80-spread3-n15",
    "ho-ax80-spread3-n25",
    "ho-ax80-third4-n15",
    "ho-ax80-third4-n25",
    "ho-ax80-third4up-n15",
    "ho-ax80-upload-n15",
    "ho-g-mixed24-n15",
    "ho-n20-2g4-third4-n15",
    "ho-n20-2g4-upload-n10",
}
#: held-out cases that miss it: the (p50, p95, goodput) error measured, not tested (README "Held-out cases")
MISSES: dict[str, tuple[float, float, float]] = {
    "ho-ax20-mcs5-n25": (0.353, 0.055, 0.288),
    "ho-ax80-updown-n15": (-0.016, -0.604, 0.270),
    "ho-ax80-upload-n25": (-0.205, -0.110, 0.093),
}
TABLES = tables(HOLDOUT)


def test_every_held_out_table_is_evaluated():
    cases = {t["case"] for t in TABLES}
    assert cases, "no held-out tables in validation/tables/holdout"
    assert all(t.get("holdout") for t in TABLES)
    assert cases == MEETS | set(MISSES), cases ^ (MEETS | set(MISSES))


@pytest.mark.parametrize("table", [t for t in TABLES if t["case"] in MEETS],
                         ids=[t["case"] for t in TABLES if t["case"] in MEETS])
def test_model_matches_held_out_ns3(table, tmp_path):
    want = table["summary"]
    got = model_figures(table, tmp_path)
    assert got.unfinished == 0
    errors = (got.p50_s / want["completion_p50_s"] - 1, got.p95_s / want["completion_p95_s"] - 1,
              got.goodput_mbps / want["aggregate_goodput_mbps"] - 1)
    shown = ", ".join(f"{n} {e:+.1%} (goal {t:.0%})" for n, e, t in zip(("p50", "p95", "goodput"), errors, GOAL))
    assert all(abs(e) <= t for e, t in zip(errors, GOAL)), f"{table['case']}: {shown}"
