"""``capture synth`` -> ``capture analyse``: a model run's steps come back from the packets.

The analysis reads only the packets (DHCP message types and xids, TCP/HTTP
request lines and form fields, per-packet comments for the wake time); the
expectation is the model's own trace, which the synth step does not consult
again. Also checked against Wireshark's dissector: tshark counts the DHCP
message types the run implies.
"""

from __future__ import annotations

import collections
import subprocess

import numpy as np

from simulator.trace import read_steps

from conftest import REPO, examday, examday_here

STEPS = ("join", "login", "assertion", "open", "download", "autosave", "submit")


def spans(table):
    d = collections.defaultdict(list)
    for r in table.records():
        if r.ok and r.step in STEPS:
            d[(r.device, r.step)].append((r.start_s, r.end_s))
    return {k: sorted(v) for k, v in d.items()}


def test_model_run_synth_then_analyse_gives_the_same_step_timings(tmp_path):
    model = tmp_path / "model"
    examday_here("simulate", REPO / "scenarios" / "ci-smoke.yaml", "-o", model, "-q", "--until", "1min")
    pcap = tmp_path / "model.pcapng"
    examday_here("capture", "synth", model, "-o", pcap, "-q", check=0)
    out = tmp_path / "analysed"
    examday_here("capture", "analyse", pcap, "-o", out, "-q", check=0)
    want, got = spans(read_steps(model)), spans(read_steps(out))
    assert got.keys() == want.keys() and all(len(got[k]) == len(want[k]) for k in want)
    flat = lambda d: np.array([x for k in sorted(d) for span in d[k] for x in span])  # noqa: E731
    assert np.allclose(flat(got), flat(want), rtol=0, atol=2e-6)  # pcapng timestamps tick in µs
    joins = sum(len(v) for (d, s), v in want.items() if s == "join")
    # Wireshark's own DHCP dissector sees one DISCOVER, OFFER, REQUEST and ACK per join
    r = subprocess.run(["tshark", "-r", str(pcap), "-Y", "dhcp", "-T", "fields", "-e", "dhcp.option.dhcp"],
                       capture_output=True, text=True, check=True)
    assert collections.Counter(r.stdout.split()) == {"1": joins, "2": joins, "3": joins, "5": joins}
    # every packet carries a comment naming device and step
    r = subprocess.run(["tshark", "-r", str(pcap), "-T", "fields", "-e", "frame.comment"], capture_output=True,
                       text=True, check=True)
    assert all(line.startswith("device=") and " step=" in line for line in r.stdout.splitlines())
