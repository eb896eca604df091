"""Fixtures shared by every tier."""
from __future__ import annotations

import time
from collections.abc import Iterator

import pytest


@pytest.fixture
def utc_tz(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is UTC for the test (sysdig's outputs were made with TZ=UTC)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()
