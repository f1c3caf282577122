"""Fixtures for the reference stack tests (helpers in stack_helpers.py)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from simulator.stack.app import build_app
from simulator.stack.config import StackConfig
from stack_helpers import BASE, make_config, provision


@pytest.fixture
def config(tmp_path) -> StackConfig:
    return make_config(tmp_path)


@pytest.fixture
def app(config):
    return build_app(config)


@pytest.fixture
def client(app) -> TestClient:
    with TestClient(app, base_url=BASE) as c:
        provision(c)
        yield c
