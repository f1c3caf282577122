"""Shared fixtures: paths into the repository."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def scenarios() -> Path:
    return ROOT / "scenarios"
