"""``cli.COLLECTOR_OFF``: the process's own ``examday simulate`` runs without the cyclic collector; a call
with an argument list (tests, other callers in the same process) and other verbs leave it alone."""

import gc
import sys

import pytest

from simulator import cli


@pytest.fixture
def collector():
    was = gc.isenabled()
    gc.enable()
    yield
    gc.unfreeze()  # main() with the process's own command line freezes what is alive as it returns
    gc.enable() if was else gc.disable()


def test_own_command_line_simulate_runs_without_the_collector(collector, monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "argv", ["examday", "simulate", str(tmp_path / "missing.yaml"), "-q"])
    assert cli.main() == 2  # bad input: the verb ran (and failed cleanly) with the collector off
    assert not gc.isenabled()


def test_argument_list_and_other_verbs_keep_the_collector(collector, monkeypatch, tmp_path):
    assert cli.main(["simulate", str(tmp_path / "missing.yaml"), "-q"]) == 2
    assert gc.isenabled()
    monkeypatch.setattr(sys, "argv", ["examday", "validate", str(tmp_path / "missing.yaml")])
    assert cli.main() == 2
    assert gc.isenabled()
