"""The ``need_root`` fixture: storm tests need root (CAP_NET_ADMIN) and say so when they cannot run."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # packets_helpers

from packets_helpers import skip_without_root  # noqa: E402


@pytest.fixture
def need_root():
    skip_without_root()
