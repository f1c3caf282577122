"""Issue 12's whole attacker and careless-client list, end to end against a stack
started as the README says (``examday stack --data DIR --port PORT``, plus
``--trust-metadata`` for two third-party IdPs): ``benchmarks/stack_abuse.py``
sends every case (huge bodies and headers, 3,000 idle and half-sent
connections, bad SCIM/SS 12000/JSON/form inputs, pending-request growth, the
XML and attribute forgeries, scope, assurance, login CSRF) and exits 1 unless
each is answered with its 4xx and reason and the stack's RSS stays within
100 MB of idle. About the default header timeout (10 s) plus a few seconds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "stack_abuse.py"


def test_every_case_of_the_issue_is_refused_with_bounded_memory():
    r = subprocess.run([sys.executable, str(SCRIPT), "--connections", "3000"], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    lines = r.stdout.splitlines()
    assert not [ln for ln in lines if ln.startswith("FAIL")]
    assert sum(ln.startswith("ok  ") for ln in lines) == 58  # every case ran
    assert "3000 of 3000 connections closed" in r.stdout
