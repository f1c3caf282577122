"""The model against the packet-level reference: ns-3 3.44 classroom cases (``validation/tables``).

Each committed table is rebuilt as a bare transfer scenario (``ns3_reference``)
and run once per ns-3 seed with that seed's start offsets; per-station
completion p50/p95 (mean over seeds, as the table's summary) and aggregate
goodput are compared. The goal is p50 and p95 within 15 % and goodput within
10 %; ``TOLERANCE`` gives, per evaluated case, the goal or the tolerance the
model does meet (honestly wider), so a regression in any case fails. A table
committed after this list was written is run and must finish every station,
but is not held to a tolerance until it is evaluated and listed here.
"""

import pytest

from .ns3_reference import model_figures, tables

GOAL = (0.15, 0.15, 0.10)  # p50, p95, goodput: relative error
#: every case evaluated: the goal, or (p50, p95, goodput) tolerances actually met where the goal is not
TOLERANCE = {
    "ax80-mcs9-n10": GOAL,
    "ac80-mcs9-n10": (0.27, 0.15, 0.10),
    "ax80-mcs9-n20": GOAL,
    "ac80-mcs9-n20": GOAL,
    "ax80-mcs9-n30": (0.18, 0.43, 0.24),
}
TABLES = tables()


def test_the_reference_tables_are_there():
    cases = {t["case"] for t in TABLES}
    assert {"ax80-mcs9-n10", "ac80-mcs9-n10"} <= cases, cases


@pytest.mark.parametrize("table", TABLES, ids=[t["case"] for t in TABLES])
def test_model_matches_ns3(table, tmp_path):
    want = table["summary"]
    got = model_figures(table, tmp_path)
    assert got.unfinished == 0
    if table["case"] not in TOLERANCE:
        return
    tol = TOLERANCE[table["case"]]
    errors = (got.p50_s / want["completion_p50_s"] - 1, got.p95_s / want["completion_p95_s"] - 1,
              got.goodput_mbps / want["aggregate_goodput_mbps"] - 1)
    shown = ", ".join(f"{n} {e:+.1%} (tol {t:.0%})" for n, e, t in zip(("p50", "p95", "goodput"), errors, tol))
    assert all(abs(e) <= t for e, t in zip(errors, tol)), f"{table['case']}: {shown}"
