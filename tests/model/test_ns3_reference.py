"""The model against the packet-level reference: ns-3 3.44 classroom cases (``validation/tables``).

Each committed table is rebuilt as a bare transfer scenario (``ns3_reference``)
and run once per ns-3 seed with that seed's start offsets; per-station
completion p50/p95 (mean over seeds, as the table's summary) and aggregate
goodput are compared. The goal is p50 and p95 within 15 % and goodput within
10 %; ``TOLERANCE`` gives, per case, the goal or the tolerance the model
does meet (honestly wider), so a regression in any case fails. Every
committed table must be listed (a new table fails until it is evaluated).
``python validation/compare.py`` prints the same comparison.
"""

import pytest

from .ns3_reference import model_figures, tables

GOAL = (0.15, 0.15, 0.10)  # p50, p95, goodput: relative error
#: every committed case: the goal where the model meets it, else the (p50, p95, goodput) tolerance it does meet
#: (measured error + 3 points, rounded up); why each miss happens is in docs/model.md ("Against ns-3")
TOLERANCE = {
    "ac80-mcs9-n10": GOAL,
    "ac80-mcs9-n20": GOAL,
    "ac80-mcs9-n30": GOAL,
    "ax80-mcs9-n10": GOAL,
    "ax80-mcs9-n20": GOAL,
    "ax80-mcs9-n30": (0.19, 0.15, 0.15),  # 10 seeds (2026-12-03): -15.2 / +0.6 / +11.4 %
    "ax80-mixed-n10": GOAL,
    "ax80-mixed-n20": (0.38, 0.15, 0.10),
    "ax80-mixed-n30": GOAL,  # 10 seeds (2026-12-03): +7.0 / +3.4 / +0.5 %; 3 seeds: goodput +11.7 %
    "ax80-mixedup-n10": GOAL,
    "ax80-mixedup-n20": (0.20, 0.15, 0.10),
    "ax80-spread10-n10": GOAL,
    "ax80-spread10-n20": GOAL,
    "ax80-spread10-n30": GOAL,
    "ax80-updown-n10": GOAL,
    "ax80-updown-n20": GOAL,
    "ax80-updown-n30": (0.20, 0.15, 0.10),
    "ax80-upload-n10": GOAL,
    "ax80-upload-n20": GOAL,
    "ax80-upload-n30": GOAL,
    "n20-2g4-mcs7-n10": GOAL,
    "n20-2g4-mcs7-n20": GOAL,
    "n20-2g4-mcs7-n30": GOAL,
    "n20-2g4-mixed-n10": GOAL,
    "n20-2g4-mixed-n20": GOAL,
    "g-54-n10": GOAL,
    "g-54-n20": GOAL,
    "g-54-n30": GOAL,
    "g-mixed-n10": GOAL,
    "g-mixed-n20": GOAL,
    "g-upload-n10": GOAL,
    "g-upload-n20": GOAL,
    "g-updown-n10": GOAL,
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
    assert table["case"] in TOLERANCE, f"{table['case']}: a new ns-3 table, evaluate it and add its tolerance"
    tol = TOLERANCE[table["case"]]
    errors = (got.p50_s / want["completion_p50_s"] - 1, got.p95_s / want["completion_p95_s"] - 1,
              got.goodput_mbps / want["aggregate_goodput_mbps"] - 1)
    shown = ", ".join(f"{n} {e:+.1%} (tol {t:.0%})" for n, e, t in zip(("p50", "p95", "goodput"), errors, tol))
    assert all(abs(e) <= t for e, t in zip(errors, tol)), f"{table['case']}: {shown}"


#: (case, per-seed tolerance) for the lost-handshake count: 802.11g rooms (no aggregation) and 5 GHz
#: aggregating rooms at the SYN-loss boundary
HANDSHAKE_CASES = [("g-54-n20", 1), ("g-54-n30", 1), ("g-mixed-n20", 1), ("ax80-mcs9-n20", 2),
                   ("ac80-mcs9-n30", 2), ("ax80-mixed-n20", 2)]


@pytest.mark.parametrize("case,tol", HANDSHAKE_CASES, ids=[c for c, _ in HANDSHAKE_CASES])
def test_lost_handshakes_track_ns3(case, tol, tmp_path, monkeypatch):
    # per seed, the model's lost SYNs against ns-3's late handshakes (first byte >= ConnTimeout after the
    # start): ns-3's g rooms lose none (one in 24 seeds), its 5 GHz rooms from n = 20 on one per late flow
    from simulator.model import engine

    from .ns3_reference import seed_run

    lost = [0]
    syn_lost = engine.Simulation.syn_lost

    def counting(self, room):
        r = syn_lost(self, room)
        lost[0] += r
        return r

    monkeypatch.setattr(engine.Simulation, "syn_lost", counting)
    table = next(t for t in TABLES if t["case"] == case)
    for row in table["per_seed"]:
        lost[0] = 0
        seed_run(table, row, tmp_path)
        assert abs(lost[0] - row["late_handshakes"]) <= tol, (row["seed"], lost[0], row["late_handshakes"])


@pytest.mark.parametrize("case", ["ax80-mixedup-n10", "n20-2g4-mixed-n10"])
def test_model_devices_map_to_ns3_stations(case, tmp_path):
    # each model device is named after its ns-3 station (compare.py --per-station): every station's model end
    # less that station's start offset in the table is one of the model's own completions (end − its trace start)
    from .ns3_reference import seed_run

    table = next(t for t in TABLES if t["case"] == case)
    row = table["per_seed"][0]
    run = seed_run(table, row, tmp_path)
    n = table["config"]["stations"]
    assert sorted(run.ends_s) == list(range(n))
    by_index = sorted(round(run.ends_s[i] - row["start_offset_s"][i], 9) for i in range(n))
    assert by_index == sorted(round(c, 9) for c in run.completions_s)
