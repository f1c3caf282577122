import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "analysis"))  # synth.py, shared with the analysis tests

import pytest  # noqa: E402

from modelruns import STARVED, model_run  # noqa: E402,F401  (model_run: for the tests)


@pytest.fixture(scope="session")
def starved_run(tmp_path_factory) -> Path:
    """One model run of the starved-school city (one gymnasium on 100 Mbit/s), shared by the tests."""
    from simulator.report import write_report

    run = model_run(tmp_path_factory.mktemp("starved") / "run", STARVED)
    write_report(run)
    return run
