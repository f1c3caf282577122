"""The plain-Python small-array paths of ``tcp`` (``_demand``, ``_schedule_tcp``) give NumPy's results bit for bit:
ns-3 classrooms (FIFO delays, uploads, drop episodes, fq_codel and drop tail) simulated both ways compute the same
demands, queueing delays and next events at every recompute, to the last bit, and write the same steps."""

from __future__ import annotations

import gzip

import pytest

from simulator.model import tcp
from simulator.model.engine import simulate
from simulator.plan import load_plan

from .ns3_reference import scenario_for, tables

CASES = ["ax80-mcs9-n20", "ax80-updown-n10", "ax80-mixedup-n10", "g-updown-n10"]


def _run(path, out, monkeypatch) -> tuple[bytes, list[bytes]]:
    """The steps written and, per recompute, the bytes of every demand, qdelay and next_ev computed."""
    seen: list[bytes] = []
    demand, schedule = tcp.TcpState._demand, tcp.TcpState._schedule_tcp

    def _demand(self, idx):
        d = demand(self, idx)
        seen.extend((d.tobytes(), self.qdelay[idx].tobytes()))
        return d

    def _schedule_tcp(self, idx):
        schedule(self, idx)
        seen.append(self.next_ev.tobytes())

    with monkeypatch.context() as m:
        m.setattr(tcp.TcpState, "_demand", _demand)
        m.setattr(tcp.TcpState, "_schedule_tcp", _schedule_tcp)
        simulate(load_plan(str(path)), out)
    return gzip.decompress((out / "steps.csv.gz").read_bytes()), seen


@pytest.mark.parametrize("case", CASES)
def test_plain_tcp_paths_compute_numpys_values(tmp_path, monkeypatch, case):
    table = {t["case"]: t for t in tables()}[case]  # committed tables: a missing one fails
    path = scenario_for(table, table["per_seed"][0], tmp_path)
    steps, seen = _run(path, tmp_path / "plain" / "run", monkeypatch)  # one run name: it is in the steps
    monkeypatch.setattr(tcp, "SMALL", -1)  # no site qualifies: NumPy's path
    steps_np, seen_np = _run(path, tmp_path / "numpy" / "run", monkeypatch)
    assert len(seen) == len(seen_np) > 100
    assert seen == seen_np
    assert steps == steps_np
