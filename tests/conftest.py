"""Fixtures shared by every tier."""
from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest

# The tests stop sysmon with SIGINT, as a user's Ctrl-C does. Started in the background (`make test &`,
# nohup), pytest inherits SIGINT ignored, and so would every sysmon it starts: sysmon keeps an ignored
# SIGINT, as a background job should, and every such test would hang. A handler here is reset to the
# default in each child at exec (an ignored signal is not).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def utc_tz(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is UTC for the test (sysdig's outputs were made with TZ=UTC)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()
