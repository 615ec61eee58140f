"""A fresh local stack per e2e test (they stop it with signals); tests/stack.py runs it."""

from __future__ import annotations

import pytest

from tests.stack import Stack


@pytest.fixture
def stack(tmp_path):
    running = Stack(tmp_path)
    yield running
    running.kill()
